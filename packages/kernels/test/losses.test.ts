// The losses (native) against float64 references, tfjs references with autodiff, and hand-computed
// logconf cases; numerical stability at |logits| = 1e4.
import { beforeAll, describe, expect, test } from 'vitest';
import {
  logconfLoss,
  logconfLossOp,
  logconfLossReference,
  productLoss,
  productLossOp,
  productLossReference,
  xentLoss,
  xentLossOp,
  xentLossReference,
  tf,
} from '../src/index.js';
import {
  logconfTarget64,
  crossEntropy64,
  distributions,
  productTarget64,
  relativeError,
  rng,
  uniform,
  useCpuBackend,
} from './helpers.js';

const TOLERANCE = 1e-4;
// dLogits are compared relative to their largest entry, but at least 1e-2 / N (their natural
// scale): where the target nearly equals softmax(z) (product loss with y close to uniform), the
// exact gradient is close to 0 and float32 leaves rounding noise of ~1e-7 / N.
const gradientFloor = (n: number) => 1e-2 / n;

beforeAll(useCpuBackend);

type Loss = 'xent' | 'logconf' | 'product';
const settings: { loss: Loss; alpha?: number; beta?: number }[] = [
  { loss: 'xent' },
  { loss: 'logconf', alpha: 0 },
  { loss: 'logconf', alpha: 0.4 },
  { loss: 'logconf', alpha: 1 },
  { loss: 'product', alpha: 1, beta: 1 },
  { loss: 'product', alpha: 0.5, beta: 2 },
];
const shapes: [number, number][] = [
  [1, 2],
  [31, 2],
  [5000, 2],
  [9, 3],
  [257, 10],
];

function runNative(s: (typeof settings)[number], z: Float32Array, y: Float32Array, c: number) {
  if (s.loss === 'xent') return xentLoss(z, y, c);
  if (s.loss === 'logconf') return logconfLoss(z, y, c, { alpha: s.alpha! });
  return productLoss(z, y, c, { alpha: s.alpha!, beta: s.beta! });
}

function reference64(s: (typeof settings)[number], z: Float32Array, y: Float32Array, c: number) {
  if (s.loss === 'xent') return crossEntropy64(z, y, c);
  if (s.loss === 'logconf') return crossEntropy64(z, logconfTarget64(z, y, c, s.alpha!), c);
  return crossEntropy64(z, productTarget64(z, y, c, s.alpha!, s.beta!), c);
}

function referenceTf(s: (typeof settings)[number], z: tf.Tensor2D, y: tf.Tensor2D): tf.Scalar {
  if (s.loss === 'xent') return xentLossReference(z, y);
  if (s.loss === 'logconf') return logconfLossReference(z, y, s.alpha!);
  return productLossReference(z, y, s.alpha!, s.beta!);
}

function name(s: (typeof settings)[number]): string {
  return `${s.loss}${s.alpha !== undefined ? ` alpha=${s.alpha}` : ''}${s.beta !== undefined ? ` beta=${s.beta}` : ''}`;
}

describe('losses against float64 and tfjs references', () => {
  const random = rng();
  const rows = settings.flatMap((s) => shapes.map(([n, c]) => [`${name(s)} N=${n} C=${c}`, s, n, c] as const));
  test.each(rows)('%s', (_, s, n, c) => {
    const z = uniform(random, n * c, -4, 4);
    const y = distributions(random, n, c);
    const { loss, dLogits } = runNative(s, z, y, c);
    expect(dLogits).toBeInstanceOf(Float32Array);
    const ref = reference64(s, z, y, c);
    expect(Math.abs(loss - ref.loss) / Math.abs(ref.loss)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(dLogits, ref.dz, gradientFloor(n))).toBeLessThanOrEqual(TOLERANCE);

    const tz = tf.tensor2d(z, [n, c]);
    const ty = tf.tensor2d(y, [n, c]);
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => referenceTf(s, x as tf.Tensor2D, ty))(tz);
    expect(Math.abs(loss - value.dataSync()[0]) / Math.abs(value.dataSync()[0])).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(dLogits, grad.dataSync(), gradientFloor(n))).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([tz, ty, value, grad]);
  });
});

