// Threads, backend description, and the machine's yardsticks (BLAS sgemm, memory copy).
import type { RawBackendInfo } from '@w2s/native';
import { native } from './native.js';

/** BLAS in use, threads, SIMD, and whether CUDA was compiled and a device found (and if not, why). */
export type BackendInfo = RawBackendInfo;

/** Sets the threads of the kernels' pool, on which the BLAS's products run too (default: all cores). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}

export function numThreads(): number {
  return native.numThreads();
}

export function backendInfo(): BackendInfo {
  return native.backendInfo();
}

/** One line for logs: BLAS, threads, SIMD, CUDA status (and the install hint when BLAS is missing). */
export function describeBackend(info: BackendInfo = backendInfo()): string {
  const cuda = info.cudaAvailable ? `CUDA available: ${info.cudaDevice}` : `CUDA unavailable: ${info.cudaReason}`;
  const line = `w2s native: ${info.blas}, ${info.threads} threads, ${info.simd}; ${cuda}`;
  return info.blasNote ? `${line}\n${info.blasNote}` : line;
}

/**
 * C [M, N] = op(A) op(B), row-major; `impl: 'blocked'` forces the portable GEMM instead of the BLAS.
 */
export function sgemm(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  opts: { transA?: boolean; transB?: boolean; impl?: 'blas' | 'blocked' } = {},
): Float32Array {
  return native.sgemm(a, b, m, n, k, opts);
}

/** dst.set(src) split over the kernel threads: the memory-bandwidth yardstick of the benchmarks. */
export function copyFloat32(dst: Float32Array, src: Float32Array): void {
  native.copy(dst, src);
}

/** Scratch bytes the attention kernels allocate per call with this head size and thread count. */
export function attentionWorkspaceBytes(headDim: number, threads: number): { forward: number; backward: number } {
  return native.attentionWorkspaceBytes(headDim, threads);
}
