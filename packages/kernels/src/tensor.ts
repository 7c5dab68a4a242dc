// The tensor type of the kernel API: a Float32Array with a shape, optionally a strided view into a
// larger buffer (so that q, k and v can be views of one fused [B, T, 3, H, D] QKV buffer).

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
 * without copying.
 */
export function splitFusedQkv(qkv: Float32Array, shape: { batch: number; length: number; heads: number; headDim: number }): {
  q: Tensor;
  k: Tensor;
  v: Tensor;
} {
  const { batch, length, heads, headDim } = shape;
  const expected = batch * length * 3 * heads * headDim;
  if (!(qkv instanceof Float32Array)) throw new TypeError(`qkv must be a Float32Array, got ${describe(qkv)}`);
  if (qkv.length !== expected)
    throw new RangeError(`qkv must have B*T*3*H*D = ${expected} elements ([B, T, 3, H, D]), got ${qkv.length}`);
  const strides = [length * 3 * heads * headDim, 3 * heads * headDim, headDim, 1];
  const view = (part: number): Tensor => ({
    data: qkv,
    shape: [batch, length, heads, headDim],
    strides,
    offset: part * heads * headDim,
  });
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
