// tfjs-core as this package uses it: the core plus its gradient definitions, which the package's
// index does not register. The core is imported first: its index installs the op handler that
// Tensor methods such as clone() use, and the gradient modules must not be the first to load it.
// Both load in plain Node (gradients.ts says how).
import * as tfCore from '@tensorflow/tfjs-core';
import './gradients.js';

export { tfCore as tf };
