// Bad input never crashes the process: every case throws a TypeError or RangeError whose message
// names the argument and what was expected.
import { describe, expect, test } from 'vitest';
import {
  attentionBackward,
  attentionForward,
  logconfLoss,
  productLoss,
  setNumThreads,
  sgemm,
  xentLoss,
  type Tensor,
} from '../src/index.js';

const tensor = (shape: number[]): Tensor => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });
const q = tensor([2, 8, 4, 16]);
const kv = tensor([2, 8, 2, 16]);

// A function typed loosely, to pass what TypeScript would reject, as a JavaScript caller can.
const loose = <T extends (...args: never[]) => unknown>(fn: T) => fn as unknown as (...args: unknown[]) => unknown;

describe('attention rejects bad arguments', () => {
  const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
    ['q is null', () => loose(attentionForward)(null, kv, kv), TypeError, /^q must be an object, got null/],
    ['q.data is a Float64Array', () => loose(attentionForward)({ data: new Float64Array(1024), shape: q.shape }, kv, kv), TypeError, /q\.data must be a Float32Array, got a Float64Array/],
    ['q.data is a plain array', () => loose(attentionForward)({ data: [1, 2], shape: [1, 1, 1, 2] }, kv, kv), TypeError, /q\.data must be a Float32Array, got an array/],
    ['q.shape has 3 entries', () => attentionForward({ data: q.data, shape: [2, 8, 64] }, kv, kv), RangeError, /q\.shape \(\[B, Tq, H, D\]\) must have 4 entries, got 3/],
    ['q.shape has a fraction', () => attentionForward({ data: q.data, shape: [2, 8, 4, 15.5] }, kv, kv), RangeError, /q\.shape \(\[B, Tq, H, D\]\)\[3\] must be an integer/],
    ['q.data too short', () => attentionForward({ data: new Float32Array(100), shape: q.shape }, kv, kv), RangeError, /q\.data has 100 elements, expected 1024 for shape \[2, 8, 4, 16\]/],
    ['k with another batch', () => attentionForward(q, tensor([3, 8, 2, 16]), tensor([3, 8, 2, 16])), RangeError, /k\.shape \[3, 8, 2, 16\] must share B and D with q\.shape/],
    ['v unlike k', () => attentionForward(q, kv, tensor([2, 7, 2, 16])), RangeError, /v\.shape must be \[2, 8, 2, 16\] \(the same as k\), got \[2, 7, 2, 16\]/],
    ['H % Hkv != 0', () => attentionForward(tensor([2, 8, 3, 16]), kv, kv), RangeError, /heads H \(3\) must be a multiple of key\/value heads Hkv \(2\)/],
    ['D = 24', () => attentionForward(tensor([1, 4, 2, 24]), tensor([1, 4, 2, 24]), tensor([1, 4, 2, 24])), RangeError, /head size D must be a multiple of 16 between 16 and 256, got 24/],
    ['D = 512', () => attentionForward(tensor([1, 2, 1, 512]), tensor([1, 2, 1, 512]), tensor([1, 2, 1, 512])), RangeError, /head size D must be a multiple of 16 between 16 and 256, got 512/],
    ['a zero dimension', () => attentionForward(tensor([2, 0, 4, 16]), kv, kv), RangeError, /q\.shape \[2, 0, 4, 16\] has a zero dimension/],
    ['causal with Tk < Tq', () => attentionForward(tensor([2, 9, 4, 16]), kv, kv, { causal: true }), RangeError, /causal attention needs key length Tk \(8\) >= query length Tq \(9\)/],
    ['causal not a boolean', () => loose(attentionForward)(q, kv, kv, { causal: 1 }), TypeError, /opts\.causal must be a boolean, got the number 1/],
    ['scale negative', () => attentionForward(q, kv, kv, { scale: -1 }), RangeError, /opts\.scale must be a finite number > 0/],
    ['scale NaN', () => attentionForward(q, kv, kv, { scale: NaN }), RangeError, /opts\.scale must be a finite number > 0/],
    ['kvLengths not Int32Array', () => loose(attentionForward)(q, kv, kv, { kvLengths: [8, 8] }), TypeError, /opts\.kvLengths must be an Int32Array, got an array/],
    ['kvLengths too short', () => attentionForward(q, kv, kv, { kvLengths: Int32Array.of(8) }), RangeError, /opts\.kvLengths must have B = 2 entries, got 1/],
    ['kvLengths out of range', () => attentionForward(q, kv, kv, { kvLengths: Int32Array.of(8, 9) }), RangeError, /kvLengths\[1\] must be in \[1, 8\], got 9/],
    ['kvLengths zero', () => attentionForward(q, kv, kv, { kvLengths: Int32Array.of(0, 8) }), RangeError, /kvLengths\[0\] must be in \[1, 8\], got 0/],
    ['strides past the end', () => attentionForward({ ...q, strides: [512, 128, 16, 1] }, kv, kv), RangeError, /q \(shape \[2, 8, 4, 16\], strides \[512, 128, 16, 1\], offset 0\) reaches element 1471 but data has 1024 elements/],
    ['offset past the end', () => attentionForward({ ...q, strides: [512, 64, 16, 1], offset: 1 }, kv, kv), RangeError, /reaches element 1024 but data has 1024 elements/],
    ['last stride not 1', () => attentionForward({ ...q, strides: [512, 64, 16, 2] }, kv, kv), RangeError, /q\.strides\[3\] must be 1/],
    ['sizes that would overflow', () => {
      const huge: Tensor = { data: new Float32Array(16), shape: [2 ** 40, 2 ** 40, 1, 16], strides: [0, 0, 0, 1] };
      return attentionForward(huge, huge, huge);
    }, RangeError, /out is too large/],
    ['negative stride', () => attentionForward({ ...q, strides: [512, -64, 16, 1] }, kv, kv), RangeError, /q\.strides\[1\] must be >= 0/],
  ];
  test.each(cases)('%s', (_, run, type, message) => {
    expect(run).toThrow(type);
    expect(run).toThrow(message);
  });

  test('backward checks dOut, out and lse', () => {
    const { out, lse } = attentionForward(q, kv, kv);
    expect(() => attentionBackward(tensor([2, 8, 4, 32]), q, kv, kv, out, lse)).toThrow(/dOut\.shape must be \[2, 8, 4, 16\] \(the same as q\)/);
    expect(() => attentionBackward(out, q, kv, kv, out, { data: lse.data, shape: [2, 8, 4] })).toThrow(RangeError);
    expect(() => attentionBackward(out, q, kv, kv, out, { data: lse.data, shape: [2, 8, 4] })).toThrow(/lse\.shape must be \[B, H, Tq\] = \[2, 4, 8\]/);
    expect(() => loose(attentionBackward)(out, q, kv, kv, out, null)).toThrow(/lse must be a tensor/);
    expect(() => loose(attentionBackward)(out, null, kv, kv, out, lse)).toThrow(/^q must be an object, got null/);
    expect(() => attentionBackward(out, q, kv, kv, out, { ...lse, offset: 0 })).toThrow(/lse must be the contiguous \[B, H, Tq\] tensor/);
    expect(() => attentionBackward(out, q, kv, kv, out, { data: new Float32Array(3), shape: [2, 4, 8] })).toThrow(/lse must have B\*H\*Tq = 64 elements/);
    const nanLse = Float32Array.from(lse.data);
    nanLse[5] = NaN;
    expect(() => attentionBackward(out, q, kv, kv, out, { data: nanLse, shape: lse.shape })).toThrow(/lse\[5\] must be finite/);
  });
});

