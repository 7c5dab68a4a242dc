// tfjs-core references of every native kernel: composite tfjs ops, gradients by tfjs autodiff.
// They define what the native kernels compute (tests compare the two) and are the benchmarks'
// baseline on tfjs-backend-cpu and tfjs-backend-wasm. Layouts as in ../attention.ts.
import { tf } from './tf.js';

export interface ReferenceAttentionOptions {
  causal?: boolean;
  scale?: number;
  kvLengths?: Int32Array | number[];
}

// Masked scores get this instead of -Infinity, so that autodiff never multiplies 0 by Infinity.
const MASKED = -1e30;

/**
 * Attention as matmul, softmax, matmul on [B, H, T, D] transposes; GQA by repeating K/V heads.
 * Returns out [B, Tq, H, D] and lse [B, H, Tq].
 */
export function attentionReference(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  opts: ReferenceAttentionOptions = {},
): { out: tf.Tensor4D; lse: tf.Tensor3D } {
  return tf.tidy(() => {
    const [batch, qLen, heads, headDim] = q.shape;
    const [, kvLen, kvHeads] = k.shape;
    const group = heads / kvHeads;
    const scale = opts.scale ?? 1 / Math.sqrt(headDim);
    // Query head h reads key/value head floor(h / group): gather them into [B, H, Tk, D].
    const kvHeadOf = tf.tensor1d(Array.from({ length: heads }, (_, h) => Math.floor(h / group)), 'int32');
    const byHead = (x: tf.Tensor4D): tf.Tensor4D => {
      const t = tf.transpose(x, [0, 2, 1, 3]); // [B, Hkv, Tk, D]
      return group === 1 ? t : tf.gather(t, kvHeadOf, 1);
    };
    const qh = tf.transpose(q, [0, 2, 1, 3]); // [B, H, Tq, D]
    let scores = tf.mul(tf.matMul(qh, byHead(k), false, true), scale); // [B, H, Tq, Tk]
    const mask = visibilityMask(batch, qLen, kvLen, opts);
    if (mask) scores = tf.where(mask, scores, tf.fill(scores.shape, MASKED));
    const lse = tf.logSumExp(scores, -1) as tf.Tensor3D;
    const probs = tf.softmax(scores);
    const out = tf.transpose(tf.matMul(probs, byHead(v)), [0, 2, 1, 3]) as tf.Tensor4D;
    return { out, lse };
  });
}

// [B, H(broadcast), Tq, Tk] boolean mask of visible keys, or null when every key is visible.
function visibilityMask(batch: number, qLen: number, kvLen: number, opts: ReferenceAttentionOptions): tf.Tensor4D | null {
  if (!opts.causal && !opts.kvLengths) return null;
  const visible = new Uint8Array(batch * qLen * kvLen);
  for (let b = 0; b < batch; b++) {
    const keys = opts.kvLengths ? opts.kvLengths[b] : kvLen;
    for (let i = 0; i < qLen; i++)
      for (let j = 0; j < kvLen; j++)
        visible[(b * qLen + i) * kvLen + j] = j < keys && (!opts.causal || j <= i + kvLen - qLen) ? 1 : 0;
  }
  return tf.tensor4d(visible, [batch, 1, qLen, kvLen], 'bool');
}

/** Mean soft-label cross-entropy, -sum(y log softmax(z)) / N. */
export function xentLossReference(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}

/**
 * The binary hardening of the auxiliary confidence loss: class 0 where p0 >= t, t = torch.quantile(p0,
 * q) with linear interpolation. Evaluated exactly on the order statistics of the margin z0 - z1
 * (p0 = sigmoid(margin) saturates in float32): rows above the rank-floor(q (N - 1)) margin are
 * class 0; rows equal to it are class 0 only when t equals its p0.
 */
export function hardenBinary(margins: ArrayLike<number>, q: number): Uint8Array {
  const sorted = Float64Array.from(margins).sort();
  const position = q * (sorted.length - 1);
  const below = Math.floor(position);
  const lo = sorted[below];
  const hi = sorted[Math.min(below + 1, sorted.length - 1)];
  const tiesAreClass0 = position === below || hi === lo;
  return Uint8Array.from(margins, (d) => (d > lo || (d === lo && tiesAreClass0) ? 0 : 1));
}

/** The auxiliary confidence loss (see ../losses.ts); the hardened target is a constant. */
export function logconfLossReference(logits: tf.Tensor2D, weakTargets: tf.Tensor2D, alpha: number): tf.Scalar {
  return tf.tidy(() => {
    const [rows, classes] = logits.shape;
    const hardened = new Float32Array(rows * classes);
    if (classes === 2) {
      const z = logits.dataSync();
      const margins = Float32Array.from({ length: rows }, (_, i) => z[2 * i] - z[2 * i + 1]);
      const q = tf.mean(tf.slice(weakTargets, [0, 1], [rows, 1])).dataSync()[0];
      hardenBinary(margins, q).forEach((cls, i) => (hardened[i * 2 + cls] = 1));
    } else {
      const top = tf.argMax(logits, -1).dataSync();
      for (let i = 0; i < rows; i++) hardened[i * classes + top[i]] = 1;
    }
    const target = tf.add(tf.mul(weakTargets, 1 - alpha), tf.mul(tf.tensor2d(hardened, [rows, classes]), alpha)) as tf.Tensor2D;
    return xentLossReference(logits, constant(target));
  });
}

/** The product loss: CE(z, t), t proportional to softmax(z)^beta * y^alpha, a constant. */
export function productLossReference(logits: tf.Tensor2D, weakTargets: tf.Tensor2D, alpha: number, beta: number): tf.Scalar {
  return tf.tidy(() => {
    const unnormalised = tf.mul(tf.pow(tf.softmax(logits), beta), tf.pow(weakTargets, alpha));
    const target = tf.div(unnormalised, tf.sum(unnormalised, -1, true)) as tf.Tensor2D;
    return xentLossReference(logits, constant(target));
  });
}

// A copy with no autodiff path back to its inputs (tfjs has no stop_gradient).
function constant<T extends tf.Tensor>(t: T): T {
  return tf.tensor(t.dataSync(), t.shape, t.dtype) as T;
}
