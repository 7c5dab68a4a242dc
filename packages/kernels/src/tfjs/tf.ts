// tfjs-core as this package uses it: the core plus its gradient definitions, which the package's
// index does not register. Note: tfjs-core's gradients ship only as ES modules with extensionless
// imports, so code importing this runs under a bundler (esbuild) or vitest, not bare `node`.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';

export * as tf from '@tensorflow/tfjs-core';
