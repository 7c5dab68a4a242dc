// The weak-to-strong losses (native: CPU, or CUDA for DeviceTensors) on logits z [N, C] and soft
// targets y [N, C], row-major Float32Arrays (or contiguous DeviceTensors of N*C elements, in which
// case dLogits is a DeviceTensor [N, C]: only the loss value comes back to the host). Each returns the mean loss over the N rows and dLogits = d(mean loss)/d logits,
// computed together in one call. A NaN or Infinity in an input, or a targets row that is not a
// distribution (entries in [0, 1] summing to 1 within 1e-3), throws a RangeError naming it.
// `dLogits` in the options is an optional output buffer (N*C floats, not overlapping the inputs)
// that a training loop reuses instead of allocating a new gradient each step.
import { isDeviceTensor, type DeviceTensor } from './device.js';
import { native } from './native.js';

export interface LossResult {
  loss: number;
  dLogits: Float32Array;
}

export interface DeviceLossResult {
  loss: number;
  dLogits: DeviceTensor;
}

/** Soft-label cross-entropy: mean_i -sum_c y_ic log softmax(z_i)_c. */
export function xentLoss(
  logits: Float32Array,
  targets: Float32Array,
  numClasses: number,
  opts?: { dLogits?: Float32Array },
): LossResult;
export function xentLoss(
  logits: DeviceTensor,
  targets: DeviceTensor,
  numClasses: number,
  opts?: { dLogits?: DeviceTensor },
): DeviceLossResult;
export function xentLoss(
  logits: Float32Array | DeviceTensor,
  targets: Float32Array | DeviceTensor,
  numClasses: number,
  opts: { dLogits?: Float32Array | DeviceTensor } = {},
): LossResult | DeviceLossResult {
  if (isDeviceTensor(logits))
    return native.xentLoss(logits, targets as DeviceTensor, numClasses, opts as { dLogits?: DeviceTensor });
  return native.xentLoss(logits, targets as Float32Array, numClasses, opts as { dLogits?: Float32Array });
}

/**
 * The auxiliary confidence loss of Burns et al. (2023): CE(z, (1 - alpha) y + alpha yhat) with yhat
 * the student's hardened predictions (no gradient through them). Binary (C = 2): p0 = softmax(z)[:, 0],
 * t = quantile(p0, mean(y[:, 1])) with linear interpolation (torch.quantile), yhat = class 0 where
 * p0 >= t, else class 1, so the hardened positive rate matches the weak labels'. C > 2: yhat is the
 * one-hot argmax of z (first class on ties). alpha in [0, 1] comes from the caller's schedule.
 */
export function logconfLoss(
  logits: Float32Array,
  weakTargets: Float32Array,
  numClasses: number,
  opts: { alpha: number; dLogits?: Float32Array },
): LossResult;
export function logconfLoss(
  logits: DeviceTensor,
  weakTargets: DeviceTensor,
  numClasses: number,
  opts: { alpha: number; dLogits?: DeviceTensor },
): DeviceLossResult;
export function logconfLoss(
  logits: Float32Array | DeviceTensor,
  weakTargets: Float32Array | DeviceTensor,
  numClasses: number,
  opts: { alpha: number; dLogits?: Float32Array | DeviceTensor },
): LossResult | DeviceLossResult {
  if (isDeviceTensor(logits))
    return native.logconfLoss(logits, weakTargets as DeviceTensor, numClasses, opts as { alpha: number; dLogits?: DeviceTensor });
  return native.logconfLoss(logits, weakTargets as Float32Array, numClasses, opts as { alpha: number; dLogits?: Float32Array });
}

/**
 * The product loss: CE(z, t) with t proportional to softmax(z)^beta * y^alpha (no gradient through
 * t; 0^0 = 1).
 */
export function productLoss(
  logits: Float32Array,
  weakTargets: Float32Array,
  numClasses: number,
  opts: { alpha: number; beta: number; dLogits?: Float32Array },
): LossResult;
export function productLoss(
  logits: DeviceTensor,
  weakTargets: DeviceTensor,
  numClasses: number,
  opts: { alpha: number; beta: number; dLogits?: DeviceTensor },
): DeviceLossResult;
export function productLoss(
  logits: Float32Array | DeviceTensor,
  weakTargets: Float32Array | DeviceTensor,
  numClasses: number,
  opts: { alpha: number; beta: number; dLogits?: Float32Array | DeviceTensor },
): LossResult | DeviceLossResult {
  type DeviceOpts = { alpha: number; beta: number; dLogits?: DeviceTensor };
  type HostOpts = { alpha: number; beta: number; dLogits?: Float32Array };
  if (isDeviceTensor(logits)) return native.productLoss(logits, weakTargets as DeviceTensor, numClasses, opts as DeviceOpts);
  return native.productLoss(logits, weakTargets as Float32Array, numClasses, opts as HostOpts);
}
