// The training-memory estimate (src/memory.ts) against a count derived by hand from
// native/src/engine/model.cpp's allocations, against the resident memory a real model takes, and
// the refusal of a run that would not fit.
import { describe, expect, it } from 'vitest';
import { PRESETS, parameterCount, withHead } from '../src/config.js';
import { NativeModel } from '../src/engine.js';
import {
  THREAD_ALLOWANCE_BYTES,
  activationBytes,
  assertTrainingFits,
  checkTrainingMemory,
  estimateTrainingMemory,
  InsufficientMemoryError,
  paddedParameterCount,
} from '../src/memory.js';

const MiB = 2 ** 20;

describe('estimateTrainingMemory', () => {
  it('counts gpt2-tiny at B 2, T 8 (LM) as derived by hand', () => {
    // gpt2-tiny: d 64, 2 layers, 4 heads of 16, vocabulary 97, 64 learned positions, dFf 256, tied head.
    const config = PRESETS['gpt2-tiny'];
    const layer = 2 * 64 /* attnNorm w, b */ + 192 * 64 + 192 /* qkv */ + 64 * 64 + 64 /* out */ + 2 * 64 /* mlpNorm */ + 256 * 64 + 256 /* up */ + 64 * 256 + 64; /* down */
    const params = 97 * 64 /* token embedding */ + 64 * 64 /* positions */ + 2 * layer + 2 * 64; /* final norm */
    expect(params).toBe(110400);
    expect(parameterCount(config)).toBe(params);
    expect(paddedParameterCount(config)).toBe(params); // every tensor's size is a multiple of 16 floats

    // Model::ensure_capacity(2, 8): N = 16 rows; each buffer rounded up to 64 bytes.
    const buf = (floats: number) => Math.max(64, Math.ceil((4 * floats) / 64) * 64);
    const N = 16, L = 2, d = 64, R = 192, F = 256, V = 97;
    const activations =
      4 * buf(0) + // tokens [16], lengths [2], last_rows [2], targets [16] int32: 64 bytes each
      buf(2) + // soft_targets [B, 1]
      buf((L + 1) * N * d) + // resid
      3 * buf(L * N * d) + // mid, norm1, norm2
      4 * buf(L * N) + // mean1, rstd1, mean2, rstd2
      buf(L * N * R) + buf(L * N * d) + buf(L * N * 4) + // qkv, attn, lse
      2 * buf(L * N * F) + // pre, act
      buf(N * d) + 2 * buf(N) + // hidden, mean_f, rstd_f
      buf(2 * d) + // pooled
      buf(N * V) + // LM logits
      buf(N * d) + // branch
      3 * buf(N * d) + // d_resid, d_norm, d_attn
      buf(N * R) + 2 * buf(N * F) + // d_qkv, d_pre, d_act
      buf(2 * d) + buf(2); // d_pooled, d_class_logits
    expect(activations).toBe(209472);
    expect(activationBytes(config, 2, 8)).toBe(activations);

    const e = estimateTrainingMemory(config, { batch: 2, seqLen: 8 });
    const part = (name: string) => e.parts.find((p) => p.name === name)?.bytes;
    expect(part('parameters')).toBe(4 * params);
    expect(part('gradients')).toBe(4 * params);
    expect(part('AdamW moments')).toBe(8 * params);
    expect(part('activations')).toBe(activations);
    expect(part('other buffers')).toBe(0); // learned positions, head size 16, LM head
    expect(part('thread buffers (allowance)')).toBe(THREAD_ALLOWANCE_BYTES);
    expect(e.total).toBe(16 * params + activations + THREAD_ALLOWANCE_BYTES);
    expect(e.parameters).toBe(params);
    expect(e.bytesPerParameter).toBeCloseTo(e.total / params, 9);

    // As a 3-class classifier: logits [B, 3] instead of [N, V], and the last layer's buffers for the
    // last tokens: last_x and d_last [B, d], last_qkv and d_last_qkv [B, R].
    const classifier = withHead(config, { kind: 'classifier', numClasses: 3 });
    const lastTokens = 2 * buf(2 * d) + 2 * buf(2 * R);
    expect(activationBytes(classifier, 2, 8)).toBe(activations - buf(N * V) + buf(2 * 3) + lastTokens);
  });

  it('adds RoPE tables, padded-head scratch, classifier step buffers and JavaScript weight copies', () => {
    // llama-tiny: d 32, 4 heads of 8 (padded to 16 in attention), 2 KV heads, RoPE on 8 dims, context 64.
    const config = withHead(PRESETS['llama-tiny'], { kind: 'classifier', numClasses: 2 });
    const e = estimateTrainingMemory(config, { batch: 4, seqLen: 16, threads: 2, stepRows: 8, hostWeightCopies: 1 });
    const part = (name: string) => e.parts.find((p) => p.name === name)?.bytes;
    const rope = 2 * 64 * 4 * 4; // cos and sin [64, 4]
    const scratch = 4 * (4 * (4 * 16 * 4 * 16) + 4 * (4 * 16 * 2 * 16)); // 4 query-sized and 4 key/value-sized buffers
    const step = 3 * 64; // step logits, dlogits, targets [8, 2]: 64 bytes each
    expect(part('other buffers')).toBe(rope + scratch + step);
    expect(part('thread buffers (allowance)')).toBe(2 * THREAD_ALLOWANCE_BYTES);
    expect(part('weights held in JavaScript')).toBe(4 * parameterCount(config));
  });

  it('with bf16 products on the CPU, adds the rounded copies of the largest product\'s inputs', () => {
    const config = PRESETS['gpt2-small'];
    const shape = { batch: 8, seqLen: 128, threads: 2 };
    const part = (precision: 'float32' | 'bf16') => estimateTrainingMemory(config, { ...shape, precision }).parts.find((p) => p.name === 'bf16 rounded inputs')?.bytes;
    expect(part('float32')).toBeUndefined();
    // The tied LM head's input gradient: dlogits [1024, 50257] times the embedding [50257, 768], as floats.
    expect(part('bf16')).toBe(4 * (1024 * 50257 + 50257 * 768));
    // A classifier's largest is the MLP's: [1024, 3072]·[3072, 768] back, or [1024, 768]·[768, 3072] forward.
    const classifier = withHead(config, { kind: 'classifier', numClasses: 2 });
    expect(estimateTrainingMemory(classifier, { ...shape, precision: 'bf16' }).parts.find((p) => p.name === 'bf16 rounded inputs')?.bytes).toBe(4 * (1024 * 3072 + 3072 * 768));
  });

  it('is within 10% of the resident memory a model takes through a training step', async () => {
    const config = PRESETS['gpt2-bench']; // 5.3 M parameters, LM logits of 8192
    const shape = { batch: 4, seqLen: 64 };
    const e = estimateTrainingMemory(config, shape);
    const engine = e.total - THREAD_ALLOWANCE_BYTES;
    global.gc?.();
    const before = process.memoryUsage().rss;
    const model = new NativeModel(config, { seed: 1 });
    const tokens = new Int32Array(shape.batch * shape.seqLen).map((_, i) => (i * 7919) % config.vocabSize);
    await model.trainStep([{ tokens, lengths: new Int32Array(shape.batch).fill(shape.seqLen), batch: shape.batch, seqLen: shape.seqLen, loss: 'token', targets: tokens }], { lr: 1e-3 });
    const grown = process.memoryUsage().rss - before;
    model.dispose();
    expect(grown, `grew ${(grown / MiB).toFixed(1)} MiB, estimated ${(engine / MiB).toFixed(1)} MiB + allowance`).toBeGreaterThan(0.9 * engine);
    expect(grown).toBeLessThan(1.1 * engine + THREAD_ALLOWANCE_BYTES);
  });

  it('gives the published sizes their bytes per parameter: 16 plus activations', () => {
    const e = estimateTrainingMemory(withHead(PRESETS['gpt2-medium'], { kind: 'classifier', numClasses: 2 }), { batch: 8, seqLen: 128, threads: 2 });
    expect(e.parameters).toBeGreaterThan(350e6);
    expect(e.bytesPerParameter).toBeGreaterThan(16);
    expect(e.bytesPerParameter).toBeLessThan(21);
    const qwen = estimateTrainingMemory(PRESETS['qwen2.5-0.5b'], { batch: 8, seqLen: 128 });
    expect(qwen.parameters).toBeGreaterThan(490e6); // Qwen2.5-0.5B: 494 M with the tied embedding
    expect(qwen.parameters).toBeLessThan(500e6);
  });
});

