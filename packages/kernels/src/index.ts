// @w2s/kernels: the typed API over the native kernels, their tfjs-core references, and tfjs ops
// that run the native kernels inside tfjs models.
export { attentionBackward, attentionForward } from './attention.js';
export type {
  AttentionGradients,
  AttentionOptions,
  AttentionOutput,
  DeviceAttentionGradients,
  DeviceAttentionOutput,
} from './attention.js';
export { cudaAvailable, isDeviceTensor, toDevice, toHost } from './device.js';
export type { DeviceTensor } from './device.js';
export { logconfLoss, productLoss, xentLoss } from './losses.js';
export type { DeviceLossResult, LossResult } from './losses.js';
export {
  attentionWorkspaceBytes,
  backendInfo,
  copyFloat32,
  describeBackend,
  numThreads,
  setNumThreads,
  sgemm,
} from './backend.js';
export type { BackendInfo } from './backend.js';
export { contiguousStrides, splitFusedQkv } from './tensor.js';
export type { Tensor } from './tensor.js';
export {
  attentionReference,
  logconfLossReference,
  hardenBinary,
  productLossReference,
  xentLossReference,
} from './tfjs/reference.js';
export type { ReferenceAttentionOptions } from './tfjs/reference.js';
export { attentionOp, logconfLossOp, productLossOp, registerNativeKernels, xentLossOp } from './tfjs/ops.js';
export type { AttentionOpOptions } from './tfjs/ops.js';
export { tf } from './tfjs/tf.js';
