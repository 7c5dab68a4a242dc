// The engine's profiler (NativeModel.setProfiling / profile; native/src/engine/profiling_device.h):
// with profiling on, a few training steps of tiny models give per-(category, phase) times that are
// non-negative and sum to at most the steps' wall time, the categories of the architecture, call
// counts that follow from the config (layers × minibatches × steps), and sane thread-pool totals;
// off, the profile is empty and stays unchanged; on or off, training is bit-identical. No timing
// is asserted beyond sums and bounds.
import { describe, expect, it } from 'vitest';
import { setNumThreads } from '@w2s/kernels';
import { mulberry32 } from '@w2s/random';
import { PRESETS, withHead, type ModelConfig } from '../src/config.js';
import { NativeModel, type EngineProfile, type Minibatch } from '../src/engine.js';
import { testSeed } from '../../../tests/support/seed.js';

const seed = testSeed;
const STEPS = 3;
const MINIBATCHES = 2;
const B = 3;
const T = 12;

function minibatches(config: ModelConfig, loss: 'token' | 'logconf' | 'xent', s: number): Minibatch[] {
  const uniform = mulberry32(s);
  return Array.from({ length: MINIBATCHES }, () => {
    const tokens = Int32Array.from({ length: B * T }, () => Math.floor(uniform() * config.vocabSize));
    const lengths = Int32Array.from({ length: B }, (_, b) => (b === 0 ? T : 1 + Math.floor(uniform() * T)));
    const batch = { tokens, lengths, batch: B, seqLen: T };
    if (loss === 'token') return { ...batch, loss, targets: Int32Array.from({ length: B * T }, () => Math.floor(uniform() * config.vocabSize)) };
    const softTargets = new Float32Array(B * 2);
    for (let r = 0; r < B; r++) {
      softTargets[2 * r] = uniform();
      softTargets[2 * r + 1] = 1 - softTargets[2 * r];
    }
    return loss === 'logconf' ? { ...batch, loss, alpha: 0.5, softTargets } : { ...batch, loss, softTargets };
  });
}

const OPTIMIZER = { lr: 1e-3, weightDecay: 0.1, maxGradNorm: 0.5 };

/** Trains STEPS steps; returns the losses and the wall time of the steps as JavaScript sees it. */
async function train(model: NativeModel, mbs: Minibatch[]): Promise<{ losses: number[]; seconds: number }> {
  const losses: number[] = [];
  const start = performance.now();
  for (let i = 0; i < STEPS; i++) losses.push((await model.trainStep(mbs, OPTIMIZER)).loss);
  return { losses, seconds: (performance.now() - start) / 1000 };
}

function entry(p: EngineProfile, category: string, phase: string) {
  return p.entries.find((e) => e.category === category && e.phase === phase);
}
const calls = (p: EngineProfile, category: string, phase: string) => entry(p, category, phase)?.calls ?? 0;

/** What holds for every profile of STEPS training steps measured over `seconds` of wall time. */
function checkProfile(p: EngineProfile, seconds: number): void {
  expect(p.operations).toBe(STEPS);
  expect(p.wallSeconds).toBeGreaterThan(0);
  expect(p.wallSeconds).toBeLessThanOrEqual(seconds + 1e-3);
  for (const e of p.entries) {
    expect(e.seconds, `${e.category} / ${e.phase}`).toBeGreaterThanOrEqual(0);
    expect(e.calls, `${e.category} / ${e.phase}`).toBeGreaterThan(0);
  }
  expect(p.entries.filter((e) => e.phase === 'outside')).toEqual([]);
  const inside = p.entries.filter((e) => e.category !== 'other').reduce((s, e) => s + e.seconds, 0);
  expect(inside).toBeLessThanOrEqual(p.wallSeconds + 1e-6);
  expect(inside).toBeLessThanOrEqual(seconds + 1e-3);
  const other = entry(p, 'other', 'step');
  expect(other).toBeDefined();
  expect(inside + other!.seconds).toBeCloseTo(p.wallSeconds, 6);
  // The pool: busy thread-time within the regions' thread-time, the regions within the steps.
  const pool = p.pool;
  expect(pool.threads).toBeGreaterThanOrEqual(1);
  expect(pool.regions).toBeGreaterThan(0);
  expect(pool.busySeconds).toBeGreaterThan(0);
  expect(pool.busySeconds).toBeLessThanOrEqual(pool.regionThreadSeconds * (1 + 1e-9) + 1e-6);
  expect(pool.regionThreadSeconds).toBeCloseTo(pool.regionSeconds * pool.threads, 9);
  expect(pool.regionSeconds).toBeLessThanOrEqual(p.wallSeconds + 1e-6);
}

/** Trainable parameters, and the AdamW and gradient-norm calls per step (the token embedding apart). */
function optimizerCalls(p: EngineProfile, model: NativeModel): void {
  const params = model.specs.length;
  expect(calls(p, 'adamw', 'optimizer')).toBe((params - 1) * STEPS);
  expect(calls(p, 'adamw (token embedding)', 'optimizer')).toBe(STEPS);
  expect(calls(p, 'gradient norm', 'clip')).toBe((params - 1) * STEPS);
  expect(calls(p, 'gradient norm (token embedding)', 'clip')).toBe(STEPS);
}

