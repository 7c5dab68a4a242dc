// The tensor type of the kernel API: a Float32Array with a shape, optionally a strided view into a
// larger buffer (so that q, k and v can be views of one fused [B, T, 3, H, D] QKV buffer).
import { isDeviceTensor, type DeviceTensor } from './device.js';

/** A float32 tensor: row-major `data` with `shape`, or a view with element `strides` and `offset`. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
  /** Element strides of each dimension; default: contiguous row-major. The last must be 1. */
  strides?: number[];
  /** Index of the first element in `data`; default 0. */
  offset?: number;
}

/** Row-major strides of a contiguous tensor of this shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = step;
    step *= shape[i];
  }
  return strides;
}

/**
 * Views q, k, v of a fused QKV buffer laid out [B, T, 3, H, D] (the output of one fused projection),
 * without copying: of a host Float32Array, or of a contiguous DeviceTensor (views of its allocation).
 */
export function splitFusedQkv(
  qkv: Float32Array,
  shape: { batch: number; length: number; heads: number; headDim: number },
): { q: Tensor; k: Tensor; v: Tensor };
export function splitFusedQkv(
  qkv: DeviceTensor,
  shape: { batch: number; length: number; heads: number; headDim: number },
): { q: DeviceTensor; k: DeviceTensor; v: DeviceTensor };
export function splitFusedQkv(
  qkv: Float32Array | DeviceTensor,
  shape: { batch: number; length: number; heads: number; headDim: number },
): { q: Tensor; k: Tensor; v: Tensor } | { q: DeviceTensor; k: DeviceTensor; v: DeviceTensor } {
  const { batch, length, heads, headDim } = shape;
  const expected = batch * length * 3 * heads * headDim;
  const viewShape = [batch, length, heads, headDim];
  const viewStrides = [length * 3 * heads * headDim, 3 * heads * headDim, headDim, 1];
  if (isDeviceTensor(qkv)) {
    if (qkv.size !== expected)
      throw new RangeError(`qkv must have B*T*3*H*D = ${expected} elements ([B, T, 3, H, D]), got ${qkv.size}`);
    if (qkv.strides.some((s, i) => s !== contiguousStrides(qkv.shape)[i]))
      throw new RangeError('qkv must be a contiguous DeviceTensor');
    const part = (p: number) => qkv.view(viewShape, viewStrides, p * heads * headDim);
    return { q: part(0), k: part(1), v: part(2) };
  }
  if (!(qkv instanceof Float32Array)) throw new TypeError(`qkv must be a Float32Array or a DeviceTensor, got ${describe(qkv)}`);
  if (qkv.length !== expected)
    throw new RangeError(`qkv must have B*T*3*H*D = ${expected} elements ([B, T, 3, H, D]), got ${qkv.length}`);
  const view = (part: number): Tensor => ({ data: qkv, shape: viewShape, strides: viewStrides, offset: part * heads * headDim });
  return { q: view(0), k: view(1), v: view(2) };
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
