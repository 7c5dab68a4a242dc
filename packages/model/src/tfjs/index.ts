// The tfjs twin of the transformer (twin.ts), its AdamW (adamw.ts) and seeded default weights (init.ts).
export { lmLoss, trainableSpecs, twinForward, twinLossAndGradients, validateBatch, weightsToTensors } from './twin.js';
export type { Batch, TwinOptions, TwinResult } from './twin.js';
export { TwinAdamW } from './adamw.js';
export type { AdamWOptions, Moments } from './adamw.js';
export { initWeights } from './init.js';
