// Every Hugging Face model type read from a checkpoint folder in transformers' own layout: tiny
// random checkpoints of gpt2, llama (Llama 3 RoPE scaling, tied head, biases), mistral (sliding
// window), qwen2 (q/k/v biases) and gpt_neox (interleaved query_key_value, partial rotary, parallel
// and serial residual, exact GELU, the old buffers present), written here as F32, F16 or BF16, in
// one file or sharded with an index. Each loads to the config written here by hand, and the tfjs
// twin's and the native engine's logits match the float64 forward written from transformers'
// modelling code (hf-reference64.ts) within 1e-4 relative, on a padded batch of awkward shapes
// (head sizes 8, 12, 16; 1 or 2 KV heads). Then save → load round trips.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@w2s/kernels';
import { ARCHITECTURES, type ModelConfig } from '../src/config.js';
import { NativeModel } from '../src/engine.js';
import { CheckpointError, encodeSafetensors, loadCheckpoint, saveCheckpoint } from '../src/checkpoints/index.js';
import { twinForward, weightsToTensors } from '../src/tfjs/index.js';
import { mulberry32 } from '@w2s/random';
import { generate, type NextTokenModel } from '../src/generate.js';
import type { Batch } from '../src/batch.js';
import { testSeed } from '../../../tests/support/seed.js';
import { hfReferenceLogits, hfTensors, type HfJson, type HfTensors } from './hf-reference64.js';

const seed = testSeed;
let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'w2s-hf-models-'));
  await tf.setBackend('cpu');
});
afterAll(() => rm(tmp, { recursive: true, force: true }));
let dirs = 0;

type Storage = 'F32' | 'F16' | 'BF16' | 'F32 sharded' | 'BF16 sharded';

/** F16 bits of a value with at most 11 significant bits and a normal exponent (else throws). */
function f16Bits(x: number): number {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const mantissa = (Math.abs(x) / 2 ** e - 1) * 1024;
  if (!Number.isInteger(mantissa) || e < -14 || e > 15) throw new Error(`${x} is not exact in F16`);
  return (x < 0 ? 0x8000 : 0) | ((e + 15) << 10) | mantissa;
}

/** A safetensors file: F32 through the project's encoder, F16 and BF16 bytes laid out here. */
function safetensorsBytes(tensors: HfTensors, dtype: 'F32' | 'F16' | 'BF16'): Buffer {
  if (dtype === 'F32') return encodeSafetensors(tensors, { format: 'pt' });
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, { shape, data }] of tensors) {
    const bits = dtype === 'F16' ? Uint16Array.from(data, f16Bits) : Uint16Array.from(new Uint32Array(Float32Array.from(data).buffer), (b) => b >>> 16);
    const bytes = Buffer.from(bits.buffer);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const text = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([length, text, ...chunks]);
}

