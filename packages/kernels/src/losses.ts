// The weak-to-strong losses (native, CPU) on logits z [N, C] and soft targets y [N, C], row-major
// Float32Arrays. Each returns the mean loss over the N rows and dLogits = d(mean loss)/d logits,
// computed together in one call. A NaN or Infinity in an input, or a targets row that is not a
// distribution (entries in [0, 1] summing to 1 within 1e-3), throws a RangeError naming it.
// `dLogits` in the options is an optional output buffer (N*C floats, not overlapping the inputs)
// that a training loop reuses instead of allocating a new gradient each step.
import { native } from './native.js';

export interface LossResult {
  loss: number;
  dLogits: Float32Array;
}

/** Soft-label cross-entropy: mean_i -sum_c y_ic log softmax(z_i)_c. */
export function softXentLoss(
  logits: Float32Array,
  targets: Float32Array,
  numClasses: number,
  opts: { dLogits?: Float32Array } = {},
): LossResult {
  return native.softXentLoss(logits, targets, numClasses, opts);
}

/**
 * The auxiliary confidence loss of Burns et al. (2023): CE(z, (1 - alpha) y + alpha yhat) with yhat
 * the student's hardened predictions (no gradient through them). Binary (C = 2): p0 = softmax(z)[:, 0],
 * t = quantile(p0, mean(y[:, 1])) with linear interpolation (torch.quantile), yhat = class 0 where
 * p0 >= t, else class 1, so the hardened positive rate matches the weak labels'. C > 2: yhat is the
 * one-hot argmax of z (first class on ties). alpha in [0, 1] comes from the caller's schedule.
 */
export function auxConfLoss(
  logits: Float32Array,
  weakTargets: Float32Array,
  numClasses: number,
  opts: { alpha: number; dLogits?: Float32Array },
): LossResult {
  return native.auxConfLoss(logits, weakTargets, numClasses, opts);
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
): LossResult {
  return native.productLoss(logits, weakTargets, numClasses, opts);
}
