// The engine's key/value cache (Engine.decode, used by NativeModel.nextTokenLogits): the logits of
// every step of a generation equal those of the full forward pass over the same window (itself
// checked against the tfjs twin in engine.test.ts), on every architecture preset, through the
// context limit (where the window slides and the cache restarts), after a weight change, after a
// divergent context (a shorter common prefix), and its refusals.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type * as Native from '@w2s/native';
import { PRESETS, parameterSpecs, withHead, type ModelConfig, type Weights } from '../src/config.js';
import { NativeModel } from '../src/engine.js';
import { argmax, generate, type NextTokenModel } from '../src/generate.js';
import { mulberry32, normalSource } from '@w2s/random';
import { testSeed } from '../../../tests/support/seed.js';

const seed = testSeed;
const native: typeof Native = createRequire(import.meta.url)('@w2s/native');

function randomWeights(config: ModelConfig, s: number): Weights {
  const normal = normalSource(mulberry32(s));
  return new Map(
    parameterSpecs(config).map((spec) => {
      const isNorm = spec.name.endsWith('Norm.weight');
      return [spec.name, Float32Array.from({ length: spec.shape.reduce((a, b) => a * b, 1) }, () => (isNorm ? 1 : 0) + 0.3 * normal())];
    }),
  );
}

function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** The logits of the last token of `context` by the full forward pass (no cache). */
const fullLogits = (model: NativeModel, context: readonly number[]) =>
  model.forward({ tokens: Int32Array.from(context), lengths: Int32Array.of(context.length), batch: 1, seqLen: context.length }, { logitsAt: 'last' });

// Context 12: generation runs past it, and the window slides.
const CONFIGS: [string, ModelConfig][] = (['gpt2-tiny', 'llama-tiny', 'neox-tiny', 'qwen2-tiny'] as const).map((name) => [name, { ...PRESETS[name], contextLength: 12 }]);

describe.each(CONFIGS)('key/value cache: %s', (_, config) => {
  it(`every generated token's logits equal the full forward's on the same window, past the context limit (seed ${seed})`, async () => {
    const model = new NativeModel(config, { weights: randomWeights(config, seed) });
    const rng = mulberry32(seed + 1);
    const prompt = Array.from({ length: 5 }, () => Math.floor(rng() * config.vocabSize));
    // A model that checks each cached call against the full forward, then answers with the cached logits.
    const errors: number[] = [];
    const checked: NextTokenModel = {
      config,
      async nextTokenLogits(context) {
        const cached = await model.nextTokenLogits(context);
        errors.push(relativeError(cached, await fullLogits(model, context)));
        return cached;
      },
    };
    const tokens = await generate(checked, prompt, { maxTokens: 20 });
    expect(tokens).toHaveLength(20);
    expect(Math.max(...errors)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('a changed context reuses only the common prefix; a weight change empties the cache', async () => {
    const weights = randomWeights(config, seed + 2);
    const model = new NativeModel(config, { weights });
    const a = [1, 2, 3, 4, 5, 6];
    await model.nextTokenLogits(a);
    const b = [1, 2, 3, 9, 8];
    expect(relativeError(await model.nextTokenLogits(b), await fullLogits(model, b))).toBeLessThan(1e-5);
    // The same context again: only its last token reruns.
    expect(relativeError(await model.nextTokenLogits(b), await fullLogits(model, b))).toBeLessThan(1e-5);
    const before = await model.nextTokenLogits([...b, 7]);
    model.loadWeights(randomWeights(config, seed + 3));
    const after = await model.nextTokenLogits([...b, 7]);
    expect(relativeError(after, await fullLogits(model, [...b, 7]))).toBeLessThan(1e-5);
    expect(relativeError(after, before)).toBeGreaterThan(1e-2);
    model.dispose();
  });
});

describe('key/value cache: the engine API', () => {
  const config = { ...PRESETS['llama-tiny'], contextLength: 8 };

  it('decode checks start against the cache and the context, tokens against the vocabulary', async () => {
    const engine = new native.Engine(config, { seed: 1 });
    expect(engine.cachedPositions()).toBe(0);
    expect(() => engine.decode(Int32Array.of(1, 2), 1)).toThrow(/start must be <= cachedPositions\(\) = 0, got 1/);
    const logits = await engine.decode(Int32Array.of(1, 2, 3), 0);
    expect(logits).toHaveLength(config.vocabSize);
    expect(engine.cachedPositions()).toBe(3);
    expect(() => engine.decode(Int32Array.of(1, 2, 3, 4, 5, 6), 3)).toThrow(/tokens must hold 1 to contextLength - start = 5 ids, got 6/);
    expect(() => engine.decode(new Int32Array(0), 3)).toThrow(/tokens must hold 1 to contextLength - start = 5 ids, got 0/);
    expect(() => engine.decode(Int32Array.of(config.vocabSize), 3)).toThrow(/tokens\[0\] must be in \[0, 97\), got 97/);
    // Greedy next tokens from the cache and from scratch agree.
    const next = await engine.decode(Int32Array.of(4), 3);
    const scratch = await engine.decode(Int32Array.of(1, 2, 3, 4), 0);
    expect(argmax(next)).toBe(argmax(scratch));
    expect(relativeError(next, scratch)).toBeLessThan(1e-5);
    engine.dispose();
    const classifier = new native.Engine(withHead(config, { kind: 'classifier', numClasses: 2 }), { seed: 1 });
    expect(() => classifier.decode(Int32Array.of(1), 0)).toThrow(/decode needs a language-model head/);
    classifier.dispose();
  });

  it('a training step after decoding still trains, and empties the cache', async () => {
    const model = new NativeModel(config, { weights: randomWeights(config, seed + 4) });
    await model.nextTokenLogits([1, 2, 3]);
    const tokens = Int32Array.of(1, 2, 3, 4, 5, 6);
    await model.trainStep([{ tokens, lengths: Int32Array.of(6), batch: 1, seqLen: 6, loss: 'token', targets: Int32Array.of(2, 3, 4, 5, 6, -1) }], { lr: 0.1 });
    expect(relativeError(await model.nextTokenLogits([1, 2, 3]), await fullLogits(model, [1, 2, 3]))).toBeLessThan(1e-5);
    model.dispose();
  });
});
