// Fused multi-head attention (native: CPU, or CUDA for DeviceTensors). Layouts:
//   q, out, dOut, dq  [B, Tq, H, D]      k, v, dk, dv  [B, Tk, Hkv, D]      lse  [B, H, Tq]
// Grouped-query attention: query head h uses key/value head floor(h / (H / Hkv)).
// Causal masking is aligned bottom-right: query i sees keys j <= i + Tk - Tq (needs Tk >= Tq).
// Every argument is validated by the binding; a bad one throws a TypeError or RangeError naming it.
// With DeviceTensors (toDevice) the CUDA kernels run and the results are DeviceTensors; every tensor
// of a call must then be on the device. On the GPU, `precision` picks the matrix products' arithmetic.
import { isDeviceTensor, type DeviceTensor } from './device.js';
import { native } from './native.js';
import { describe, type Tensor } from './tensor.js';

export interface AttentionOptions {
  /** Mask keys after each query (default false). */
  causal?: boolean;
  /** Score scale (default 1 / sqrt(D)). */
  scale?: number;
  /** Per-sequence key lengths [B] (right padding): keys j >= kvLengths[b] are masked. */
  kvLengths?: Int32Array;
  /**
   * DeviceTensors only: 'float32' (default: CUDA cores, float32 accuracy), 'tf32' or 'bf16' (tensor
   * cores on operands rounded to TF32 or bfloat16, float32 accumulation and softmax).
   */
  precision?: 'float32' | 'tf32' | 'bf16';
}

export interface AttentionOutput {
  /** [B, Tq, H, D] */
  out: Tensor;
  /** [B, H, Tq], natural log of each softmax denominator (saved for the backward pass) */
  lse: Tensor;
}

export interface AttentionGradients {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}

export interface DeviceAttentionOutput {
  /** [B, Tq, H, D] */
  out: DeviceTensor;
  /** [B, H, Tq] */
  lse: DeviceTensor;
}

export interface DeviceAttentionGradients {
  dq: DeviceTensor;
  dk: DeviceTensor;
  dv: DeviceTensor;
}

export function attentionForward(q: Tensor, k: Tensor, v: Tensor, opts?: AttentionOptions): AttentionOutput;
export function attentionForward(
  q: DeviceTensor,
  k: DeviceTensor,
  v: DeviceTensor,
  opts?: AttentionOptions,
): DeviceAttentionOutput;
export function attentionForward(
  q: Tensor | DeviceTensor,
  k: Tensor | DeviceTensor,
  v: Tensor | DeviceTensor,
  opts: AttentionOptions = {},
): AttentionOutput | DeviceAttentionOutput {
  if (isDeviceTensor(q)) return native.attentionForward(q, k as DeviceTensor, v as DeviceTensor, opts);
  const { out, lse } = native.attentionForward(q, k as Tensor, v as Tensor, opts);
  const [batch, length, heads, headDim] = q.shape;
  return {
    out: { data: out, shape: [batch, length, heads, headDim] },
    lse: { data: lse, shape: [batch, heads, length] },
  };
}

export function attentionBackward(
  dOut: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  opts?: AttentionOptions,
): AttentionGradients;
export function attentionBackward(
  dOut: DeviceTensor,
  q: DeviceTensor,
  k: DeviceTensor,
  v: DeviceTensor,
  out: DeviceTensor,
  lse: DeviceTensor,
  opts?: AttentionOptions,
): DeviceAttentionGradients;
export function attentionBackward(
  dOut: Tensor | DeviceTensor,
  qIn: Tensor | DeviceTensor,
  kIn: Tensor | DeviceTensor,
  vIn: Tensor | DeviceTensor,
  outIn: Tensor | DeviceTensor,
  lseIn: Tensor | DeviceTensor,
  opts: AttentionOptions = {},
): AttentionGradients | DeviceAttentionGradients {
  if (isDeviceTensor(dOut))
    return native.attentionBackward(
      dOut,
      qIn as DeviceTensor,
      kIn as DeviceTensor,
      vIn as DeviceTensor,
      outIn as DeviceTensor,
      lseIn as DeviceTensor,
      opts,
    );
  // The binding names a DeviceTensor among host tensors; lse is unpacked here, so check it first.
  if (isDeviceTensor(lseIn))
    throw new TypeError('lse is a DeviceTensor but dOut is a host tensor: pass every tensor of a call on the same device');
  const [q, k, v, out, lse] = [qIn, kIn, vIn, outIn, lseIn] as Tensor[];
  if (lse === null || typeof lse !== 'object') throw new TypeError(`lse must be a tensor {data, shape}, got ${describe(lse)}`);
  if (lse.strides !== undefined || lse.offset !== undefined)
    throw new RangeError('lse must be the contiguous [B, H, Tq] tensor returned by attentionForward (no strides or offset)');
  // lse's shape is checked against q's here (the binding checks its length); a malformed q is left
  // to the binding, which names it.
  const qShape: unknown = (q as Partial<Tensor> | null)?.shape;
  if (Array.isArray(qShape) && qShape.length === 4) {
    const expected = [qShape[0], qShape[2], qShape[1]];
    if (!Array.isArray(lse.shape) || lse.shape.length !== 3 || lse.shape.some((d, i) => d !== expected[i]))
      throw new RangeError(`lse.shape must be [B, H, Tq] = [${expected.join(', ')}], got ${JSON.stringify(lse.shape)}`);
  }
  const { dq, dk, dv } = native.attentionBackward(dOut, q, k, v, out, lse.data, opts);
  return {
    dq: { data: dq, shape: [...q.shape] },
    dk: { data: dk, shape: [...k.shape] },
    dv: { data: dv, shape: [...v.shape] },
  };
}