async function writeCheckpoint(json: HfJson, tensors: HfTensors, storage: Storage): Promise<string> {
  const dir = path.join(tmp, `case-${dirs++}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(json));
  const dtype = storage.split(' ')[0] as 'F32' | 'F16' | 'BF16';
  if (!storage.endsWith('sharded')) {
    await writeFile(path.join(dir, 'model.safetensors'), safetensorsBytes(tensors, dtype));
    return dir;
  }
  const names = [...tensors.keys()];
  const shards = [names.slice(0, names.length >> 1), names.slice(names.length >> 1)];
  const weightMap: Record<string, string> = {};
  for (const [i, shard] of shards.entries()) {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    await writeFile(path.join(dir, file), safetensorsBytes(new Map(shard.map((n) => [n, tensors.get(n)!])), dtype));
    for (const n of shard) weightMap[n] = file;
  }
  await writeFile(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return dir;
}

const llamaArch = ARCHITECTURES.llama;
const lm = { kind: 'lm' } as const;

interface Case {
  name: string;
  json: HfJson;
  storage: Storage;
  expected: ModelConfig;
  seqLen: number;
}

const CASES: Case[] = [
  {
    name: 'gpt2 (GELU tanh, learned positions, Conv1D), F16, causal-mask buffers present',
    storage: 'F16',
    json: { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 101, n_positions: 16, n_embd: 48, n_layer: 2, n_head: 4, n_inner: null, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 },
    expected: { architecture: ARCHITECTURES.gpt2, vocabSize: 101, contextLength: 16, dModel: 48, nLayers: 2, nHeads: 4, nKvHeads: 4, dFf: 192, normEps: 1e-5, head: lm },
    seqLen: 9,
  },
  {
    name: 'gpt2 classifier, F32 sharded',
    storage: 'F32 sharded',
    json: { architectures: ['GPT2ForSequenceClassification'], model_type: 'gpt2', vocab_size: 61, n_positions: 12, n_embd: 32, n_layer: 1, n_head: 2, n_inner: 40, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, num_labels: 3 },
    expected: { architecture: ARCHITECTURES.gpt2, vocabSize: 61, contextLength: 12, dModel: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, dFf: 40, normEps: 1e-5, head: { kind: 'classifier', numClasses: 3 } },
    seqLen: 7,
  },
  {
    name: 'llama with Llama 3 RoPE scaling, tied head, attention and MLP biases, BF16',
    storage: 'BF16',
    json: {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 101, hidden_size: 48, intermediate_size: 80, num_hidden_layers: 2,
      num_attention_heads: 6, num_key_value_heads: 2, max_position_embeddings: 32, rms_norm_eps: 1e-5, rope_theta: 500000, hidden_act: 'silu',
      // head size 8: wavelengths 6.3 (kept), 167 (smoothed), 4443 and 118000 (÷ 8) against 512/4 and 512/1
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 512 },
      attention_bias: true, mlp_bias: true, tie_word_embeddings: true,
    },
    expected: {
      architecture: {
        ...llamaArch,
        positions: { kind: 'rope', theta: 500000, rotaryFraction: 1, scaling: { kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 512 } },
        biases: { qkv: true, attnOut: true, mlp: true },
        tiedEmbeddings: true,
      },
      vocabSize: 101, contextLength: 32, dModel: 48, nLayers: 2, nHeads: 6, nKvHeads: 2, dFf: 80, normEps: 1e-5, head: lm,
    },
    seqLen: 11,
  },
  {
    name: 'mistral, sliding window 8 (the context), one KV head, F32 sharded',
    storage: 'F32 sharded',
    json: {
      architectures: ['MistralForCausalLM'], model_type: 'mistral', vocab_size: 89, hidden_size: 40, intermediate_size: 72, num_hidden_layers: 2,
      num_attention_heads: 5, num_key_value_heads: 1, max_position_embeddings: 64, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_act: 'silu', sliding_window: 8, tie_word_embeddings: false,
    },
    expected: { architecture: llamaArch, vocabSize: 89, contextLength: 8, slidingWindow: 8, dModel: 40, nLayers: 2, nHeads: 5, nKvHeads: 1, dFf: 72, normEps: 1e-6, head: lm },
    seqLen: 8,
  },
  {
    name: 'qwen2 with use_sliding_window, window 6 of 32 positions in every layer, BF16',
    storage: 'BF16',
    json: {
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 67, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 32, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_act: 'silu',
      use_sliding_window: true, sliding_window: 6, max_window_layers: 0, tie_word_embeddings: false,
    },
    expected: {
      architecture: { ...llamaArch, biases: { qkv: true, attnOut: false, mlp: false } },
      vocabSize: 67, contextLength: 6, slidingWindow: 6, dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, dFf: 48, normEps: 1e-6, head: lm,
    },
    seqLen: 6,
  },
  {
    name: 'qwen2 (q/k/v biases), BF16 sharded',
    storage: 'BF16 sharded',
    json: {
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 97, hidden_size: 48, intermediate_size: 64, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 32, rms_norm_eps: 1e-6, rope_theta: 1000000, hidden_act: 'silu',
      use_sliding_window: false, sliding_window: 4, max_window_layers: 1, tie_word_embeddings: false,
    },
    expected: {
      architecture: { ...llamaArch, positions: { kind: 'rope', theta: 1000000, rotaryFraction: 1, scaling: null }, biases: { qkv: true, attnOut: false, mlp: false } },
      vocabSize: 97, contextLength: 32, dModel: 48, nLayers: 2, nHeads: 4, nKvHeads: 2, dFf: 64, normEps: 1e-6, head: lm,
    },
    seqLen: 10,
  },
  {
    name: 'qwen2 classifier, tied, F32',
    storage: 'F32',
    json: {
      architectures: ['Qwen2ForSequenceClassification'], model_type: 'qwen2', vocab_size: 53, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 1,
      num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 16, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: true, num_labels: 2,
    },
    expected: {
      architecture: { ...llamaArch, biases: { qkv: true, attnOut: false, mlp: false }, tiedEmbeddings: true },
      vocabSize: 53, contextLength: 16, dModel: 24, nLayers: 1, nHeads: 2, nKvHeads: 1, dFf: 40, normEps: 1e-6, head: { kind: 'classifier', numClasses: 2 },
    },
    seqLen: 6,
  },
  {
    name: 'gpt_neox (Pythia: parallel residual, rotary_pct 0.25, exact GELU), F16, old buffers present',
    storage: 'F16',
    json: {
      architectures: ['GPTNeoXForCausalLM'], model_type: 'gpt_neox', vocab_size: 103, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2,
      num_attention_heads: 4, max_position_embeddings: 32, layer_norm_eps: 1e-5, rotary_pct: 0.25, rotary_emb_base: 10000, use_parallel_residual: true,
      hidden_act: 'gelu', tie_word_embeddings: false,
    },
    expected: {
      architecture: {
        norm: 'layerNorm', mlp: 'geluExact', positions: { kind: 'rope', theta: 10000, rotaryFraction: 0.25, scaling: null },
        biases: { qkv: true, attnOut: true, mlp: true }, parallelResidual: true, tiedEmbeddings: false,
      },
      vocabSize: 103, contextLength: 32, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, dFf: 96, normEps: 1e-5, head: lm,
    },
    seqLen: 9,
  },
  {
    name: 'gpt_neox serial residual, rotary_pct 0.5 of head size 12, classifier, BF16',
    storage: 'BF16',
    json: {
      architectures: ['GPTNeoXForSequenceClassification'], model_type: 'gpt_neox', vocab_size: 71, hidden_size: 36, intermediate_size: 60, num_hidden_layers: 2,
      num_attention_heads: 3, max_position_embeddings: 16, layer_norm_eps: 1e-5, rotary_pct: 0.5, rotary_emb_base: 5000, use_parallel_residual: false,
      hidden_act: 'gelu', num_labels: 4,
    },
    expected: {
      architecture: {
        norm: 'layerNorm', mlp: 'geluExact', positions: { kind: 'rope', theta: 5000, rotaryFraction: 0.5, scaling: null },
        biases: { qkv: true, attnOut: true, mlp: true }, parallelResidual: false, tiedEmbeddings: false,
      },
      vocabSize: 71, contextLength: 16, dModel: 36, nLayers: 2, nHeads: 3, nKvHeads: 3, dFf: 60, normEps: 1e-5, head: { kind: 'classifier', numClasses: 4 },
    },
    seqLen: 7,
  },
];

function randomBatch(vocab: number, seqLen: number, s: number): Batch {
  const rng = mulberry32(s);
  const batch = 3;
  const tokens = Int32Array.from({ length: batch * seqLen }, () => Math.floor(rng() * vocab));
  const lengths = Int32Array.from([seqLen, 1 + Math.floor(rng() * seqLen), 1]);
  return { tokens, lengths, batch, seqLen };
}

/** ‖a − b‖ / ‖b‖ over the valid positions (LM logits) or all of them (classifier logits). */
function relativeError(a: Float32Array, b: Float64Array, config: ModelConfig, batch: Batch): number {
  expect(a.length).toBe(b.length);
  const V = config.vocabSize;
  const valid = (i: number) => config.head.kind === 'classifier' || Math.floor(i / V) % batch.seqLen < batch.lengths[Math.floor(i / V / batch.seqLen)];
  let diff = 0, norm = 0;
  for (let i = 0; i < a.length; i++)
    if (valid(i)) {
      diff += (a[i] - b[i]) ** 2;
      norm += b[i] ** 2;
    }
  return Math.sqrt(diff / norm);
}

describe.each(CASES)('Hugging Face $name', ({ json, storage, expected, seqLen }) => {
  it(`loads to its config; twin and engine logits match transformers' float64 forward (seed ${seed})`, async () => {
    const tensors = hfTensors(json, mulberry32(seed), true);
    const dir = await writeCheckpoint(json, tensors, storage);
    const { config, weights } = await loadCheckpoint(dir);
    expect(config).toEqual(expected);
    const batch = randomBatch(config.vocabSize, seqLen, seed + 1);
    const reference = hfReferenceLogits(json, tensors, batch);
    const twin = tf.tidy(() => {
      const params = weightsToTensors(config, weights);
      return twinForward(config, params, batch).dataSync() as Float32Array;
    });
    expect(relativeError(twin, reference, config, batch), 'twin').toBeLessThan(1e-4);
    const model = new NativeModel(config, { weights });
    expect(relativeError(await model.forward(batch), reference, config, batch), 'engine').toBeLessThan(1e-4);
    model.dispose();

    // Written back in the model type with these features (a llama without biases and with a window as a mistral), it loads the same.
    const saved = path.join(tmp, `saved-${dirs++}`);
    await saveCheckpoint(saved, config, weights);
    const again = await loadCheckpoint(saved);
    expect(again.config).toEqual(config);
    for (const [name, data] of weights) expect(again.weights.get(name), name).toEqual(data);
  });
});