describe('logconf, computed by hand', () => {
  // p0 = softmax(z)[:, 0] = sigmoid(z0 - z1): logits [logit(p), 0] give p0 = p exactly enough.
  const logitsFor = (p0: number[]) => Float32Array.from(p0.flatMap((p) => [Math.log(p / (1 - p)), 0]));

  test('threshold by linear interpolation between order statistics', () => {
    // q = mean(y1) = 0.5, N = 4: position 1.5, t = 0.2 + 0.5 (0.3 - 0.2) = 0.25, so rows with
    // p0 = 0.3 and 0.4 harden to class 0, rows with 0.1 and 0.2 to class 1. With alpha = 1 the loss
    // is the mean -log p(hardened class) = -(log .9 + log .8 + log .3 + log .4) / 4.
    const z = logitsFor([0.1, 0.2, 0.3, 0.4]);
    const y = new Float32Array(8).fill(0.5);
    const { loss, dLogits } = logconfLoss(z, y, 2, { alpha: 1 });
    expect(loss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8) + Math.log(0.3) + Math.log(0.4)) / 4, 6);
    // dz = (softmax - target) / N: row 0 targets class 1, so d z00 = (0.1 - 0) / 4.
    expect(dLogits[0]).toBeCloseTo(0.025, 6);
    expect(dLogits[6]).toBeCloseTo((0.4 - 1) / 4, 6);
  });

  test('quantile ties: rows equal to the threshold harden to class 0 (p0 >= t)', () => {
    // p0 = {.2, .2, .2, .6}, mean y1 = 1/3: position 1, t = 0.2 exactly; all four rows are class 0.
    const z = logitsFor([0.2, 0.2, 0.2, 0.6]);
    const y = Float32Array.from([1, 0, 1, 0, 2 / 3, 1 / 3, 0, 1]);
    const { loss } = logconfLoss(z, y, 2, { alpha: 1 });
    expect(loss).toBeCloseTo(-(3 * Math.log(0.2) + Math.log(0.6)) / 4, 5);
  });

  test('a batch where every prediction is the same hardens every row to class 0', () => {
    const z = Float32Array.from([0.7, -0.3, 0.7, -0.3, 0.7, -0.3]);
    const y = Float32Array.from([0.2, 0.8, 0.9, 0.1, 0.4, 0.6]);
    const p0 = 1 / (1 + Math.exp(-1));
    // alpha = 0.5: target = 0.5 y + 0.5 [1, 0]; loss = mean over rows of -(t0 log p0 + t1 log p1).
    const expected =
      [0.2, 0.9, 0.4].reduce((s, y0) => s - ((0.5 * y0 + 0.5) * Math.log(p0) + 0.5 * (1 - y0) * Math.log(1 - p0)), 0) / 3;
    expect(logconfLoss(z, y, 2, { alpha: 0.5 }).loss).toBeCloseTo(expected, 6);
  });

  test('saturated predictions are ordered exactly (by the margin z0 - z1, not the rounded p0)', () => {
    // Margins -3, 16, 20, 25: float32 rounds p0 of the last three to 0.99999988, 1, 1. mean y1 = 5/6
    // puts the quantile at position 2.5, between p0(20) and p0(25): only margin 25 is class 0.
    const z = Float32Array.from([-3, 0, 16, 0, 20, 0, 25, 0]);
    const y = Float32Array.from([0, 1, 0, 1, 0, 1, 2 / 3, 1 / 3]);
    const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
    const expected = (softplus(-3) + softplus(16) + softplus(20) + softplus(-25)) / 4;
    expect(logconfLoss(z, y, 2, { alpha: 1 }).loss / expected).toBeCloseTo(1, 6);
    const reference = logconfLossReference(tf.tensor2d(z, [4, 2]), tf.tensor2d(y, [4, 2]), 1);
    expect(reference.dataSync()[0] / expected).toBeCloseTo(1, 5);
  });

  test('a quantile position on an exact order statistic: rows equal to it are class 0', () => {
    // mean y1 = 0.5, N = 3: position exactly 1, t = the middle p0; margins -1, 0.5, 2 so the rows
    // with margins 0.5 (equal to t) and 2 are class 0, the row with -1 class 1.
    const z = Float32Array.from([-1, 0, 0.5, 0, 2, 0]);
    const y = Float32Array.from([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    const softplus = (x: number) => Math.log1p(Math.exp(x));
    const expected = (softplus(-1) + softplus(-0.5) + softplus(-2)) / 3;
    expect(logconfLoss(z, y, 2, { alpha: 1 }).loss).toBeCloseTo(expected, 6);
    const reference = logconfLossReference(tf.tensor2d(z, [3, 2]), tf.tensor2d(y, [3, 2]), 1);
    expect(reference.dataSync()[0]).toBeCloseTo(expected, 5);
  });

  test('more than two classes: the hardened target is the argmax', () => {
    const z = Float32Array.from([1, 3, 2, 0, 0, 5]);
    const y = Float32Array.from([1 / 3, 1 / 3, 1 / 3, 1, 0, 0]);
    const lse = (a: number[]) => Math.log(a.reduce((s, x) => s + Math.exp(x), 0));
    // alpha = 1: -log p(argmax) per row: class 1 for row 0, class 2 for row 1.
    const expected = ((lse([1, 3, 2]) - 3) + (lse([0, 0, 5]) - 5)) / 2;
    expect(logconfLoss(z, y, 3, { alpha: 1 }).loss).toBeCloseTo(expected, 6);
  });
});

