// Registers tfjs-core's gradient definitions (tf.grad and autodiff need them; tfjs-core's index
// does not register them). They ship only as ES modules whose imports have no file extensions,
// which bare Node cannot resolve, so the build replaces this module's output,
// dist/tfjs/gradients.js, with an esbuild bundle of it (scripts/bundle-gradients.mjs): plain Node
// then loads it like any module. The bundle carries its own copy of the tfjs-core modules the
// gradients use; tfjs-core keeps its engine and its kernel and gradient registries on the global
// object, so that copy registers into, and runs on, the same engine as '@tensorflow/tfjs-core'
// (as @tensorflow/tfjs's own Node bundle does).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