describe('Hugging Face checkpoints: what is refused', () => {
  it('mistral: a sequence longer than its sliding window is refused naming sliding_window, by the engine and the twin', async () => {
    const mistral = CASES.find((c) => c.json.model_type === 'mistral')!;
    const dir = await writeCheckpoint(mistral.json, hfTensors(mistral.json, mulberry32(seed)), 'F32');
    const { config, weights } = await loadCheckpoint(dir);
    const model = new NativeModel(config, { weights });
    const window = "longer than the model's sliding window: its config.json has sliding_window 8, and the engine computes full causal attention, which equals the model's sliding-window attention only while a sequence fits in 8 tokens; windowed attention beyond it is not supported";
    const long = randomBatch(config.vocabSize, 9, seed);
    await expect(model.forward(long)).rejects.toThrow(`forward: seqLen 9 is ${window}; truncate sequences to their last 8 tokens`);
    const targets = new Int32Array(long.batch * long.seqLen).fill(-1);
    await expect(model.trainStep([randomBatch(config.vocabSize, 8, seed), long].map((b) => ({ ...b, loss: 'token' as const, targets: targets.subarray(0, b.batch * b.seqLen) })), { lr: 1e-3 })).rejects.toThrow(
      `trainStep: seqLen 9 (batch 1) is ${window}`,
    );
    await expect(model.accumulate([{ ...long, loss: 'token', targets }])).rejects.toThrow(`accumulate: seqLen 9 is ${window}`);
    await expect(model.nextTokenLogits(new Array(9).fill(1))).rejects.toThrow(`nextTokenLogits: a context of 9 tokens is ${window}`);
    expect(() => tf.tidy(() => twinForward(config, weightsToTensors(config, weights), long))).toThrow(`batch: seqLen 9 is ${window}`);
    // Up to the window it runs (the float64 comparison above is at seqLen 8).
    expect(await model.forward(randomBatch(config.vocabSize, 8, seed))).toHaveLength(3 * 8 * config.vocabSize);
    model.dispose();
    // sliding_window null (Mistral v0.2 onwards): full attention over max_position_embeddings.
    const full = await writeCheckpoint({ ...mistral.json, sliding_window: null }, hfTensors(mistral.json, mulberry32(seed)), 'F32');
    const fullConfig = (await loadCheckpoint(full)).config;
    expect(fullConfig.contextLength).toBe(64);
    expect(fullConfig).not.toHaveProperty('slidingWindow');
  });

  it(`mistral: generation is transformers' while its context fits in the window, and refused before it starts past it (seed ${seed})`, async () => {
    const mistral = CASES.find((c) => c.json.model_type === 'mistral')!;
    const tensors = hfTensors(mistral.json, mulberry32(seed), true);
    const { config, weights } = await loadCheckpoint(await writeCheckpoint(mistral.json, tensors, 'F32'));
    const model = new NativeModel(config, { weights });
    const V = config.vocabSize;
    const prompt = [3, 1, 4, 1, 5];
    // Every step's logits (through the key/value cache) against the float64 forward on the same context.
    const errors: number[] = [];
    const checked: NextTokenModel = {
      config,
      async nextTokenLogits(context) {
        const logits = await model.nextTokenLogits(context);
        const reference = hfReferenceLogits(mistral.json, tensors, { tokens: Int32Array.from(context), lengths: Int32Array.of(context.length), batch: 1, seqLen: context.length });
        let diff = 0, norm = 0;
        for (let v = 0; v < V; v++) {
          const r = reference[(context.length - 1) * V + v];
          diff += (logits[v] - r) ** 2;
          norm += r ** 2;
        }
        errors.push(Math.sqrt(diff / norm));
        return logits;
      },
    };
    // 5 + 4 tokens: the last step reads 8, the window (the fourth new token is never fed back).
    expect(await generate(checked, prompt, { maxTokens: 4 })).toHaveLength(4);
    expect(errors).toHaveLength(4);
    for (const e of errors) expect(e).toBeLessThan(1e-4);
    // One more would read 9: refused before any token is computed, saying how many can be asked for.
    const calls: number[] = [];
    const counting: NextTokenModel = { config, nextTokenLogits: (context) => (calls.push(context.length), model.nextTokenLogits(context)) };
    await expect(generate(counting, prompt, { maxTokens: 5 })).rejects.toThrow(
      /^generate: a prompt of 5 tokens and 5 new tokens need a context of 9 tokens, longer than the model's sliding window: its config.json has sliding_window 8, .*windowed attention beyond it is not supported; ask for at most 4 new tokens, or shorten the prompt$/,
    );
    await expect(generate(counting, new Array(9).fill(1), { maxTokens: 1 })).rejects.toThrow(/sliding_window 8.*; shorten the prompt to at most 8 tokens$/);
    expect(calls).toEqual([]);
    model.dispose();
  });

  it('gpt_neox: a query_key_value of the wrong shape names the tensor and the expected shape', async () => {
    const neox = CASES.find((c) => c.json.model_type === 'gpt_neox')!;
    const tensors = hfTensors(neox.json, mulberry32(seed));
    tensors.set('gpt_neox.layers.1.attention.query_key_value.weight', { shape: [64, 192], data: new Float32Array(64 * 192) });
    const dir = await writeCheckpoint(neox.json, tensors, 'F32');
    const error = await loadCheckpoint(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toMatch(/tensor "gpt_neox.layers.1.attention.query_key_value.weight" has shape \[64, 192\], expected \[192, 64\] \(for layers.1.attn.qkv.weight\)/);
  });

  it('an architecture no Hugging Face model type has is refused when saving, naming it', async () => {
    const config = { ...CASES[0].expected, architecture: { ...ARCHITECTURES.gpt2, parallelResidual: true } };
    await expect(saveCheckpoint(path.join(tmp, 'never'), config, new Map())).rejects.toThrow(/no Hugging Face model type has the architecture .*"parallelResidual":true/);
  });
});