describe('dLogits against finite differences', () => {
  // The gradient of each loss is that of CE(z, t) with its target t held fixed (t is a stop-gradient
  // function of z for logconf and product): central differences of the float64 CE at the base t.
  const random = rng();
  test.each(settings.map((s) => [name(s), s] as const))('%s', (_, s) => {
    const [n, c] = [12, 3];
    const z = uniform(random, n * c, -2, 2);
    const y = distributions(random, n, c);
    const target = s.loss === 'xent' ? Float64Array.from(y) : s.loss === 'logconf' ? logconfTarget64(z, y, c, s.alpha!) : productTarget64(z, y, c, s.alpha!, s.beta!);
    const { dLogits } = runNative(s, z, y, c);
    const numeric = new Float64Array(n * c);
    const h = 1e-5;
    for (let i = 0; i < n * c; i++) {
      const x = Float64Array.from(z);
      x[i] = z[i] + h;
      const up = crossEntropy64(x, target, c).loss;
      x[i] = z[i] - h;
      numeric[i] = (up - crossEntropy64(x, target, c).loss) / (2 * h);
    }
    expect(relativeError(dLogits, numeric, gradientFloor(n))).toBeLessThanOrEqual(TOLERANCE);
  });
});

test('never NaN from finite logits, even near the float range: the exact loss 0 and gradient 0', () => {
  // Each row's logits are ±3e38 (a difference of 6e38, past the float range): softmax is exactly
  // one-hot (exp(−6e38) is 0), on the class the target puts all its weight on. Every loss's target
  // (y; logconf's mix of y and the rows' own hardened predictions; product's normalised y^α·p^β)
  // is then that same one-hot, so the loss is exactly 0 and so is its gradient.
  const z = Float32Array.from([3e38, -3e38, -3e38, 3e38]);
  const y = Float32Array.from([1, 0, 0, 1]);
  for (const s of settings) {
    const { loss, dLogits } = runNative(s, z, y, 2);
    expect(Math.abs(loss), name(s)).toBe(0);
    expect(Array.from(dLogits, Math.abs), name(s)).toEqual([0, 0, 0, 0]);
  }
});

test('numClasses is bounded (each thread holds 16 rows of every class)', () => {
  expect(() => xentLoss(new Float32Array(2 ** 18), new Float32Array(2 ** 18), 2 ** 18)).toThrow(/numClasses must be <= 131072/);
});

test('stable at logits of magnitude 1e4', () => {
  const z = Float32Array.from([1e4, -1e4, -1e4, 1e4, 5e3, 5e3, -1e4, -9999]);
  const y = Float32Array.from([0.3, 0.7, 1, 0, 0.5, 0.5, 0.25, 0.75]);
  for (const s of settings) {
    const { loss, dLogits } = runNative(s, z, y, 2);
    const ref = reference64(s, z, y, 2);
    expect(Number.isFinite(loss)).toBe(true);
    expect(Math.abs(loss - ref.loss) / Math.abs(ref.loss)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(dLogits, ref.dz)).toBeLessThanOrEqual(TOLERANCE);
  }
});

