// Fused attention (native) against the float64 reference, tfjs (forward and autodiff backward) and
// finite differences, on fresh random inputs of awkward shapes.
import { beforeAll, describe, expect, test } from 'vitest';
import {
  attentionBackward,
  attentionForward,
  attentionOp,
  attentionReference,
  splitFusedQkv,
  tf,
  type Tensor,
} from '../src/index.js';
import {
  attentionBackward64,
  attentionForward64,
  relativeError,
  rng,
  uniform,
  seedFor,
  useCpuBackend,
  type AttentionProblem,
} from './helpers.js';

const TOLERANCE = 1e-4;

interface Case {
  B: number;
  Tq: number;
  Tk?: number;
  H: number;
  Hkv?: number;
  D: number;
  causal: boolean;
  padded?: boolean;
}

const cases: Case[] = [
  { B: 1, Tq: 1, H: 1, D: 16, causal: false },
  { B: 2, Tq: 1, H: 4, Hkv: 2, D: 32, causal: true },
  { B: 2, Tq: 7, H: 2, D: 16, causal: false },
  { B: 2, Tq: 7, H: 2, D: 16, causal: true, padded: true },
  { B: 1, Tq: 65, H: 4, Hkv: 1, D: 64, causal: true },
  { B: 2, Tq: 100, H: 2, D: 128, causal: false, padded: true },
  { B: 3, Tq: 130, H: 4, Hkv: 2, D: 32, causal: true, padded: true },
  { B: 2, Tq: 33, Tk: 97, H: 2, Hkv: 1, D: 64, causal: true },
  { B: 1, Tq: 50, Tk: 80, H: 2, D: 48, causal: false, padded: true },
  { B: 1, Tq: 129, H: 2, D: 128, causal: true },
];

function label(c: Case): string {
  return `B=${c.B} Tq=${c.Tq} Tk=${c.Tk ?? c.Tq} H=${c.H} Hkv=${c.Hkv ?? c.H} D=${c.D}${c.causal ? ' causal' : ''}${c.padded ? ' padded' : ''}`;
}

function makeInputs(c: Case, random: () => number) {
  const Tk = c.Tk ?? c.Tq;
  const Hkv = c.Hkv ?? c.H;
  const q: Tensor = { data: uniform(random, c.B * c.Tq * c.H * c.D, -2, 2), shape: [c.B, c.Tq, c.H, c.D] };
  const k: Tensor = { data: uniform(random, c.B * Tk * Hkv * c.D, -2, 2), shape: [c.B, Tk, Hkv, c.D] };
  const v: Tensor = { data: uniform(random, c.B * Tk * Hkv * c.D), shape: [c.B, Tk, Hkv, c.D] };
  const dOut: Tensor = { data: uniform(random, q.data.length), shape: [...q.shape] };
  let kvLengths: Int32Array | undefined;
  if (c.padded) {
    kvLengths = new Int32Array(c.B);
    for (let b = 0; b < c.B; b++) kvLengths[b] = b === 0 ? Tk : 1 + Math.floor(random() * Tk);
  }
  const problem: AttentionProblem = { B: c.B, Tq: c.Tq, Tk, H: c.H, Hkv, D: c.D, causal: c.causal, scale: 1 / Math.sqrt(c.D), lengths: kvLengths };
  return { q, k, v, dOut, opts: { causal: c.causal, kvLengths }, problem };
}

beforeAll(useCpuBackend);

