// The CPU engine's bf16 precision: every matrix product rounds its two inputs to bfloat16 and sums
// in float32 (native/src/cpu/gemm.cpp bf16_gemm); attention, norms, activations, losses and AdamW
// stay float32. Checked against the float64 reference with the same rounding of every linear map's
// inputs (reference64.ts), against the float32 engine's gradients at bfloat16's precision, for
// bit-reproducibility, and by training. Tiny gpt2 and llama configs, both heads, padded rows.
import { describe, expect, it } from 'vitest';
import { PRESETS, parameterSpecs, withHead, type ModelConfig } from '../src/config.js';
import { NativeModel, type Minibatch } from '../src/engine.js';
import { mulberry32 } from '@w2s/random';
import type { Batch } from '../src/batch.js';
import { testSeed } from '../../../tests/support/seed.js';
import { bf16Round, refLogits, to64 } from './reference64.js';
import { relativeError } from './relative-error.js';
import { lmTargets, randomBatch, randomWeights } from './random-inputs.js';

// Fresh random inputs each run; the seed is printed (tests/support/seed.ts), W2S_TEST_SEED replays it.
const seed = testSeed;

/** LM: next-token targets; classifier: soft targets near 0 or 1 (0.05 / 0.95), which one batch can be fit to. */
function minibatch(config: ModelConfig, batch: Batch, s: number): Minibatch {
  if (config.head.kind === 'lm') return { ...batch, loss: 'token', targets: lmTargets(batch) };
  const uniform = mulberry32(s);
  const softTargets = new Float32Array(batch.batch * 2);
  for (let r = 0; r < batch.batch; r++) {
    const p = uniform() < 0.5 ? 0.05 : 0.95;
    softTargets[2 * r] = 1 - p;
    softTargets[2 * r + 1] = p;
  }
  return { ...batch, loss: 'xent', softTargets };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const configs: [string, ModelConfig][] = [
  ['gpt2 lm', PRESETS['gpt2-tiny']],
  ['gpt2 classifier', withHead(PRESETS['gpt2-tiny'], { kind: 'classifier', numClasses: 2 })],
  ['llama lm', PRESETS['llama-tiny']],
  ['llama classifier', withHead(PRESETS['llama-tiny'], { kind: 'classifier', numClasses: 2 })],
];

describe.each(configs)('bf16 products (%s)', (_, config) => {
  it(`logits: the float64 reference with every linear map's inputs rounded to bfloat16 (seed ${seed})`, async () => {
    // The engine's activations are float32 (its GELU, norms and softmax to a few float32 ulps), the
    // reference's float64: an activation within that distance of a tie between two bfloat16 values
    // rounds the other way in one of them, one bfloat16 ulp (2^-8) in one input, and in models this
    // small a few such flips move the logits by a good part of bfloat16's whole effect. So each draw
    // gives the ratio of the engine's distance to the rounded reference to its distance to the
    // unrounded one. Measured over 150 draws per config: median ratio 4e-6 to 1.2e-5, above 0.2
    // in 0.7% to 5.3% of draws, at most 0.88; the unrounded reference 1.5e-3 away at least. The
    // test takes the medians of 16 draws: a median ratio above 0.2 needs 8 of them above (chance
    // below 1e-6 at 5.3% each). An unrounded product (the LM head's, say) would keep its share of
    // the rounding's effect in every draw's ratio (estimated, with 9 products, at about 0.3; not
    // measured); the kernel's rounding itself is checked exactly by test_gemm.
    const ratios: number[] = [], exact: number[] = [];
    for (let draw = 0; draw < 16; draw++) {
      const weights = randomWeights(config, seed + 100 * draw);
      const batch = randomBatch(config, 3, 7, true, seed + 100 * draw + 1);
      const model = new NativeModel(config, { weights, device: { device: 'cpu', precision: 'bf16' } });
      expect(model.deviceName()).toBe('cpu (bf16 products)');
      const logits = await model.forward(batch);
      model.dispose();
      const w64 = to64(weights);
      const fromExact = relativeError(logits, Float32Array.from(refLogits(config, w64, batch)));
      ratios.push(relativeError(logits, Float32Array.from(refLogits(config, w64, batch, undefined, bf16Round))) / fromExact);
      exact.push(fromExact);
    }
    expect(median(ratios)).toBeLessThan(0.2);
    expect(median(exact)).toBeGreaterThan(1e-3);
  });

  it(`gradients: the float32 engine's to bfloat16's precision, bit-identical from run to run (seed ${seed})`, async () => {
    const weights = randomWeights(config, seed + 2);
    const batch = randomBatch(config, 4, 9, true, seed + 3);
    const mb = minibatch(config, batch, seed + 4);
    const gradients = async (precision: 'float32' | 'bf16') => {
      const model = new NativeModel(config, { weights, device: { device: 'cpu', precision } });
      await model.accumulate([mb]);
      const g = model.gradients();
      model.dispose();
      return g;
    };
    const [f32, bf16, again] = [await gradients('float32'), await gradients('bf16'), await gradients('bf16')];
    const largest = Math.max(...parameterSpecs(config).map((s) => Math.hypot(...f32.get(s.name)!)));
    for (const spec of parameterSpecs(config)) {
      expect(again.get(spec.name), spec.name).toEqual(bf16.get(spec.name));
      // Each product's inputs carry a relative rounding error of up to 2^-9, and the backward pass
      // chains a few products per layer. Measured over 600 draws (150 per config) with a floor of
      // 10% of the largest gradient, the worst tensor's error was 0.7-0.9% at the median and 1.85%
      // at most; with a 1% floor, the gpt2 classifier's finalNorm.bias (whose rows' terms cancel to
      // a small sum) reached 8.5%. 6% is far below a wrong gradient's O(1).
      expect(relativeError(bf16.get(spec.name)!, f32.get(spec.name)!, 1e-1 * largest), spec.name).toBeLessThan(6e-2);
    }
  });

  it(`trains: 30 AdamW steps on one batch bring the loss down as float32's do (seed ${seed})`, async () => {
    const weights = randomWeights(config, seed + 5);
    const batch = randomBatch(config, 4, 9, true, seed + 6);
    const mb = minibatch(config, batch, seed + 7);
    const losses = async (precision: 'float32' | 'bf16') => {
      const model = new NativeModel(config, { weights, device: { device: 'cpu', precision } });
      const out: number[] = [];
      for (let step = 0; step < 30; step++) out.push((await model.trainStep([mb], { lr: 3e-3, weightDecay: 0, maxGradNorm: 1 })).loss);
      model.dispose();
      return out;
    };
    const [f32, bf16] = [await losses('float32'), await losses('bf16')];
    // Memorising one batch: float32 took off at least 55% of its first loss in each of 120 draws,
    // and bf16 ended within 0.3% of that decrease of float32's last loss (the median: 0.001%).
    const decrease = f32[0] - f32[29];
    expect(decrease).toBeGreaterThan(0.3 * f32[0]);
    expect(Math.abs(bf16[29] - f32[29])).toBeLessThan(0.05 * decrease);
  });
});

describe('precision on the CPU', () => {
  it('tf32 is refused, naming the option and the choices', () => {
    expect(() => new NativeModel(PRESETS['gpt2-tiny'], { device: { device: 'cpu', precision: 'tf32' } })).toThrow(
      /opts\.precision "tf32" needs opts\.device "cuda".*"float32" or "bf16"/,
    );
  });
});
