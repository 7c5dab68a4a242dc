// The raw binding. Use @w2s/kernels, its typed API, rather than this module directly.
export interface RawTensor {
  data: Float32Array;
  shape: number[];
  strides?: number[];
  offset?: number;
}
export interface RawAttentionOptions {
  causal?: boolean;
  scale?: number;
  kvLengths?: Int32Array;
}
export interface RawBackendInfo {
  /** The BLAS in use, e.g. "openblas (Haswell, ...)", or "blocked-gemm" (the portable fallback). */
  blas: string;
  /** Empty, or one line naming the package to install when no BLAS was found. */
  blasNote: string;
  /** Threads used by the kernels and the BLAS. */
  threads: number;
  /** Vector ISA the kernels were compiled for, e.g. "avx512f". */
  simd: string;
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  /** Why CUDA is not available (empty when it is). */
  cudaReason: string;
  /** Name of CUDA device 0 (empty when none is available). */
  cudaDevice: string;
}
export function attentionForward(q: RawTensor, k: RawTensor, v: RawTensor, opts?: RawAttentionOptions): { out: Float32Array; lse: Float32Array };
export function attentionBackward(
  dOut: RawTensor, q: RawTensor, k: RawTensor, v: RawTensor, out: RawTensor, lse: Float32Array, opts?: RawAttentionOptions,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array };
export function softXentLoss(
  logits: Float32Array, targets: Float32Array, numClasses: number, opts?: { dLogits?: Float32Array },
): { loss: number; dLogits: Float32Array };
export function auxConfLoss(
  logits: Float32Array, weakTargets: Float32Array, numClasses: number, opts: { alpha: number; dLogits?: Float32Array },
): { loss: number; dLogits: Float32Array };
export function productLoss(
  logits: Float32Array, weakTargets: Float32Array, numClasses: number, opts: { alpha: number; beta: number; dLogits?: Float32Array },
): { loss: number; dLogits: Float32Array };
export function sgemm(
  a: Float32Array, b: Float32Array, m: number, n: number, k: number,
  opts?: { transA?: boolean; transB?: boolean; impl?: 'blas' | 'blocked' },
): Float32Array;
export function copy(dst: Float32Array, src: Float32Array): void;
export function setNumThreads(n: number): void;
export function numThreads(): number;
export function backendInfo(): RawBackendInfo;
export function attentionWorkspaceBytes(headDim: number, threads: number): { forward: number; backward: number };
