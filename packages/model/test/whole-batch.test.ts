// The loss of a classifier step is computed over the step's whole batch, however it is split into
// minibatches (as openai/weak-to-strong stacks its minibatches' logits before calling the loss):
// the same batch in one minibatch or in four gives the same loss and gradients, and both equal
// the tfjs twin's loss over the whole batch. forwardStep/backwardStep (custom losses) replay each
// minibatch's dropout masks when they recompute its forward pass.
import { describe, expect, it } from 'vitest';
import { logconfLossReference, productLossReference, xentLossReference, tf } from '@w2s/kernels';
import { PRESETS, parameterSpecs, withHead, type ModelConfig, type Weights } from '../src/config.js';
import { NativeModel, type Minibatch } from '../src/engine.js';
import { mulberry32, normalSource } from '@w2s/random';
import { twinLossAndGradients } from '../src/tfjs/index.js';
import type { Batch } from '../src/batch.js';
import { testSeed } from '../../../tests/support/seed.js';
import { relativeError } from './relative-error.js';

// Fresh random inputs each run; the seed is printed (tests/support/seed.ts), W2S_TEST_SEED replays it.
const seed = testSeed;

const ROWS = 32;
const SEQ = 6;


function randomWeights(config: ModelConfig, s: number): Weights {
  const normal = normalSource(mulberry32(s));
  return new Map(
    parameterSpecs(config).map((spec) => {
      const w = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      const isNormWeight = spec.name.endsWith('Norm.weight');
      // A larger classifier spreads the logits, so that hardening one row or another matters.
      const std = spec.name.startsWith('classifier') ? 1 : 0.1;
      for (let i = 0; i < w.length; i++) w[i] = (isNormWeight ? 1 : 0) + std * normal();
      return [spec.name, w];
    }),
  );
}

/**
 * ROWS right-padded sequences of SEQ tokens and soft targets [ROWS, 2] (weak labels: p(1) spread
 * over (0, 1)), the rows in ascending p(1): each minibatch of 8 then has its own share of class 1,
 * so that logconf, which hardens to the batch's share, gives another loss per minibatch than over
 * the whole batch (unsorted, the two coincided on some seeds, e.g. W2S_TEST_SEED=99).
 */
function randomData(config: ModelConfig, s: number): { batch: Batch; targets: Float32Array } {
  const uniform = mulberry32(s);
  const tokens = Int32Array.from({ length: ROWS * SEQ }, () => Math.floor(uniform() * config.vocabSize));
  const lengths = Int32Array.from({ length: ROWS }, () => 1 + Math.floor(uniform() * SEQ));
  const p1 = Float64Array.from({ length: ROWS }, () => 0.05 + 0.9 * uniform()).sort();
  const targets = new Float32Array(ROWS * 2);
  for (let r = 0; r < ROWS; r++) {
    targets[2 * r] = 1 - p1[r];
    targets[2 * r + 1] = p1[r];
  }
  return { batch: { tokens, lengths, batch: ROWS, seqLen: SEQ }, targets };
}

function rows(batch: Batch, from: number, to: number): Batch {
  return { tokens: batch.tokens.slice(from * batch.seqLen, to * batch.seqLen), lengths: batch.lengths.slice(from, to), batch: to - from, seqLen: batch.seqLen };
}

type LossCase = { name: string; fields: { loss: 'xent' } | { loss: 'logconf'; alpha: number } | { loss: 'product'; alpha: number; beta: number }; reference: (z: tf.Tensor2D, y: tf.Tensor2D) => tf.Scalar };

const losses: LossCase[] = [
  { name: 'xent', fields: { loss: 'xent' }, reference: (z, y) => xentLossReference(z, y) },
  { name: 'logconf', fields: { loss: 'logconf', alpha: 0.75 }, reference: (z, y) => logconfLossReference(z, y, 0.75) },
  { name: 'product', fields: { loss: 'product', alpha: 1, beta: 0.5 }, reference: (z, y) => productLossReference(z, y, 1, 0.5) },
];