describe('attention against the float64 reference', () => {
  const random = rng();
  test.each(cases.map((c) => [label(c), c] as const))('%s', (_, c) => {
    const { q, k, v, dOut, opts, problem } = makeInputs(c, random);
    const { out, lse } = attentionForward(q, k, v, opts);
    expect(out.shape).toEqual([c.B, c.Tq, c.H, c.D]);
    expect(lse.shape).toEqual([c.B, c.H, c.Tq]);
    const ref = attentionForward64(problem, q.data, k.data, v.data);
    expect(relativeError(out.data, ref.out)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(lse.data, ref.lse)).toBeLessThanOrEqual(TOLERANCE);

    const { dq, dk, dv } = attentionBackward(dOut, q, k, v, out, lse, opts);
    const grads = attentionBackward64(problem, q.data, k.data, v.data, dOut.data);
    expect(relativeError(dq.data, grads.dq)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(dk.data, grads.dk)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(dv.data, grads.dv)).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('attention against tfjs', () => {
  const random = rng();
  const tfCases = cases.filter((c) => c.Tq * (c.Tk ?? c.Tq) * c.B * c.H <= 40_000);
  test.each(tfCases.map((c) => [label(c), c] as const))('%s: forward and autodiff backward', (_, c) => {
    const { q, k, v, dOut, opts } = makeInputs(c, random);
    const { out, lse } = attentionForward(q, k, v, opts);
    const { dq, dk, dv } = attentionBackward(dOut, q, k, v, out, lse, opts);
    const t = (x: Tensor) => tf.tensor4d(x.data, x.shape as [number, number, number, number]);
    const [tq, tk, tv, tg] = [t(q), t(k), t(v), t(dOut)];
    const ref = attentionReference(tq, tk, tv, opts);
    expect(relativeError(out.data, ref.out.dataSync())).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(lse.data, ref.lse.dataSync())).toBeLessThanOrEqual(TOLERANCE);
    const loss = (a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor) =>
      tf.sum(tf.mul(attentionReference(a as tf.Tensor4D, b as tf.Tensor4D, cc as tf.Tensor4D, opts).out, tg));
    const [gq, gk, gv] = tf.grads(loss)([tq, tk, tv]);
    expect(relativeError(dq.data, gq.dataSync())).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(dk.data, gk.dataSync())).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(dv.data, gv.dataSync())).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([tq, tk, tv, tg, ref.out, ref.lse, gq, gk, gv]);
  });
});

test('backward matches finite differences of the float64 forward', () => {
  const random = rng(seedFor('fd'));
  const c: Case = { B: 2, Tq: 9, Tk: 12, H: 4, Hkv: 2, D: 16, causal: true, padded: true };
  const { q, k, v, dOut, opts, problem } = makeInputs(c, random);
  const { out, lse } = attentionForward(q, k, v, opts);
  const grads = attentionBackward(dOut, q, k, v, out, lse, opts);
  // L = sum(out * dOut), so dL/dx = the backward pass given dOut.
  const loss = (x: Float64Array, which: 'q' | 'k' | 'v') => {
    const args = { q: Float64Array.from(q.data), k: Float64Array.from(k.data), v: Float64Array.from(v.data), [which]: x };
    const o = attentionForward64(problem, args.q, args.k, args.v).out;
    return o.reduce((s, value, i) => s + value * dOut.data[i], 0);
  };
  for (const [which, analytic] of [['q', grads.dq], ['k', grads.dk], ['v', grads.dv]] as const) {
    const base = Float64Array.from({ q, k, v }[which].data);
    const numeric = new Float64Array(base.length);
    const h = 1e-5;
    for (let i = 0; i < base.length; i++) {
      const x = Float64Array.from(base);
      x[i] = base[i] + h;
      const up = loss(x, which);
      x[i] = base[i] - h;
      numeric[i] = (up - loss(x, which)) / (2 * h);
    }
    expect(relativeError(analytic.data, numeric), `d${which}`).toBeLessThanOrEqual(TOLERANCE);
  }
});

test('q, k, v as views of one fused [B, T, 3, H, D] buffer give the same results as copies', () => {
  const random = rng(seedFor('fused'));
  const [B, T, H, D] = [2, 70, 4, 32];
  const qkv = uniform(random, B * T * 3 * H * D);
  const views = splitFusedQkv(qkv, { batch: B, length: T, heads: H, headDim: D });
  const copy = (view: Tensor): Tensor => {
    const data = new Float32Array(B * T * H * D);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++)
        for (let i = 0; i < H * D; i++) data[(b * T + t) * H * D + i] = qkv[view.offset! + b * view.strides![0] + t * view.strides![1] + i];
    return { data, shape: [B, T, H, D] };
  };
  const [q, k, v] = [copy(views.q), copy(views.k), copy(views.v)];
  const opts = { causal: true };
  const fromViews = attentionForward(views.q, views.k, views.v, opts);
  const fromCopies = attentionForward(q, k, v, opts);
  expect(fromViews.out.data).toEqual(fromCopies.out.data);
  expect(fromViews.lse.data).toEqual(fromCopies.lse.data);
  const dOut: Tensor = { data: uniform(random, B * T * H * D), shape: [B, T, H, D] };
  const g1 = attentionBackward(dOut, views.q, views.k, views.v, fromViews.out, fromViews.lse, opts);
  const g2 = attentionBackward(dOut, q, k, v, fromCopies.out, fromCopies.lse, opts);
  expect(g1.dq.data).toEqual(g2.dq.data);
  expect(g1.dk.data).toEqual(g2.dk.data);
  expect(g1.dv.data).toEqual(g2.dv.data);
});

test('attentionOp runs the native kernel inside tfjs, with its gradient registered', () => {
  const random = rng(seedFor('op'));
  const opts = { causal: true, kvLengths: [6, 4] };
  const shapeQ: [number, number, number, number] = [2, 6, 4, 16];
  const shapeK: [number, number, number, number] = [2, 6, 2, 16];
  const q = tf.tensor4d(uniform(random, 2 * 6 * 4 * 16), shapeQ);
  const k = tf.tensor4d(uniform(random, 2 * 6 * 2 * 16), shapeK);
  const v = tf.tensor4d(uniform(random, 2 * 6 * 2 * 16), shapeK);
  const g = tf.tensor4d(uniform(random, 2 * 6 * 4 * 16), shapeQ);
  const viaOp = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attentionOp(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, opts).out, g));
  const viaRef = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    tf.sum(tf.mul(attentionReference(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, opts).out, g));
  const { value: v1, grads: g1 } = tf.valueAndGrads(viaOp)([q, k, v]);
  const { value: v2, grads: g2 } = tf.valueAndGrads(viaRef)([q, k, v]);
  expect(relativeError(v1.dataSync(), v2.dataSync())).toBeLessThanOrEqual(TOLERANCE);
  for (let i = 0; i < 3; i++) expect(relativeError(g1[i].dataSync(), g2[i].dataSync())).toBeLessThanOrEqual(TOLERANCE);
});