describe('losses reject bad arguments', () => {
  const z = Float32Array.from([1, 2, 3, 4]);
  const y = Float32Array.from([0.5, 0.5, 1, 0]);
  const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
    ['logits a Float64Array', () => loose(xentLoss)(new Float64Array(4), y, 2), TypeError, /^logits must be a Float32Array, got a Float64Array/],
    ['targets a plain array', () => loose(xentLoss)(z, [0.5, 0.5, 1, 0], 2), TypeError, /^targets must be a Float32Array, got an array/],
    ['weakTargets missing', () => loose(logconfLoss)(z, undefined, 2, { alpha: 0.5 }), TypeError, /^weakTargets must be a Float32Array, got undefined/],
    ['N = 0', () => xentLoss(new Float32Array(0), new Float32Array(0), 2), RangeError, /logits is empty: N \(rows\) must be >= 1/],
    ['numClasses 1', () => xentLoss(z, y, 1), RangeError, /numClasses must be >= 2, got the number 1/],
    ['numClasses 2.5', () => xentLoss(z, y, 2.5), RangeError, /numClasses must be an integer/],
    ['numClasses a string', () => loose(xentLoss)(z, y, '2'), TypeError, /numClasses must be an integer, got a string/],
    ['length not a multiple of C', () => xentLoss(z, y, 3), RangeError, /logits has 4 elements, not a multiple of numClasses = 3/],
    ['targets length', () => xentLoss(z, Float32Array.from([1, 0]), 2), RangeError, /targets must have N\*C = 4 elements like logits, got 2/],
    ['targets row sums to 0.8', () => xentLoss(z, Float32Array.from([0.5, 0.3, 1, 0]), 2), RangeError, /targets row 0 must sum to 1/],
    ['negative target', () => logconfLoss(z, Float32Array.from([1, 0, -0.5, 1.5]), 2, { alpha: 0.5 }), RangeError, /weakTargets\[1, 0\] must be a probability in \[0, 1\]/],
    ['NaN logit', () => xentLoss(Float32Array.from([1, NaN, 3, 4]), y, 2), RangeError, /logits\[0, 1\] is NaN/],
    ['Infinite logit', () => productLoss(Float32Array.from([1, 2, -Infinity, 4]), y, 2, { alpha: 1, beta: 1 }), RangeError, /logits\[1, 0\] is -Infinity/],
    ['NaN target', () => logconfLoss(z, Float32Array.from([0.5, 0.5, NaN, 0]), 2, { alpha: 0.5 }), RangeError, /weakTargets\[1, 0\] is NaN/],
    ['alpha missing', () => loose(logconfLoss)(z, y, 2, {}), TypeError, /opts\.alpha must be a number, got undefined/],
    ['opts missing', () => loose(logconfLoss)(z, y, 2), TypeError, /opts must be an object, got undefined/],
    ['alpha > 1', () => logconfLoss(z, y, 2, { alpha: 1.5 }), RangeError, /opts\.alpha must be a finite number in \[0, 1\], got the number 1\.5/],
    ['beta negative', () => productLoss(z, y, 2, { alpha: 1, beta: -1 }), RangeError, /opts\.beta must be a finite number in \[0, Infinity\]/],
  ];
  test.each(cases)('%s', (_, run, type, message) => {
    expect(run).toThrow(type);
    expect(run).toThrow(message);
  });
});

describe('threads and sgemm reject bad arguments', () => {
  test('setNumThreads', () => {
    expect(() => setNumThreads(0)).toThrow(/threads must be >= 1, got the number 0/);
    expect(() => setNumThreads(1.5)).toThrow(/threads must be an integer/);
    expect(() => loose(setNumThreads)('2')).toThrow(TypeError);
  });
  test('sgemm', () => {
    expect(() => sgemm(new Float32Array(6), new Float32Array(6), 2, 2, 3)).not.toThrow();
    expect(() => sgemm(new Float32Array(5), new Float32Array(6), 2, 2, 3)).toThrow(/a must have m\*k = 6 elements, got 5/);
    expect(() => loose(sgemm)(new Float32Array(6), new Float32Array(6), 2, 2, 3, { impl: 'mkl' })).toThrow(/opts\.impl must be "blas" or "blocked"/);
    expect(() => sgemm(new Float32Array(6), new Float32Array(6), 2 ** 31, 2 ** 31, 2 ** 31)).toThrow(/m\*k is too large/);
  });
});
