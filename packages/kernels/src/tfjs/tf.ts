// tfjs-core as this package uses it: the core plus its gradient definitions, which the package's
// index does not register. The core is imported first: its index installs the op handler that
// Tensor methods such as clone() use, and the gradient modules must not be the first to load it.
// Note: tfjs-core's gradients ship only as ES modules with extensionless imports, so code importing
// this runs under a bundler (esbuild) or vitest, not bare `node`.
import * as tfCore from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';

export { tfCore as tf };