describe('the engine profile', () => {
  setNumThreads(2);

  it('gpt2-like classifier (logconf over 2 minibatches): layer norm, gelu, call counts from the config', async () => {
    const config = withHead(PRESETS['gpt2-tiny'], { kind: 'classifier', numClasses: 2 });
    const model = new NativeModel(config, { seed });
    model.setProfiling(true);
    const { seconds } = await train(model, minibatches(config, 'logconf', seed + 1));
    const p = model.profile();
    checkProfile(p, seconds);
    const L = config.nLayers;
    const runs = MINIBATCHES * STEPS;
    // logconf recomputes the forward of every minibatch but the last before its backward pass.
    const forwards = (2 * MINIBATCHES - 1) * STEPS;
    expect(calls(p, 'attention', 'forward')).toBe(L * forwards);
    expect(calls(p, 'attention', 'backward')).toBe(L * runs);
    expect(calls(p, 'layer norm', 'forward')).toBe((2 * L + 1) * forwards);
    expect(calls(p, 'layer norm', 'backward')).toBe((2 * L + 1) * runs);
    expect(calls(p, 'gelu', 'forward')).toBe(L * forwards);
    expect(calls(p, 'gelu', 'backward')).toBe(L * runs);
    // Four products per layer and the head's; the backward's two of each.
    expect(calls(p, 'matmul', 'forward')).toBe((4 * L + 1) * forwards);
    expect(calls(p, 'matmul: weight gradient', 'backward')).toBe((4 * L + 1) * runs);
    expect(calls(p, 'matmul: input gradient', 'backward')).toBe((4 * L + 1) * runs);
    expect(calls(p, 'embedding', 'forward')).toBe(forwards);
    expect(calls(p, 'embedding', 'backward')).toBe(runs);
    expect(calls(p, 'loss', 'loss')).toBe(STEPS); // once over the whole batch
    for (const absent of ['rms norm', 'swiglu', 'rope']) expect(p.entries.filter((e) => e.category === absent)).toEqual([]);
    optimizerCalls(p, model);
  });

  it('llama-like LM (row-wise token loss): rms norm, swiglu, rope, call counts from the config', async () => {
    const config = PRESETS['llama-tiny'];
    const model = new NativeModel(config, { seed });
    model.setProfiling(true);
    const { seconds } = await train(model, minibatches(config, 'token', seed + 2));
    const p = model.profile();
    checkProfile(p, seconds);
    const L = config.nLayers;
    const runs = MINIBATCHES * STEPS;
    expect(calls(p, 'attention', 'forward')).toBe(L * runs);
    expect(calls(p, 'attention', 'backward')).toBe(L * runs);
    expect(calls(p, 'rms norm', 'forward')).toBe((2 * L + 1) * runs);
    expect(calls(p, 'rms norm', 'backward')).toBe((2 * L + 1) * runs);
    expect(calls(p, 'swiglu', 'forward')).toBe(L * runs);
    expect(calls(p, 'swiglu', 'backward')).toBe(L * runs);
    expect(calls(p, 'rope', 'forward')).toBe(L * runs);
    expect(calls(p, 'rope', 'backward')).toBe(L * runs);
    expect(calls(p, 'matmul', 'forward')).toBe((4 * L + 1) * runs);
    expect(calls(p, 'matmul: weight gradient', 'backward')).toBe((4 * L + 1) * runs);
    expect(calls(p, 'matmul: input gradient', 'backward')).toBe((4 * L + 1) * runs);
    expect(calls(p, 'loss', 'loss')).toBe(runs); // row-wise: per minibatch
    for (const absent of ['layer norm', 'gelu']) expect(p.entries.filter((e) => e.category === absent)).toEqual([]);
    optimizerCalls(p, model);
  });

  it('is empty when profiling was never on, and stops counting when turned off; on again resets it', async () => {
    const config = withHead(PRESETS['gpt2-tiny'], { kind: 'classifier', numClasses: 2 });
    const model = new NativeModel(config, { seed });
    const mbs = minibatches(config, 'xent', seed + 3);
    await train(model, mbs);
    const never = model.profile();
    expect(never.entries).toEqual([]);
    expect([never.wallSeconds, never.operations]).toEqual([0, 0]);
    model.setProfiling(true);
    await train(model, mbs);
    model.setProfiling(false);
    const stopped = model.profile();
    await train(model, mbs);
    expect(model.profile().entries).toEqual(stopped.entries);
    expect(model.profile().wallSeconds).toBe(stopped.wallSeconds);
    model.setProfiling(true);
    const reset = model.profile();
    expect([reset.wallSeconds, reset.operations, reset.pool.regions, reset.pool.busySeconds]).toEqual([0, 0, 0, 0]);
    expect(reset.entries.map((e) => [e.category, e.seconds, e.calls])).toEqual([['other', 0, 0]]);
  });

  for (const [name, config, loss] of [
    ['gpt2-like classifier, logconf, dropout', withHead(PRESETS['gpt2-tiny'], { kind: 'classifier', numClasses: 2 }), 'logconf'],
    ['llama-like LM', PRESETS['llama-tiny'], 'token'],
  ] as const)
    it(`trains bit-identically with profiling on and off (${name})`, async () => {
      const mbs = minibatches(config, loss, seed + 4);
      const [plain, profiled] = [new NativeModel(config, { seed, dropout: 0.1 }), new NativeModel(config, { seed, dropout: 0.1 })];
      profiled.setProfiling(true);
      const a = await train(plain, mbs);
      const b = await train(profiled, mbs);
      expect(b.losses).toEqual(a.losses);
      const [wa, wb] = [plain.exportWeights(), profiled.exportWeights()];
      for (const [key, value] of wa) expect(Buffer.from(wb.get(key)!.buffer).equals(Buffer.from(value.buffer)), key).toBe(true);
      expect(profiled.profile().operations).toBe(STEPS);
    });
});