describe('checkTrainingMemory', () => {
  const config = withHead(PRESETS['gpt2-medium'], { kind: 'classifier', numClasses: 2 });
  const estimate = estimateTrainingMemory(config, { batch: 8, seqLen: 128 });
  const GiB = 2 ** 30;

  it('passes a run that fits', () => {
    expect(checkTrainingMemory('gpt2-medium', estimate, { available: { bytes: 64 * GiB, source: 'a test' }, mode: '' })).toBe('fits');
  });

  it('refuses a run that does not fit, naming the model, the estimate and what is available', () => {
    const run = () => checkTrainingMemory('gpt2-medium (batch 8 x 128 tokens)', estimate, { available: { bytes: 2 * GiB, source: 'a fake MemAvailable' }, mode: '' });
    expect(run).toThrow(InsufficientMemoryError);
    expect(run).toThrow(/not enough memory: gpt2-medium \(batch 8 x 128 tokens\) needs about \d+\.\d GiB of memory \(354\.\d M parameters, \d+\.\d bytes per parameter: parameters 1\.3 GiB, gradients 1\.3 GiB, AdamW moments 2\.6 GiB, activations/);
    expect(run).toThrow(/and 2\.0 GiB is available \(a fake MemAvailable\)/);
  });

  it('warns instead where only the upper bound exceeds (sequences may be shorter), or where W2S_MEMORY_CHECK=warn', () => {
    const warnings: string[] = [];
    const lowerBound = estimateTrainingMemory(config, { batch: 8, seqLen: 2 });
    const available = { bytes: lowerBound.total + 1, source: 'a test' };
    expect(checkTrainingMemory('gpt2-medium', estimate, { available, lowerBound, warn: (m) => warnings.push(m), mode: '' })).toBe('warned');
    expect(warnings[0]).toMatch(/^warning: gpt2-medium needs about .* at its longest sequences, and .* is available \(a test\); it fits only if its sequences stay shorter/);
    expect(checkTrainingMemory('gpt2-medium', estimate, { available: { bytes: GiB, source: 'a test' }, warn: (m) => warnings.push(m), mode: 'warn' })).toBe('warned');
    expect(warnings[1]).toMatch(/^warning: not enough memory/);
    expect(checkTrainingMemory('gpt2-medium', estimate, { available: { bytes: 0, source: 'a test' }, mode: 'off' })).toBe('skipped');
  });

  it('assertTrainingFits estimates the shape and takes the shortest sequences as the lower bound', () => {
    const available = { bytes: estimateTrainingMemory(config, { batch: 8, seqLen: 4, threads: 1 }).total + 1, source: 'a test' };
    expect(() => assertTrainingFits('gpt2-medium', config, { batch: 8, seqLen: 512, threads: 1 }, { available, mode: '' })).toThrow(/not enough memory: gpt2-medium/);
    const warnings: string[] = [];
    expect(assertTrainingFits('gpt2-medium', config, { batch: 8, seqLen: 512, threads: 1 }, { available, minSeqLen: 2, warn: (m) => warnings.push(m), mode: '' })).toBe('warned');
    expect(warnings).toHaveLength(1);
  });
});
