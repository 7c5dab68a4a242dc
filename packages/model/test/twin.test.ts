// The tfjs twin against a float64 plain-JS transformer written here from config.ts's contract
// (loops only, no tfjs): logits, loss, gradients by central finite differences of the float64 loss,
// padding invariance, and AdamW on hand-derivable inputs. Layouts as in ../src/tfjs/twin.ts:
// tokens [B·T], lengths [B], LM logits [B, T, V], classifier logits [B, C], weights [out, in].
// Fresh random seed per run, printed; replay with W2S_TEST_SEED.
import { xentLossReference, tf } from '@w2s/kernels';
import { beforeAll, describe, expect, it } from 'vitest';
import { parameterSpecs, PRESETS, withArchitecture, withHead, type ModelConfig, type Weights } from '../src/config.js';
import { initWeights } from '../src/tfjs/init.js';
import { mulberry32, normalSource } from '@w2s/random';
import { TwinAdamW } from '../src/tfjs/adamw.js';
import { lmLoss, twinForward, twinLossAndGradients, weightsToTensors, type Batch } from '../src/tfjs/twin.js';
import { testSeed } from '../../../tests/support/seed.js';
import { finiteDifferenceFailures, refLogits, to64, type Weights64 } from './reference64.js';

const seed = testSeed; // printed by tests/support/seed.ts

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const gpt2 = PRESETS['gpt2-tiny'];
const llama = PRESETS['llama-tiny'];
const CONFIGS: [string, ModelConfig][] = [
  ['gpt2-tiny', gpt2],
  ['llama-tiny', llama],
  ['llama-tiny tied', withArchitecture(llama, { tiedEmbeddings: true })],
  ['neox-tiny', PRESETS['neox-tiny']],
  ['neox-tiny serial, tanh GELU, no biases, classifier', withHead(withArchitecture(PRESETS['neox-tiny'], { parallelResidual: false, mlp: 'geluTanh', biases: { qkv: false, attnOut: false, mlp: false } }), { kind: 'classifier', numClasses: 2 })],
  ['qwen2-tiny', PRESETS['qwen2-tiny']],
  ['llama-tiny with every bias', withArchitecture(llama, { biases: { qkv: true, attnOut: true, mlp: true } })],
  ['gpt2-tiny classifier', withHead(gpt2, { kind: 'classifier', numClasses: 3 })],
  ['llama-tiny classifier', withHead(llama, { kind: 'classifier', numClasses: 2 })],
];

const B = 3;
const T = 7;
const PADDED = Int32Array.from([7, 4, 1]);
const FULL = Int32Array.from([7, 7, 7]);

// ---- test data ----------------------------------------------------------------------------------

/** Seeded init, made harder than the default: normal weights ×5 (attention far from uniform), and
 *  noise on the constants (norm weights and biases, the zero classifier) so that none is trivial. */
function testWeights(config: ModelConfig, s: number): Weights {
  const weights = initWeights(config, s);
  const normal = normalSource(mulberry32(s ^ 0x5bd1e995));
  for (const spec of parameterSpecs(config)) {
    const w = weights.get(spec.name)!;
    for (let i = 0; i < w.length; i++) w[i] = spec.init.kind === 'normal' ? 5 * w[i] : w[i] + 0.1 * normal();
  }
  return weights;
}

function makeBatch(config: ModelConfig, lengths: Int32Array, s: number): Batch {
  const random = mulberry32(s);
  const tokens = Int32Array.from({ length: B * T }, () => Math.floor(random() * config.vocabSize));
  return { tokens, lengths, batch: B, seqLen: T };
}

/** Next-token targets inside each sequence, −1 elsewhere. */
function nextTokenTargets(batch: Batch): Int32Array {
  const { tokens, lengths, seqLen } = batch;
  return Int32Array.from(tokens, (_, n) => {
    const b = Math.floor(n / seqLen);
    const t = n % seqLen;
    return t + 1 < lengths[b] ? tokens[n + 1] : -1;
  });
}

function softTargets(rows: number, classes: number, s: number): Float64Array {
  const random = mulberry32(s);
  const y = Float64Array.from({ length: rows * classes }, () => random() + 0.05);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += y[r * classes + c];
    for (let c = 0; c < classes; c++) y[r * classes + c] /= sum;
  }
  return y;
}

/** The problem each config is tested on: weights, a padded batch, the loss's targets. */
function problem(config: ModelConfig, lengths = PADDED) {
  const weights = testWeights(config, seed);
  const batch = makeBatch(config, lengths, seed + 1);
  const targets = config.head.kind === 'lm' ? nextTokenTargets(batch) : softTargets(B, config.head.numClasses, seed + 2);
  const lossFn = (logits: tf.Tensor): tf.Scalar =>
    config.head.kind === 'lm'
      ? lmLoss(logits, targets as Int32Array)
      : xentLossReference(logits as tf.Tensor2D, tf.tensor2d(Float32Array.from(targets), [B, config.head.numClasses]));
  return { weights, batch, targets, lossFn };
}