function split(batch: Batch, targets: Float32Array, size: number, fields: LossCase['fields']): Minibatch[] {
  const out: Minibatch[] = [];
  for (let from = 0; from < batch.batch; from += size) {
    const to = Math.min(batch.batch, from + size);
    out.push({ ...rows(batch, from, to), softTargets: targets.slice(2 * from, 2 * to), ...fields } as Minibatch);
  }
  return out;
}

const configs: [string, ModelConfig][] = [
  ['gpt2', withHead(PRESETS['gpt2-tiny'], { kind: 'classifier', numClasses: 2 })],
  ['llama', withHead(PRESETS['llama-tiny'], { kind: 'classifier', numClasses: 2 })],
];

describe.each(configs)('the loss over the whole batch (%s classifier)', (_, config) => {
  it.each(losses)(`$name: minibatches of 8 and of 32 give the same loss and gradients, those of the twin on all 32 rows (seed ${seed})`, async ({ name, fields, reference }) => {
    const weights = randomWeights(config, seed);
    const { batch, targets } = randomData(config, seed + 1);
    const whole = new NativeModel(config, { weights });
    const parts = new NativeModel(config, { weights });
    const a = await whole.accumulate(split(batch, targets, 32, fields));
    const b = await parts.accumulate(split(batch, targets, 8, fields));
    const twin = twinLossAndGradients(config, weights, batch, (z) => reference(z as tf.Tensor2D, tf.tensor2d(targets, [ROWS, 2])));
    expect(b.rows).toBe(ROWS);
    expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-6 * Math.max(1, Math.abs(a.loss)));
    expect(Math.abs(b.loss - twin.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(twin.loss)));
    const ga = whole.gradients(), gb = parts.gradients();
    const largest = Math.max(...parameterSpecs(config).map((s) => Math.hypot(...ga.get(s.name)!)));
    for (const spec of parameterSpecs(config)) {
      // A tensor whose rows' terms cancel to a small sum keeps the absolute rounding of the terms,
      // hence floors relative to the largest gradient. Minibatches of 8 sum the terms in another
      // order than one of 32 (four partial sums; the matrix products block 8 rows otherwise than
      // 32): W2S_TEST_SEED=88109, 'product', gpt2: finalNorm.bias sums to 0.024 against a largest
      // gradient of 5.3 and differs by 6.4e-7. Over 240 seeded cases (40 seeds × 2 models × 3
      // losses) the floor needed to keep every tensor under 1e-5 was at most 0.75% of the largest
      // gradient; 10% leaves a margin of 13, and still asks 1e-6 of the largest of every tensor.
      expect(relativeError(gb.get(spec.name)!, ga.get(spec.name)!, 1e-1 * largest), spec.name).toBeLessThan(1e-5);
      // Against the twin (float32 too, summing in yet another order) the floor is 1% of the largest
      // gradient and the bound 1e-4 (W2S_TEST_SEED=1549871222, 'product', gpt2: finalNorm.bias sums
      // to 0.016 against a largest gradient of 3.7, and differs by 1.9e-6).
      expect(relativeError(gb.get(spec.name)!, twin.gradients.get(spec.name)!, 1e-2 * largest), spec.name).toBeLessThan(1e-4);
    }
    if (name === 'logconf') {
      // What the test tells apart: logconf per minibatch of 8 (the mean of its four losses) is another loss.
      let perMinibatch = 0;
      for (let from = 0; from < ROWS; from += 8)
        perMinibatch += twinLossAndGradients(config, weights, rows(batch, from, from + 8), (z) => reference(z as tf.Tensor2D, tf.tensor2d(targets.slice(2 * from, 2 * from + 16), [8, 2]))).loss / 4;
      expect(Math.abs(perMinibatch - twin.loss)).toBeGreaterThan(1e-4);
    }
    whole.dispose();
    parts.dispose();
  });
});

