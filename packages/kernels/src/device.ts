// Device (GPU) tensors: float32 views of CUDA memory, so that data can stay on the GPU between
// kernel calls. toDevice copies a host tensor up (only the span a strided view touches), toHost
// copies it back; every kernel accepts DeviceTensors in place of host tensors (all of a call's
// tensors on the same device) and then returns DeviceTensors. Free device memory with dispose() as
// soon as a tensor is no longer needed: the finalizer that frees it at garbage collection is a
// safety net, and the collector does not know how full the GPU is. An allocation is shared by its
// views (view(), splitFusedQkv) and freed with the last of them.
// Without a usable GPU (no CUDA build, no driver, no device) toDevice throws an Error that says why,
// as backendInfo().cudaReason does.
import type { DeviceTensor as NativeDeviceTensor } from '@w2s/native';
import { native } from './native.js';
import type { Tensor } from './tensor.js';

export type DeviceTensor = NativeDeviceTensor;

/** Copies a host tensor (or a whole Float32Array, as shape [length]) to the GPU. */
export function toDevice(tensor: Tensor | Float32Array): DeviceTensor {
  return native.toDevice(tensor);
}

/** Copies a device tensor back: {data, shape} (plus strides and offset 0 for a strided view). */
export function toHost(tensor: DeviceTensor): Tensor {
  return native.toHost(tensor);
}

export function isDeviceTensor(value: unknown): value is DeviceTensor {
  return value instanceof native.DeviceTensor;
}

/** Whether a CUDA device can be used; when not, backendInfo().cudaReason says why. */
export function cudaAvailable(): boolean {
  return native.backendInfo().cudaAvailable;
}