/** max |a − b| / max |b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return Number.isNaN(num) ? Infinity : num / den;
}

function twinLogits(config: ModelConfig, weights: Weights, batch: Batch): Float32Array {
  const params = weightsToTensors(config, weights);
  const logits = tf.tidy(() => twinForward(config, params, batch).dataSync<'float32'>().slice());
  params.forEach((t) => t.dispose());
  return logits;
}

/** Mean over rows r with weight of Σ_c target(r, c)·(−log softmax(z_r)_c). */
function refLoss(config: ModelConfig, w: Weights64, batch: Batch, targets: Int32Array | Float64Array): number {
  const z = refLogits(config, w, batch);
  const C = config.head.kind === 'lm' ? config.vocabSize : config.head.numClasses;
  let sum = 0;
  let count = 0;
  for (let r = 0; r < z.length / C; r++) {
    const logits = z.subarray(r * C, (r + 1) * C);
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((s, u) => s + Math.exp(u - max), 0));
    if (config.head.kind === 'lm') {
      const t = targets[r];
      if (t < 0) continue;
      sum += lse - logits[t];
    } else for (let c = 0; c < C; c++) sum += targets[r * C + c] * (lse - logits[c]);
    count++;
  }
  return sum / count;
}

// ---- forward -------------------------------------------------------------------------------------

describe.each(CONFIGS)('%s', (_, config) => {
  it.each([
    ['padded', PADDED],
    ['unpadded', FULL],
  ])('logits match the float64 reference (%s)', (__, lengths) => {
    const { weights, batch } = problem(config, lengths);
    const expected = refLogits(config, to64(weights), batch);
    const err = relativeError(twinLogits(config, weights, batch), expected);
    expect(err).toBeLessThan(1e-5);
  });

  it('loss and gradients match the float64 reference and its central finite differences', () => {
    const { weights, batch, targets, lossFn } = problem(config);
    const { loss, logits, gradients } = twinLossAndGradients(config, weights, batch, lossFn);
    const w64 = to64(weights);
    expect(relativeError(logits, refLogits(config, w64, batch))).toBeLessThan(1e-5);
    expect(Math.abs(loss - refLoss(config, w64, batch, targets))).toBeLessThan(1e-5 * Math.abs(loss));

    const specs = parameterSpecs(config);
    expect([...gradients.keys()]).toEqual(specs.map((s) => s.name));
    const random = mulberry32(seed + 3);
    const failures = finiteDifferenceFailures(specs.map((spec) => spec.name), gradients, w64, (w) => refLoss(config, w, batch, targets), random, 'twin');
    expect(failures).toEqual([]);
  });

  it('valid positions ignore the pad tokens and match each sequence run alone', () => {
    const { weights, batch } = problem(config);
    const repadded = { ...batch, tokens: batch.tokens.slice() };
    for (let b = 0; b < B; b++)
      for (let t = PADDED[b]; t < T; t++) repadded.tokens[b * T + t] = (batch.tokens[b * T + t] + 1 + b + t) % config.vocabSize;
    const a = twinLogits(config, weights, batch);
    const c = twinLogits(config, weights, repadded);
    const width = config.head.kind === 'lm' ? config.vocabSize : config.head.numClasses;
    // The rows that depend only on valid tokens: positions < length (LM), or every row (classifier).
    const validRows = (x: Float32Array, b: number, length: number, seqLen: number) =>
      config.head.kind === 'lm' ? x.slice(b * seqLen * width, (b * seqLen + length) * width) : x.slice(b * width, (b + 1) * width);
    for (let b = 0; b < B; b++) {
      const reference = validRows(a, b, PADDED[b], T);
      expect(validRows(c, b, PADDED[b], T)).toEqual(reference);
      const alone = { tokens: batch.tokens.slice(b * T, b * T + PADDED[b]), lengths: Int32Array.of(PADDED[b]), batch: 1, seqLen: PADDED[b] };
      expect(relativeError(validRows(twinLogits(config, weights, alone), 0, PADDED[b], PADDED[b]), reference)).toBeLessThan(1e-6);
    }
    // ... and the last valid token does matter.
    const changed = { ...batch, tokens: batch.tokens.slice() };
    changed.tokens[PADDED[1] - 1 + T] = (batch.tokens[PADDED[1] - 1 + T] + 1) % config.vocabSize;
    expect(validRows(twinLogits(config, weights, changed), 1, PADDED[1], T)).not.toEqual(validRows(a, 1, PADDED[1], T));
  });
});

