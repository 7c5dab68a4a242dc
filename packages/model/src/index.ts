export * from './config.js';
export type { Batch } from './batch.js';
export { NativeModel, computeDevice, computeDeviceProblem, setComputeDevice } from './engine.js';
export type { ClassifierLoss, ComputeDevice, EngineProfile, EngineProfileEntry, Minibatch, NativeModelOptions, OptimizerOptions, OptimizerState, StepResult } from './engine.js';
export {
  activationBytes,
  assertTrainingFits,
  availableMemory,
  checkTrainingMemory,
  estimateTrainingMemory,
  formatBytes,
  InsufficientMemoryError,
  paddedParameterCount,
  THREAD_ALLOWANCE_BYTES,
} from './memory.js';
export type { AvailableMemory, MemoryCheckOptions, MemoryCheckResult, MemoryEstimate, MemoryPart, TrainingShape } from './memory.js';
export { argmax, generate, sampleIndex } from './generate.js';
export type { GenerateOptions, NextTokenModel } from './generate.js';
export { mulberry32, normalSource } from '@w2s/random'; // re-exported: the seeded generator lives in @w2s/random
export * from './checkpoints/index.js';
export * from './tokenizers/index.js';
export * from './tfjs/index.js';