describe('forwardStep and backwardStep (a loss computed outside the engine)', () => {
  const config = configs[0][1];

  it(`a custom loss over the whole batch gives the built-in loss's gradients (seed ${seed})`, async () => {
    const weights = randomWeights(config, seed + 4);
    const { batch, targets } = randomData(config, seed + 5);
    const builtIn = new NativeModel(config, { weights });
    const custom = new NativeModel(config, { weights });
    await builtIn.accumulate(split(batch, targets, 32, { loss: 'logconf', alpha: 0.5 }));
    const parts = [rows(batch, 0, 5), rows(batch, 5, 17), rows(batch, 17, 32)];
    const logits = await custom.forwardStep(parts);
    expect(logits.length).toBe(ROWS * 2);
    const dLogits = tf.tidy(() => tf.grad((z: tf.Tensor) => logconfLossReference(z as tf.Tensor2D, tf.tensor2d(targets, [ROWS, 2]), 0.5))(tf.tensor2d(logits, [ROWS, 2])).dataSync() as Float32Array);
    await custom.backwardStep(Float32Array.from(dLogits));
    const a = builtIn.gradients(), b = custom.gradients();
    const largest = Math.max(...parameterSpecs(config).map((s) => Math.hypot(...a.get(s.name)!)));
    for (const spec of parameterSpecs(config)) expect(relativeError(b.get(spec.name)!, a.get(spec.name)!, 1e-3 * largest), spec.name).toBeLessThan(1e-4);
  });

  it(`recomputed forwards replay their dropout masks (seed ${seed})`, async () => {
    const weights = randomWeights(config, seed + 6);
    const { batch } = randomData(config, seed + 7);
    const parts = [rows(batch, 0, 10), rows(batch, 10, 20), rows(batch, 20, 32)];
    const uniform = mulberry32(seed + 8);
    const dLogits = Float32Array.from({ length: ROWS * 2 }, () => uniform() - 0.5);
    // The same seed draws the same masks for the same sequence of training forwards: `stepwise`
    // runs each forward and its backward at once, keeping every activation; `whole` recomputes.
    const whole = new NativeModel(config, { weights, seed: 3, dropout: 0.3 });
    const stepwise = new NativeModel(config, { weights, seed: 3, dropout: 0.3 });
    const logits = await whole.forwardStep(parts);
    await whole.backwardStep(dLogits);
    let offset = 0;
    const reference: number[] = [];
    for (const part of parts) {
      reference.push(...(await stepwise.forward(part, { training: true })));
      await stepwise.backward(dLogits.slice(offset, offset + part.batch * 2));
      offset += part.batch * 2;
    }
    expect(Array.from(logits)).toEqual(reference);
    const eval0 = await new NativeModel(config, { weights }).forward(batch);
    expect(relativeError(logits, eval0, 1e-6)).toBeGreaterThan(1e-3); // dropout was on
    const a = stepwise.gradients(), b = whole.gradients();
    for (const spec of parameterSpecs(config)) expect(relativeError(b.get(spec.name)!, a.get(spec.name)!, 1e-6), spec.name).toBeLessThan(1e-5);
  });

  it('refuses a backwardStep without its forwardStep, after another forward, or with the wrong gradient', async () => {
    const model = new NativeModel(config, { seed: 1 });
    const { batch, targets } = randomData(config, 9);
    await expect(model.backwardStep(new Float32Array(ROWS * 2))).rejects.toThrow(/backwardStep needs forwardStep first/);
    await model.forwardStep([rows(batch, 0, 16), rows(batch, 16, 32)]);
    await expect(model.backwardStep(new Float32Array(3))).rejects.toThrow(/dLogits must hold 64 floats/);
    await model.forward(batch);
    await expect(model.backwardStep(new Float32Array(ROWS * 2))).rejects.toThrow(/backwardStep needs forwardStep first/);
    const mixed = [...split(rows(batch, 0, 16), targets.slice(0, 32), 16, { loss: 'logconf', alpha: 0.5 }), ...split(rows(batch, 16, 32), targets.slice(32), 16, { loss: 'logconf', alpha: 0.25 })];
    await expect(model.accumulate(mixed)).rejects.toThrow(/minibatch 1 carries another loss than minibatch 0/);
    const lm = new NativeModel(PRESETS['gpt2-tiny'], { seed: 1 });
    await expect(lm.forwardStep([batch])).rejects.toThrow(/forwardStep needs a classifier head/);
  });
});
