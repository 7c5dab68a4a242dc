// The model tests' measure of agreement between a result and its reference.
import { expect } from 'vitest';

/**
 * ‖a − b‖ / max(‖b‖, floor), Euclidean norms: the floor (default 1e-6) makes an all-zero reference
 * demand an all-zero result; gradients pass a larger one.
 */
export function relativeError(a: Float32Array, b: Float32Array, floor = 1e-6): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), floor);
}
