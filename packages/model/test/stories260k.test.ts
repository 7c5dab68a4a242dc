// The real pretrained Llama-architecture model of ../shared/data/stories260K (llama2.c format):
// it loads, the native engine and the tfjs twin give the same logits on it, and greedy generation
// from BOS gives the same tokens on both, decoding to English text.
import { expect, it } from 'vitest';
import { tf } from '@w2s/kernels';
import { NativeModel } from '../src/engine.js';
import { generate, type NextTokenModel } from '../src/generate.js';
import { loadCheckpoint } from '../src/checkpoints/index.js';
import { Llama2cTokenizer } from '../src/tokenizers/index.js';
import { twinForward, weightsToTensors } from '../src/tfjs/index.js';
import type { ModelConfig, Weights } from '../src/config.js';
import { needsData } from '../../../tests/support/data.js';

const stories = needsData('the stories260K tests', 'stories260K/stories260K.bin', 'stories260K/tok512.bin');
const [modelFile, tokenizerFile] = stories.paths;

/** The twin as a NextTokenModel: a whole forward pass per token, the last position's logits. */
class TwinNextToken implements NextTokenModel {
  private readonly params: Map<string, tf.Tensor>;
  constructor(readonly config: ModelConfig, weights: Weights) {
    this.params = weightsToTensors(config, weights);
  }
  async nextTokenLogits(context: readonly number[]): Promise<Float32Array> {
    const T = context.length;
    const batch = { tokens: Int32Array.from(context), lengths: Int32Array.of(T), batch: 1, seqLen: T };
    return tf.tidy(() => tf.slice(twinForward(this.config, this.params, batch), [0, T - 1, 0], [1, 1, -1]).dataSync<'float32'>().slice());
  }
  dispose(): void {
    this.params.forEach((t) => t.dispose());
  }
}

function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

stories.describe('stories260K (llama2.c checkpoint)', () => {
  it('loads with the header\'s shape', async () => {
    const { config, weights } = await loadCheckpoint(modelFile);
    expect(config).toMatchObject({ architecture: { norm: 'rmsNorm', mlp: 'swiglu', positions: { kind: 'rope', theta: 10000 } }, dModel: 64, dFf: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, contextLength: 512 });
    expect(weights.size).toBeGreaterThan(0);
  });

  it('native engine and tfjs twin give the same logits on a story prompt', async () => {
    const { config, weights } = await loadCheckpoint(modelFile);
    const tokenizer = await Llama2cTokenizer.fromFile(tokenizerFile);
    const texts = ['Once upon a time, there was a little dog.', 'Tom and Sue went to the park to play.'];
    const encoded = texts.map((t) => tokenizer.encode(t, { bos: true }));
    const T = Math.max(...encoded.map((e) => e.length));
    const tokens = new Int32Array(2 * T);
    encoded.forEach((e, b) => tokens.set(e, b * T));
    const batch = { tokens, lengths: Int32Array.from(encoded, (e) => e.length), batch: 2, seqLen: T };
    const native = await new NativeModel(config, { weights }).forward(batch);
    const twin = tf.tidy(() => {
      const params = weightsToTensors(config, weights);
      const out = twinForward(config, params, batch).dataSync<'float32'>().slice();
      params.forEach((t) => t.dispose());
      return out;
    });
    // Positions past a sequence's length are padding: compare the valid ones.
    const valid = (x: Float32Array) => x.filter((_, i) => Math.floor(i / 512) % T < batch.lengths[Math.floor(i / 512 / T)]);
    expect(relativeError(valid(native), valid(twin))).toBeLessThan(1e-4);
  });

  it('greedy generation from BOS gives the same tokens on both, and readable text', async () => {
    const { config, weights } = await loadCheckpoint(modelFile);
    const tokenizer = await Llama2cTokenizer.fromFile(tokenizerFile);
    const bos = tokenizer.bosId!;
    const twin = new TwinNextToken(config, weights);
    const options = { maxTokens: 48, stopIds: [bos, tokenizer.eosId!] };
    const fromNative = await generate(new NativeModel(config, { weights }), [bos], options);
    const fromTwin = await generate(twin, [bos], options);
    twin.dispose();
    expect(fromNative).toEqual(fromTwin);
    const text = tokenizer.decode([bos, ...fromNative]);
    // A story: mostly letters and spaces, several English words of the TinyStories vocabulary.
    expect(text.length).toBeGreaterThan(100);
    expect(text.match(/\b(the|a|was|and|to|she|he|they|upon|time)\b/gi)?.length ?? 0).toBeGreaterThan(5);
  });
});