// ---- training plumbing ---------------------------------------------------------------------------

describe('twinLossAndGradients', () => {
  it('allocates no tensors that outlive the call', () => {
    const { weights, batch, lossFn } = problem(llama);
    const before = tf.memory().numTensors;
    twinLossAndGradients(llama, weights, batch, lossFn);
    twinLogits(llama, weights, batch);
    expect(() => twinLossAndGradients(llama, weights, { ...batch, lengths: Int32Array.of(1, 2, 99) }, lossFn)).toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('in linear-probe mode returns only the head gradients (classifier, untied lmHead), equal to the full ones', () => {
    const config = withHead(gpt2, { kind: 'classifier', numClasses: 3 });
    const { weights, batch, lossFn } = problem(config);
    const full = twinLossAndGradients(config, weights, batch, lossFn);
    const probe = twinLossAndGradients(config, weights, batch, lossFn, { linearProbe: true });
    expect([...probe.gradients.keys()]).toEqual(['classifier.weight']);
    expect(relativeError(probe.gradients.get('classifier.weight')!, full.gradients.get('classifier.weight')!)).toBeLessThan(1e-6);
    expect(probe.loss).toBe(full.loss);
    const lm = problem(llama);
    const lmProbe = twinLossAndGradients(llama, lm.weights, lm.batch, lm.lossFn, { linearProbe: true });
    expect([...lmProbe.gradients.keys()]).toEqual(['lmHead.weight']);
    expect(() => twinLossAndGradients(gpt2, weights, batch, lossFn, { linearProbe: true })).toThrow(/no trainable parameters/);
    expect(() => new TwinAdamW(gpt2, { lr: 1e-3 }, { linearProbe: true })).toThrow(/no trainable parameters/);
  });

  it('rejects malformed batches and weights, naming the problem', () => {
    const { weights, batch, lossFn } = problem(gpt2);
    const run = (b: Batch, w = weights) => () => twinLossAndGradients(gpt2, w, b, lossFn);
    expect(run({ ...batch, lengths: Int32Array.from([7, 0, 1]) })).toThrow(/lengths\[1\] = 0/);
    expect(run({ ...batch, tokens: batch.tokens.map((t, i) => (i === 5 ? gpt2.vocabSize : t)) })).toThrow(/tokens\[5\]/);
    expect(run({ ...batch, seqLen: gpt2.contextLength + 1 })).toThrow(/seqLen/);
    const missing = new Map(weights);
    missing.delete('finalNorm.bias');
    expect(run(batch, missing)).toThrow(/missing parameter "finalNorm.bias"/);
    expect(() => lmLoss(tf.zeros([1, 2, 5]), Int32Array.of(-1, -1))).toThrow(/every target is ignored/);
  });

  it('AdamW steps on the twin gradients lower the loss', () => {
    const { weights, batch, lossFn } = problem(llama);
    const opt = new TwinAdamW(llama, { lr: 3e-3, weightDecay: 0.01, maxGradNorm: 1 });
    const losses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const { loss, gradients } = twinLossAndGradients(llama, weights, batch, lossFn);
      losses.push(loss);
      opt.step(weights, gradients);
    }
    expect(opt.t).toBe(4);
    expect(losses[3]).toBeLessThan(losses[0]);
  });
});

describe('initWeights', () => {
  it('is deterministic and follows each spec', () => {
    const a = initWeights(gpt2, 7);
    expect(initWeights(gpt2, 7)).toEqual(a);
    expect(initWeights(gpt2, 8).get('tokenEmbedding.weight')).not.toEqual(a.get('tokenEmbedding.weight'));
    for (const spec of parameterSpecs(gpt2)) {
      const w = a.get(spec.name)!;
      expect(w.length).toBe(spec.shape.reduce((x, y) => x * y, 1));
      if (spec.init.kind === 'constant') expect(w.every((x) => x === (spec.init as { value: number }).value)).toBe(true);
      else if (w.length >= 4096) {
        const mean = w.reduce((s, x) => s + x, 0) / w.length;
        const std = Math.sqrt(w.reduce((s, x) => s + (x - mean) ** 2, 0) / w.length);
        expect(Math.abs(mean)).toBeLessThan((5 * spec.init.std) / Math.sqrt(w.length));
        expect(Math.abs(std / spec.init.std - 1)).toBeLessThan(0.05);
      }
    }
  });
});

// ---- AdamW ---------------------------------------------------------------------------------------

describe('TwinAdamW', () => {
  const config = withHead(gpt2, { kind: 'classifier', numClasses: 3 });
  const randomGradients = (s: number): Weights => {
    const normal = normalSource(mulberry32(s));
    return new Map(parameterSpecs(config).map((spec) => [spec.name, Float32Array.from({ length: spec.shape.reduce((a, b) => a * b, 1) }, () => normal())]));
  };
  const norm = (g: Weights, names = [...g.keys()]) => Math.sqrt(names.reduce((s, n) => s + g.get(n)!.reduce((t, x) => t + x * x, 0), 0));
  const copy = (w: Weights): Weights => new Map([...w].map(([n, x]) => [n, x.slice()]));
  // sign(g) up to eps = 1e-8: the step-1 direction m̂ / (sqrt(v̂) + eps) = g / (|g| + eps).
  const sign = (g: Weights, name: string, i: number) => g.get(name)![i] / (Math.abs(g.get(name)![i]) + 1e-8);
  // Every entry p1 − p0 against expected(name, i), to float32 rounding of p (|p| < 1) relative to lr.
  const expectMoves = (p0: Weights, p1: Weights, lr: number, expected: (name: string, i: number) => number) => {
    for (const [name, w] of p1) {
      let worst = 0;
      w.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - p0.get(name)![i] - expected(name, i)))));
      expect(worst, name).toBeLessThan(1e-5 * lr);
    }
  };

  it('moves every entry by −lr·sign(g) on step 1, and by +lr·sign(g)/19 when step 2 reverses g', () => {
    const lr = 1e-2;
    const p0 = initWeights(config, seed);
    const g = randomGradients(seed + 1);
    const opt = new TwinAdamW(config, { lr });
    const p1 = copy(p0);
    expect(opt.step(p1, g)).toBeCloseTo(norm(g), 10);
    expectMoves(p0, p1, lr, (n, i) => -lr * sign(g, n, i));
    // m = 0.9·0.1·g − 0.1·g = −0.01·g, m̂ = −g/19; v = (0.999·0.001 + 0.001)·g², v̂ = g².
    const p2 = copy(p1);
    opt.step(p2, new Map([...g].map(([n, x]) => [n, x.map((u) => -u)])));
    expectMoves(p1, p2, lr, (n, i) => (lr * sign(g, n, i)) / 19);
    expect(opt.t).toBe(2);
  });

  it('decays only the parameters whose spec says decay', () => {
    const lr = 1e-2;
    const weightDecay = 0.1;
    const p0 = initWeights(config, seed);
    const g = randomGradients(seed + 1);
    const p1 = copy(p0);
    new TwinAdamW(config, { lr, weightDecay }).step(p1, g);
    const decays = new Map(parameterSpecs(config).map((s) => [s.name, s.decay]));
    expect([...decays.values()]).toContain(true);
    expect([...decays.values()]).toContain(false);
    expectMoves(p0, p1, lr, (n, i) => -lr * (sign(g, n, i) + (decays.get(n) ? weightDecay * p0.get(n)![i] : 0)));
  });

  it('clips the gradients to maxGradNorm before the moments, and returns the pre-clip norm', () => {
    const g = randomGradients(seed + 1);
    const total = norm(g);
    for (const maxGradNorm of [total / 4, 2 * total]) {
      const opt = new TwinAdamW(config, { lr: 1e-3, maxGradNorm });
      expect(opt.step(initWeights(config, seed), g)).toBeCloseTo(total, 10);
      const scale = maxGradNorm < total ? maxGradNorm / (total + 1e-6) : 1;
      for (const [name, { m, v }] of opt.moments) {
        const gs = g.get(name)!;
        expect(relativeError(m, Float64Array.from(gs, (x) => 0.1 * scale * x))).toBeLessThan(1e-6);
        expect(relativeError(v, Float64Array.from(gs, (x) => 0.001 * (scale * x) ** 2))).toBeLessThan(1e-6);
      }
    }
  });

  it('in linear-probe mode changes only head parameters and clips by their norm alone', () => {
    const p0 = initWeights(config, seed);
    const g = randomGradients(seed + 1);
    const p1 = copy(p0);
    const opt = new TwinAdamW(config, { lr: 1e-2, weightDecay: 0.1, maxGradNorm: 1e-3 }, { linearProbe: true });
    const heads = parameterSpecs(config).filter((s) => s.head).map((s) => s.name);
    expect(heads).toEqual(['classifier.weight']);
    expect(opt.step(p1, g)).toBeCloseTo(norm(g, heads), 10);
    expect([...opt.moments.keys()]).toEqual(heads);
    for (const [name, w] of p1) {
      if (heads.includes(name)) expect(w).not.toEqual(p0.get(name));
      else expect(w).toEqual(p0.get(name));
    }
  });
});
