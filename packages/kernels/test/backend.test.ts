// Threads, backend description and the GEMMs (BLAS and the portable fallback).
import { describe, expect, test } from 'vitest';
import { backendInfo, describeBackend, numThreads, setNumThreads, sgemm } from '../src/index.js';
import { relativeError, rng, uniform } from './helpers.js';

describe('backend', () => {
  test('backendInfo describes BLAS, threads, SIMD and CUDA', () => {
    const info = backendInfo();
    expect(info.blas.length).toBeGreaterThan(0);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(typeof info.cudaCompiled).toBe('boolean');
    if (!info.cudaAvailable) expect(info.cudaReason.length).toBeGreaterThan(0);
    if (info.blas === 'blocked-gemm') expect(info.blasNote).toMatch(/libopenblas-dev/);
    expect(describeBackend(info)).toContain(info.blas);
  });

  test('setNumThreads changes the thread count', () => {
    const before = numThreads();
    setNumThreads(3);
    expect(numThreads()).toBe(3);
    expect(backendInfo().threads).toBe(3);
    setNumThreads(before);
    expect(numThreads()).toBe(before);
  });

  test.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('sgemm transA=%s transB=%s matches a float64 product, BLAS and blocked', (transA, transB) => {
    const random = rng();
    const [m, n, k] = [67, 45, 129];
    const a = uniform(random, m * k);
    const b = uniform(random, k * n);
    const expected = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
        expected[i * n + j] = s;
      }
    for (const impl of ['blas', 'blocked'] as const)
      expect(relativeError(sgemm(a, b, m, n, k, { transA, transB, impl }), expected)).toBeLessThanOrEqual(1e-5);
  });
});
