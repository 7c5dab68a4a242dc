// Sampling (generate.ts) against the distribution it promises, softmax(logits / temperature),
// computed here in float64: exactly, through sampleIndex's inverse CDF on an even grid of uniform
// numbers, and statistically, through generate's own seeded draws (fresh seed each run, printed;
// W2S_TEST_SEED replays it).
import { describe, expect, it } from 'vitest';
import { PRESETS, validateConfig, type ModelConfig } from '../src/config.js';
import { NativeModel } from '../src/engine.js';
import { argmax, generate, sampleIndex, type NextTokenModel } from '../src/generate.js';
import { seedFor } from '../../../tests/support/seed.js';

const LOGITS = [2, 1, 0.5, 0, -1, -3];

/** softmax(z / T) in float64, written from its definition. */
function softmax(z: readonly number[], temperature: number): number[] {
  const scaled = z.map((v) => v / temperature);
  const max = Math.max(...scaled);
  const e = scaled.map((v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** A model whose next-token logits are always the same. */
function constantModel(logits: readonly number[]): NextTokenModel {
  const config: ModelConfig = { ...PRESETS['gpt2-tiny'], vocabSize: logits.length, contextLength: 4 };
  return { config, nextTokenLogits: async () => Float32Array.from(logits) };
}

describe('sampling from softmax(logits / temperature)', () => {
  it.each([0.5, 1, 2])('sampleIndex is the inverse CDF of softmax(z / %s): on an even grid of u, each index\'s share is its probability', (temperature) => {
    const M = 100_000;
    const counts = new Array(LOGITS.length).fill(0);
    const z = Float32Array.from(LOGITS);
    for (let k = 0; k < M; k++) counts[sampleIndex(z, temperature, (k + 0.5) / M)]++;
    // The grid puts into each index's interval of [0, 1) its length · M points, ± 1.
    const p = softmax(LOGITS, temperature);
    for (let i = 0; i < p.length; i++) expect(Math.abs(counts[i] - p[i] * M), `index ${i}: ${counts[i]} of ${M}, p = ${p[i]}`).toBeLessThanOrEqual(1 + 1e-6 * M);
  });

  it.each([
    [0.5, 0],
    [1, 0],
    [2, 0],
    [1, 1000], // logits far from 0: the same distribution (no overflow)
  ])('generate draws token frequencies within 5 standard deviations of softmax(z / %s) (logits + %s)', async (temperature, shift) => {
    const N = 20_000;
    const seed = seedFor(`generate T=${temperature} shift=${shift}`);
    const ids = await generate(constantModel(LOGITS.map((v) => v + shift)), [0], { maxTokens: N, temperature, seed });
    expect(ids).toHaveLength(N);
    const counts = new Array(LOGITS.length).fill(0);
    for (const id of ids) counts[id]++;
    // Each count is Binomial(N, p_i): |count − N·p_i| ≤ 5·sqrt(N·p_i·(1 − p_i)) fails by chance with
    // probability under 6e-7 per index (normal tail), about 1.4e-5 over this test's 24 counts.
    const p = softmax(LOGITS, temperature);
    const failures: string[] = [];
    for (let i = 0; i < p.length; i++) {
      const sd = Math.sqrt(N * p[i] * (1 - p[i]));
      if (!(Math.abs(counts[i] - N * p[i]) <= 5 * sd + 1)) failures.push(`index ${i}: ${counts[i]} draws, expected ${(N * p[i]).toFixed(1)} ± ${sd.toFixed(1)} (seed ${seed})`);
    }
    expect(failures).toEqual([]);
  });

  it('temperature 0 is greedy: the first largest logit every time', async () => {
    const ids = await generate(constantModel([0, 3, 1, 3]), [0], { maxTokens: 20, temperature: 0 });
    expect(ids).toEqual(new Array(20).fill(1));
  });
});

describe('generation past contextLength', () => {
  it('each token is chosen from the last contextLength tokens: the model\'s greedy choice on that window', async () => {
    const config: ModelConfig = { ...PRESETS['gpt2-tiny'], contextLength: 8 }; // learned positions: 8 at most
    const model = new NativeModel(config, { seed: seedFor('past contextLength') });
    const prompt = [5, 17, 3];
    const seen: number[][] = [];
    const recording: NextTokenModel = { config, nextTokenLogits: (context) => (seen.push([...context]), model.nextTokenLogits(context)) };
    const ids = await generate(recording, prompt, { maxTokens: 20 });
    expect(ids).toHaveLength(20);
    const sequence = [...prompt, ...ids];
    for (let i = 0; i < ids.length; i++) {
      const end = prompt.length + i; // the tokens before ids[i]
      const window = sequence.slice(Math.max(0, end - config.contextLength), end);
      expect(seen[i], `window of token ${i}`).toEqual(window);
      const logits = await model.forward({ tokens: Int32Array.from(window), lengths: Int32Array.of(window.length), batch: 1, seqLen: window.length }, { logitsAt: 'last' });
      expect(ids[i], `token ${i}`).toBe(argmax(logits));
    }
    expect(seen.slice(-1)[0]).toHaveLength(config.contextLength);
    model.dispose();
  });
});

describe('generation with a sliding window (ModelConfig.slidingWindow)', () => {
  // contextLength is the window W: transformers attends over the last W positions at their true
  // positions, which dropping the oldest tokens would not compute, so the context never slides.
  const config: ModelConfig = { ...PRESETS['llama-tiny'], vocabSize: LOGITS.length, contextLength: 8, slidingWindow: 8 };

  it('runs while the prompt and the new tokens fit in the window (the last new token is never fed back), and is refused before any step past it', async () => {
    const seen: number[] = [];
    const model: NextTokenModel = { config, nextTokenLogits: async (context) => (seen.push(context.length), Float32Array.from(LOGITS)) };
    expect(await generate(model, [1, 2, 3], { maxTokens: 6 })).toEqual(new Array(6).fill(0));
    expect(seen).toEqual([3, 4, 5, 6, 7, 8]);
    seen.length = 0;
    await expect(generate(model, [1, 2, 3], { maxTokens: 7, stopIds: [0] })).rejects.toThrow(
      /^generate: a prompt of 3 tokens and 7 new tokens need a context of 9 tokens, longer than the model's sliding window: its config.json has sliding_window 8, .*; ask for at most 6 new tokens, or shorten the prompt$/,
    );
    await expect(generate(model, new Array(9).fill(1), { maxTokens: 0 })).rejects.toThrow(/sliding_window 8.*; shorten the prompt to at most 8 tokens$/);
    expect(seen).toEqual([]);
    // Without the window, the same context length slides (the test above).
    const { slidingWindow: _, ...plain } = config;
    expect(await generate({ ...model, config: plain }, [1, 2, 3], { maxTokens: 7 })).toHaveLength(7);
    expect(seen.slice(-1)).toEqual([8]);
  });

  it('validateConfig refuses a context longer than the window (e.g. a run that lengthens the context), naming both', () => {
    expect(() => validateConfig({ ...config, contextLength: 16 })).toThrow(
      /model config: slidingWindow must be undefined or an integer in \[contextLength \(16\), 16777216\]: the engine has no windowed attention beyond the window, got 8/,
    );
    expect(validateConfig({ ...config, contextLength: 4 }).slidingWindow).toBe(8);
  });
});