test('results do not depend on the thread count', async () => {
  const { setNumThreads, numThreads } = await import('../src/index.js');
  const random = rng();
  const z = uniform(random, 50_000 * 2, -3, 3);
  const y = distributions(random, 50_000, 2);
  const before = numThreads();
  const runs = [1, 2, 3].map((threads) => {
    setNumThreads(threads);
    return logconfLoss(z, y, 2, { alpha: 0.5 });
  });
  setNumThreads(before);
  for (const r of runs.slice(1)) {
    expect(r.loss).toBe(runs[0].loss);
    expect(r.dLogits).toEqual(runs[0].dLogits);
  }
});

test('opts.dLogits: the gradient is written into a caller-owned buffer', () => {
  const random = rng();
  const z = uniform(random, 40, -2, 2);
  const y = distributions(random, 20, 2);
  const buffer = new Float32Array(40).fill(NaN);
  for (const run of [
    (o: { dLogits?: Float32Array }) => xentLoss(z, y, 2, o),
    (o: { dLogits?: Float32Array }) => logconfLoss(z, y, 2, { alpha: 0.5, ...o }),
    (o: { dLogits?: Float32Array }) => productLoss(z, y, 2, { alpha: 1, beta: 2, ...o }),
  ]) {
    const fresh = run({});
    const reused = run({ dLogits: buffer });
    expect(reused.dLogits).toBe(buffer);
    expect(reused.loss).toBe(fresh.loss);
    expect(buffer).toEqual(fresh.dLogits);
  }
  expect(() => xentLoss(z, y, 2, { dLogits: new Float32Array(39) })).toThrow(/opts\.dLogits must have N\*C = 40 elements/);
  expect(() => xentLoss(z, y, 2, { dLogits: z })).toThrow(/opts\.dLogits must not overlap logits/);
  expect(() => logconfLoss(z, y, 2, { alpha: 0.5, dLogits: y })).toThrow(/opts\.dLogits must not overlap weakTargets/);
  const shared = new Float32Array(80);
  shared.set(z);
  expect(() => xentLoss(shared.subarray(0, 40), y, 2, { dLogits: shared.subarray(20, 60) })).toThrow(/must not overlap logits/);
});

describe('the native losses as tfjs ops', () => {
  const random = rng();
  test.each(settings.map((s) => [name(s), s] as const))('%s: value and gradient match the tfjs reference', (_, s) => {
    const [n, c] = [40, 2];
    const z = tf.tensor2d(uniform(random, n * c, -3, 3), [n, c]);
    const y = tf.tensor2d(distributions(random, n, c), [n, c]);
    const op = (x: tf.Tensor) => {
      const logits = x as tf.Tensor2D;
      if (s.loss === 'xent') return xentLossOp(logits, y);
      if (s.loss === 'logconf') return logconfLossOp(logits, y, { alpha: s.alpha! });
      return productLossOp(logits, y, { alpha: s.alpha!, beta: s.beta! });
    };
    const a = tf.valueAndGrad(op)(z);
    const b = tf.valueAndGrad((x: tf.Tensor) => referenceTf(s, x as tf.Tensor2D, y))(z);
    expect(relativeError(a.value.dataSync(), b.value.dataSync())).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(a.grad.dataSync(), b.grad.dataSync(), gradientFloor(n))).toBeLessThanOrEqual(TOLERANCE);
    // Scaling the loss scales the gradient: the op's gradient uses the incoming dy.
    const scaled = tf.grad((x: tf.Tensor) => tf.mul(op(x), 3))(z);
    expect(relativeError(scaled.dataSync(), tf.mul(b.grad, 3).dataSync(), 3 * gradientFloor(n))).toBeLessThanOrEqual(TOLERANCE);
  });

  test('xentLossOp is differentiable in the targets too', () => {
    const z = tf.tensor2d(uniform(random, 8, -2, 2), [4, 2]);
    const y = tf.tensor2d(distributions(random, 4, 2), [4, 2]);
    const a = tf.grad((t: tf.Tensor) => xentLossOp(z, t as tf.Tensor2D))(y);
    const b = tf.grad((t: tf.Tensor) => xentLossReference(z, t as tf.Tensor2D))(y);
    expect(relativeError(a.dataSync(), b.dataSync())).toBeLessThanOrEqual(TOLERANCE);
  });
});
