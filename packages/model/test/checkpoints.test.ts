// Checkpoint I/O (src/checkpoints): safetensors, Hugging Face GPT-2 / Llama directories, llama2.c
// files. Expected canonical tensors are derived here independently (index arithmetic, RoPE maths),
// malformed files must give a CheckpointError naming the file and the problem, and a seeded fuzz
// test (mulberry32, so failures replay) truncates and flips bytes of small valid files.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, parameterSpecs, PRESETS, withArchitecture, withHead, type ModelConfig, type Weights } from '../src/config.js';
import {
  CheckpointError,
  configFromHf,
  configToHf,
  checkWeights,
  encodeSafetensors,
  loadCheckpoint,
  parseLlama2c,
  parseSafetensors,
  readLlama2c,
  readSafetensors,
  saveCheckpoint,
  weightsFromHf,
  weightsToHf,
  writeSafetensors,
} from '../src/checkpoints/index.js';
import { needsData } from '../../../tests/support/data.js';
import { mulberry32 } from '@w2s/random'; // seeded, so failures replay

const stories = needsData('the stories260K.bin checkpoint tests', 'stories260K/stories260K.bin');
const [storiesFile] = stories.paths;

function randomArray(n: number, rng: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => rng() * 2 - 1);
}

function randomWeights(config: ModelConfig, rng: () => number): Weights {
  return new Map(parameterSpecs(config).map((s) => [s.name, randomArray(s.shape.reduce((a, b) => a * b, 1), rng)]));
}

interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

function f32Bytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A safetensors file built by hand: tensors laid out in order, header unpadded. */
function rawSafetensors(tensors: RawTensor[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  return rawFile(JSON.stringify(header), Buffer.concat(tensors.map((t) => t.bytes)));
}

/** 8-byte length (default: the header's byte length), header text, data bytes. */
function rawFile(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Buffer {
  const headerBytes = typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(header);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(headerLength ?? BigInt(headerBytes.length));
  return Buffer.concat([length, headerBytes, data]);
}

interface Llama2cParts {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
  shared: boolean;
  emb: Float32Array;
  rmsAtt: Float32Array[];
  wq: Float32Array[];
  wk: Float32Array[];
  wv: Float32Array[];
  wo: Float32Array[];
  rmsFfn: Float32Array[];
  w1: Float32Array[];
  w2: Float32Array[];
  w3: Float32Array[];
  rmsFinal: Float32Array;
  freqReal: Float32Array;
  freqImag: Float32Array;
  wcls?: Float32Array;
}

function llama2cParts(dims: { dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; seqLen: number; shared: boolean }, rng: () => number): Llama2cParts {
  const { dim, hidden, layers, heads, kvHeads, vocab, seqLen, shared } = dims;
  const hs = dim / heads;
  const perLayer = (n: number) => Array.from({ length: layers }, () => randomArray(n, rng));
  return {
    ...dims,
    emb: randomArray(vocab * dim, rng),
    rmsAtt: perLayer(dim),
    wq: perLayer(dim * dim),
    wk: perLayer(kvHeads * hs * dim),
    wv: perLayer(kvHeads * hs * dim),
    wo: perLayer(dim * dim),
    rmsFfn: perLayer(dim),
    w1: perLayer(hidden * dim),
    w2: perLayer(dim * hidden),
    w3: perLayer(hidden * dim),
    rmsFinal: randomArray(dim, rng),
    freqReal: randomArray((seqLen * hs) / 2, rng),
    freqImag: randomArray((seqLen * hs) / 2, rng),
    wcls: shared ? undefined : randomArray(vocab * dim, rng),
  };
}

function llama2cFile(p: Llama2cParts): Buffer {
  const header = Buffer.alloc(28);
  [p.dim, p.hidden, p.layers, p.heads, p.kvHeads, p.shared ? p.vocab : -p.vocab, p.seqLen].forEach((v, i) => header.writeInt32LE(v, 4 * i));
  const arrays = [p.emb, ...p.rmsAtt, ...p.wq, ...p.wk, ...p.wv, ...p.wo, ...p.rmsFfn, ...p.w1, ...p.w2, ...p.w3, p.rmsFinal, p.freqReal, p.freqImag];
  if (p.wcls) arrays.push(p.wcls);
  return Buffer.concat([header, ...arrays.map((a) => Buffer.from(f32Bytes(a)))]);
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The error `fn` throws (or its promise rejects with), asserted to be a CheckpointError for `file`. */
async function checkpointError(fn: () => unknown, file: string): Promise<CheckpointError> {
  let error: unknown;
  try {
    await fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(CheckpointError);
  expect((error as CheckpointError).file).toBe(file);
  expect((error as CheckpointError).message.startsWith(`${file}: `)).toBe(true);
  return error as CheckpointError;
}

/** m[r][c] of a row-major [rows, cols] matrix. */
const at = (m: Float32Array, cols: number, r: number, c: number) => m[r * cols + c];

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'w2s-checkpoints-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
let dirCount = 0;
const freshDir = () => path.join(tmp, `case-${dirCount++}`);

describe('safetensors', () => {
  it('encodes and parses F32 tensors with metadata, scalars and empty tensors', () => {
    const rng = mulberry32(1);
    const tensors = new Map([
      ['a', { shape: [2, 3], data: randomArray(6, rng) }],
      ['scalar', { shape: [], data: Float32Array.of(7.5) }],
      ['empty', { shape: [0, 4], data: new Float32Array(0) }],
      ['ünïcode', { shape: [5], data: randomArray(5, rng) }],
    ]);
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const parsed = parseSafetensors(bytes, 'x.safetensors');
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect([...parsed.tensors.keys()]).toEqual([...tensors.keys()]);
    for (const [name, t] of tensors) expect(parsed.tensors.get(name)).toEqual({ dtype: 'F32', shape: t.shape, data: t.data });
    const unaligned = Buffer.concat([Buffer.alloc(3), bytes]).subarray(3);
    expect(parseSafetensors(unaligned, 'x.safetensors')).toEqual(parsed);
  });

  it('writes atomically (no temp files left) and reads back', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, PRESETS['gpt2-tiny'], randomWeights(PRESETS['gpt2-tiny'], mulberry32(2)));
    const file = path.join(dir, 'other.safetensors');
    const data = randomArray(12, mulberry32(3));
    await writeSafetensors(file, new Map([['w', { shape: [3, 4], data }]]));
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors', 'other.safetensors']);
    expect((await readSafetensors(file)).tensors.get('w')?.data).toEqual(data);
  });

  it('rejects writing data that disagrees with its shape', async () => {
    const file = path.join(tmp, 'bad-write.safetensors');
    const err = await checkpointError(() => writeSafetensors(file, new Map([['w', { shape: [2, 2], data: new Float32Array(3) }]])), file);
    expect(err.message).toMatch(/tensor "w": shape \[2, 2\] needs 4 elements, data has 3/);
    expect(existsSync(file)).toBe(false);
  });

  it('decodes F16 exactly: normals, 65504, subnormals, signed zero, infinities, NaN', () => {
    // [bits, value] with the value computed from the IEEE binary16 definition.
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc100, -2.5],
      [0x7bff, (2 - 2 ** -10) * 2 ** 15],
      [0x0400, 2 ** -14],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x8001, -(2 ** -24)],
      [0x3555, (1 + 0x155 / 1024) * 2 ** -2],
      [0x0000, 0],
      [0x8000, -0],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    const bits = Uint16Array.from([...cases.map((c) => c[0]), 0x7e00]);
    const file = rawSafetensors([{ name: 'h', dtype: 'F16', shape: [bits.length], bytes: new Uint8Array(bits.buffer) }]);
    const data = parseSafetensors(file, 'f16.safetensors').tensors.get('h')!.data;
    cases.forEach(([, value], i) => expect(Object.is(data[i], value)).toBe(true));
    expect(data[cases.length]).toBeNaN();
    expect(data[2]).toBe(65504);
  });

  it('decodes BF16 as the top half of a float32', () => {
    const values = Float32Array.from([1, -2.5, 3.140625, 2 ** -133, -(2 ** 100), (2 - 2 ** -7) * 2 ** 127, 0]);
    const f32bits = new Uint32Array(values.buffer);
    expect(f32bits.every((b) => (b & 0xffff) === 0)).toBe(true); // exactly representable
    const bits = Uint16Array.from(f32bits, (b) => b >>> 16);
    const file = rawSafetensors([{ name: 'b', dtype: 'BF16', shape: [values.length], bytes: new Uint8Array(bits.buffer) }]);
    expect(parseSafetensors(file, 'bf16.safetensors').tensors.get('b')!.data).toEqual(values);
  });

  it('decodes F64 and integer / bool tensors', () => {
    const f64 = Float64Array.of(0.5, -3, 1e10);
    const i64 = BigInt64Array.of(-5n, 1n << 40n);
    const file = rawSafetensors([
      { name: 'd', dtype: 'F64', shape: [3], bytes: new Uint8Array(f64.buffer) },
      { name: 'i', dtype: 'I64', shape: [2], bytes: new Uint8Array(i64.buffer) },
      { name: 'm', dtype: 'BOOL', shape: [1, 3], bytes: Uint8Array.of(1, 0, 1) },
    ]);
    const { tensors } = parseSafetensors(file, 'ints.safetensors');
    expect(tensors.get('d')!.data).toEqual(Float32Array.from(f64));
    expect(tensors.get('i')!.data).toEqual(Float32Array.of(-5, 2 ** 40));
    expect(tensors.get('m')).toEqual({ dtype: 'BOOL', shape: [1, 3], data: Float32Array.of(1, 0, 1) });
  });

  it('accepts tensors listed out of offset order (the offsets, not the listing, must tile the buffer)', () => {
    const header = JSON.stringify({
      b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    });
    const { tensors } = parseSafetensors(rawFile(header, f32Bytes(Float32Array.of(1, 2))), 'order.safetensors');
    expect(tensors.get('a')!.data).toEqual(Float32Array.of(1));
    expect(tensors.get('b')!.data).toEqual(Float32Array.of(2));
  });

  const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  const valid = rawSafetensors([
    { name: 'a', dtype: 'F32', shape: [2], bytes: f32Bytes(Float32Array.of(1, 2)) },
    { name: 'b', dtype: 'F32', shape: [2], bytes: f32Bytes(Float32Array.of(3, 4)) },
  ]);
  const malformed: [string, Uint8Array, RegExp][] = [
    ['too short', Uint8Array.of(1, 2, 3), /3 bytes: too short for the 8-byte header length/],
    ['header length past the end', rawFile('{}', new Uint8Array(0), 1000n), /header length 1000 runs past the end of the file \(10 bytes\)/],
    ['header length over the limit', rawFile('{}', new Uint8Array(0), 1n << 62n), /header length 4611686018427387904 exceeds the limit of 100000000 bytes/],
    ['header not JSON', rawFile('{"a": '), /header is not valid UTF-8 JSON/],
    ['header not UTF-8', rawFile(Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d)), /header is not valid UTF-8 JSON/],
    ['header an array', rawFile('[1, 2]'), /header is not a JSON object/],
    ['header null', rawFile('null'), /header is not a JSON object/],
    ['entry not an object', rawFile('{"a": 3}'), /tensor "a": header entry is not an object/],
    ['unknown dtype', rawFile(JSON.stringify({ a: { ...f32([1], 0, 4), dtype: 'Q4' } }), new Uint8Array(4)), /tensor "a": unknown or unsupported dtype "Q4"/],
    ['unsupported dtype', rawFile(JSON.stringify({ a: { ...f32([4], 0, 4), dtype: 'F8_E4M3' } }), new Uint8Array(4)), /unknown or unsupported dtype "F8_E4M3"/],
    ['missing dtype', rawFile(JSON.stringify({ a: { shape: [1], data_offsets: [0, 4] } }), new Uint8Array(4)), /unknown or unsupported dtype undefined/],
    ['bad shape', rawFile(JSON.stringify({ a: f32([-1], 0, 4) }), new Uint8Array(4)), /tensor "a": shape must be a list of non-negative integers, got \[-1\]/],
    ['bad offsets', rawFile(JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }), new Uint8Array(4)), /tensor "a": data_offsets must be two non-negative integers/],
    ['offsets reversed', rawFile(JSON.stringify({ a: f32([1], 8, 4) }), new Uint8Array(8)), /data_offsets \[8, 4\] are out of order/],
    ['offsets out of range', rawFile(JSON.stringify({ a: f32([4], 0, 16) }), new Uint8Array(8)), /tensor "a": data_offsets \[0, 16\] are out of range: the data buffer has 8 bytes/],
    ['truncated data', valid.subarray(0, valid.length - 2), /tensor "b": data_offsets \[8, 16\] are out of range: the data buffer has 14 bytes \(file truncated\?\)/],
    ['shape and size disagree', rawFile(JSON.stringify({ a: f32([3], 0, 8) }), new Uint8Array(8)), /shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8/],
    ['overlap', rawFile(JSON.stringify({ a: f32([2], 0, 8), b: f32([2], 4, 12) }), new Uint8Array(12)), /tensor "b" data_offsets \[4, 12\] overlap tensor "a", which ends at 8/],
    ['gap', rawFile(JSON.stringify({ a: f32([1], 0, 4), b: f32([1], 8, 12) }), new Uint8Array(12)), /gap in the data buffer: bytes \[4, 8\) before tensor "b"/],
    ['leading gap', rawFile(JSON.stringify({ a: f32([1], 4, 8) }), new Uint8Array(8)), /gap in the data buffer: bytes \[0, 4\)/],
    ['trailing bytes', rawFile(JSON.stringify({ a: f32([1], 0, 4) }), new Uint8Array(8)), /data buffer not fully covered: its last 4 of 8 bytes belong to no tensor/],
    ['metadata not strings', rawFile(JSON.stringify({ __metadata__: { x: 1 } })), /__metadata__\["x"\] is not a string/],
  ];
  it.each(malformed)('rejects a malformed file: %s', async (_, bytes, message) => {
    expect(() => parseSafetensors(valid, 'ok.safetensors')).not.toThrow();
    expect((await checkpointError(() => parseSafetensors(bytes, 'bad.safetensors'), 'bad.safetensors')).message).toMatch(message);
  });

  it('names the file when reading from disk fails', async () => {
    const file = path.join(tmp, 'missing.safetensors');
    expect((await checkpointError(() => readSafetensors(file), file)).message).toMatch(/cannot read file/);
    const truncated = path.join(tmp, 'truncated.safetensors');
    await writeFile(truncated, valid.subarray(0, 20));
    expect((await checkpointError(() => readSafetensors(truncated), truncated)).message).toMatch(/runs past the end of the file/);
  });
});

const gpt2 = PRESETS['gpt2-tiny'];
const llama = PRESETS['llama-tiny'];

/** The RoPE theta of a config with rotary positions. */
function ropeTheta(config: ModelConfig): number {
  const p = config.architecture.positions;
  if (p.kind !== 'rope') throw new Error('ropeTheta: learned positions');
  return p.theta;
}
const withTheta = (config: ModelConfig, theta: number): ModelConfig =>
  withArchitecture(config, { positions: { kind: 'rope', theta, rotaryFraction: 1, scaling: null } });

function expectSameWeights(actual: Weights, expected: Weights): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, data] of expected) expect(actual.get(name), name).toEqual(data);
}

describe('Hugging Face checkpoints: round trips', () => {
  const configs: [string, ModelConfig][] = [
    ['gpt2 LM', gpt2],
    ['gpt2 classifier', withHead(gpt2, { kind: 'classifier', numClasses: 3 })],
    ['llama LM, untied', llama],
    ['llama LM, tied', withArchitecture(llama, { tiedEmbeddings: true })],
    ['llama classifier', withHead({ ...withTheta(llama, 500000), normEps: 1e-6 }, { kind: 'classifier', numClasses: 4 })],
  ];
  it.each(configs)('%s: save → load gives the identical config and weights', async (_, config) => {
    const dir = freshDir();
    const weights = randomWeights(config, mulberry32(10));
    await saveCheckpoint(dir, config, weights);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors']);
    const loaded = await loadCheckpoint(dir);
    expect(loaded.config).toEqual(config);
    expectSameWeights(loaded.weights, weights);
  });

  it('writes HF names, layouts and config fields (gpt2: transformer. prefix, Conv1D, no lm_head)', async () => {
    const dir = freshDir();
    const config = withHead(gpt2, { kind: 'classifier', numClasses: 3 });
    await saveCheckpoint(dir, config, randomWeights(config, mulberry32(11)));
    const { tensors, metadata } = await readSafetensors(path.join(dir, 'model.safetensors'));
    expect(metadata).toEqual({ format: 'pt' });
    const { dModel: d, dFf: f } = config;
    expect(tensors.get('transformer.h.1.attn.c_attn.weight')?.shape).toEqual([d, 3 * d]);
    expect(tensors.get('transformer.h.0.mlp.c_proj.weight')?.shape).toEqual([f, d]);
    expect(tensors.get('score.weight')?.shape).toEqual([3, d]);
    expect(tensors.has('lm_head.weight')).toBe(false);
    expect(tensors.size).toBe(parameterSpecs(config).length);
    const json = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    expect(json).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2ForSequenceClassification'],
      num_labels: 3,
      vocab_size: config.vocabSize,
      n_positions: config.contextLength,
      n_embd: d,
      n_layer: config.nLayers,
      n_head: config.nHeads,
      n_inner: f,
      activation_function: 'gelu_new',
      layer_norm_epsilon: config.normEps,
    });
    expect(Object.keys(json.id2label)).toHaveLength(3);
  });

  it('writes lm_head for an untied llama only', async () => {
    const save = async (config: ModelConfig) => {
      const dir = freshDir();
      await saveCheckpoint(dir, config, randomWeights(config, mulberry32(12)));
      const names = [...(await readSafetensors(path.join(dir, 'model.safetensors'))).tensors.keys()];
      return { names, json: JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) };
    };
    const untied = await save(llama);
    expect(untied.names).toContain('lm_head.weight');
    expect(untied.json).toMatchObject({
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      hidden_size: llama.dModel,
      num_key_value_heads: llama.nKvHeads,
      intermediate_size: llama.dFf,
      max_position_embeddings: llama.contextLength,
      rope_theta: ropeTheta(llama),
      rope_scaling: null,
      tie_word_embeddings: false,
    });
    const tied = await save(withArchitecture(llama, { tiedEmbeddings: true }));
    expect(tied.names).not.toContain('lm_head.weight');
    expect(tied.json.tie_word_embeddings).toBe(true);
  });

  it('refuses to save weights that do not match the config, before touching the disk', async () => {
    const dir = freshDir();
    const weights = randomWeights(gpt2, mulberry32(13));
    weights.delete('layers.1.mlp.up.bias');
    const file = path.join(dir, 'model.safetensors');
    expect((await checkpointError(() => saveCheckpoint(dir, gpt2, weights), file)).message).toMatch(/missing weight "layers.1.mlp.up.bias"/);
    expect(existsSync(dir)).toBe(false);
    const wrong = randomWeights(gpt2, mulberry32(13));
    wrong.set('layers.0.attn.qkv.weight', new Float32Array(5));
    expect((await checkpointError(() => saveCheckpoint(dir, gpt2, wrong), file)).message).toMatch(
      new RegExp(`weight "layers.0.attn.qkv.weight" has 5 elements, expected ${3 * gpt2.dModel * gpt2.dModel}`),
    );
    const extra = randomWeights(gpt2, mulberry32(13));
    extra.set('lmHead.weight', new Float32Array(gpt2.vocabSize * gpt2.dModel));
    expect((await checkpointError(() => saveCheckpoint(dir, gpt2, extra), file)).message).toMatch(/unexpected weight "lmHead.weight"/);
  });
});

/** HF tensors as the hub stores them, by name, with random contents. */
type HfSet = Map<string, { shape: number[]; data: Float32Array }>;

function gpt2HfTensors(config: ModelConfig, rng: () => number, prefix: string): HfSet {
  const { dModel: d, dFf: f } = config;
  const hf: HfSet = new Map();
  const add = (name: string, shape: number[]) => hf.set(name, { shape, data: randomArray(product(shape), rng) });
  add(`${prefix}wte.weight`, [config.vocabSize, d]);
  add(`${prefix}wpe.weight`, [config.contextLength, d]);
  for (let i = 0; i < config.nLayers; i++) {
    const h = `${prefix}h.${i}`;
    add(`${h}.ln_1.weight`, [d]);
    add(`${h}.ln_1.bias`, [d]);
    add(`${h}.attn.c_attn.weight`, [d, 3 * d]);
    add(`${h}.attn.c_attn.bias`, [3 * d]);
    add(`${h}.attn.c_proj.weight`, [d, d]);
    add(`${h}.attn.c_proj.bias`, [d]);
    add(`${h}.ln_2.weight`, [d]);
    add(`${h}.ln_2.bias`, [d]);
    add(`${h}.mlp.c_fc.weight`, [d, f]);
    add(`${h}.mlp.c_fc.bias`, [f]);
    add(`${h}.mlp.c_proj.weight`, [f, d]);
    add(`${h}.mlp.c_proj.bias`, [d]);
  }
  add(`${prefix}ln_f.weight`, [d]);
  add(`${prefix}ln_f.bias`, [d]);
  if (config.head.kind === 'classifier') add('score.weight', [config.head.numClasses, d]);
  return hf;
}

/** Random values exactly representable in bfloat16. */
function bf16Exact(n: number, rng: () => number): Float32Array {
  const data = randomArray(n, rng);
  const bits = new Uint32Array(data.buffer);
  for (let i = 0; i < n; i++) bits[i] &= 0xffff0000;
  return data;
}

function llamaHfTensors(config: ModelConfig, rng: () => number): HfSet {
  const { dModel: d, dFf: f } = config;
  const hd = d / config.nHeads;
  const hf: HfSet = new Map();
  const add = (name: string, shape: number[]) => hf.set(name, { shape, data: bf16Exact(product(shape), rng) });
  add('model.embed_tokens.weight', [config.vocabSize, d]);
  for (let i = 0; i < config.nLayers; i++) {
    const l = `model.layers.${i}`;
    add(`${l}.input_layernorm.weight`, [d]);
    add(`${l}.self_attn.q_proj.weight`, [config.nHeads * hd, d]);
    add(`${l}.self_attn.k_proj.weight`, [config.nKvHeads * hd, d]);
    add(`${l}.self_attn.v_proj.weight`, [config.nKvHeads * hd, d]);
    add(`${l}.self_attn.o_proj.weight`, [d, config.nHeads * hd]);
    add(`${l}.post_attention_layernorm.weight`, [d]);
    add(`${l}.mlp.gate_proj.weight`, [f, d]);
    add(`${l}.mlp.up_proj.weight`, [f, d]);
    add(`${l}.mlp.down_proj.weight`, [d, f]);
  }
  add('model.norm.weight', [d]);
  if (config.head.kind === 'classifier') add('score.weight', [config.head.numClasses, d]);
  else if (!config.architecture.tiedEmbeddings) add('lm_head.weight', [config.vocabSize, d]);
  return hf;
}

const asF32 = (name: string, t: { shape: number[]; data: Float32Array }): RawTensor => ({ name, dtype: 'F32', shape: t.shape, bytes: f32Bytes(t.data) });
const asBF16 = (name: string, t: { shape: number[]; data: Float32Array }): RawTensor => ({
  name,
  dtype: 'BF16',
  shape: t.shape,
  bytes: new Uint8Array(Uint16Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length), (b) => b >>> 16).buffer),
});

function gpt2ConfigJson(config: ModelConfig): Record<string, unknown> {
  return {
    architectures: [config.head.kind === 'classifier' ? 'GPT2ForSequenceClassification' : 'GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: config.vocabSize,
    n_positions: config.contextLength,
    n_ctx: config.contextLength,
    n_embd: config.dModel,
    n_layer: config.nLayers,
    n_head: config.nHeads,
    n_inner: config.dFf === 4 * config.dModel ? null : config.dFf,
    activation_function: 'gelu_new',
    layer_norm_epsilon: config.normEps,
    ...(config.head.kind === 'classifier' ? { id2label: Object.fromEntries(Array.from({ length: config.head.numClasses }, (_, i) => [String(i), `L${i}`])) } : {}),
  };
}

function neoxConfigJson(config: ModelConfig): Record<string, unknown> {
  return {
    architectures: ['GPTNeoXForCausalLM'],
    model_type: 'gpt_neox',
    vocab_size: config.vocabSize,
    hidden_size: config.dModel,
    intermediate_size: config.dFf,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    max_position_embeddings: config.contextLength,
    layer_norm_eps: config.normEps,
    rotary_pct: 0.25,
    hidden_act: 'gelu',
  };
}

function llamaConfigJson(config: ModelConfig): Record<string, unknown> {
  return {
    architectures: [config.head.kind === 'classifier' ? 'LlamaForSequenceClassification' : 'LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: config.vocabSize,
    hidden_size: config.dModel,
    intermediate_size: config.dFf,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    max_position_embeddings: config.contextLength,
    rms_norm_eps: config.normEps,
    rope_theta: ropeTheta(config),
    rope_scaling: null,
    hidden_act: 'silu',
    tie_word_embeddings: config.architecture.tiedEmbeddings,
    ...(config.head.kind === 'classifier' ? { num_labels: config.head.numClasses } : {}),
    torch_dtype: 'bfloat16',
  };
}

async function writeHfDir(configJson: unknown, tensors: RawTensor[]): Promise<string> {
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(configJson));
  await writeFile(path.join(dir, 'model.safetensors'), rawSafetensors(tensors, { format: 'pt' }));
  return dir;
}

/** canonical [cols, rows] must be the transpose of the HF [rows, cols] Conv1D weight. */
function expectTransposed(canonical: Float32Array, hf: Float32Array, rows: number, cols: number): void {
  expect(canonical.length).toBe(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (at(canonical, rows, c, r) !== at(hf, cols, r, c)) expect.fail(`mismatch at [${c}, ${r}]`);
}

describe('Hugging Face checkpoints: names and layouts', () => {
  it.each([
    ['hub layout: no prefix, causal-mask buffers, tied lm_head', ''],
    ['transformer. prefix', 'transformer.'],
  ])('gpt2, %s', async (_, prefix) => {
    const config = prefix ? withHead(gpt2, { kind: 'classifier', numClasses: 3 }) : gpt2;
    const { dModel: d, dFf: f, contextLength: P } = config;
    const hf = gpt2HfTensors(config, mulberry32(20), prefix);
    const raw = [...hf].map(([name, t]) => asF32(name, t));
    if (!prefix) {
      for (let i = 0; i < config.nLayers; i++) {
        const mask = Uint8Array.from({ length: P * P }, (_, k) => (k % P <= Math.floor(k / P) ? 1 : 0));
        raw.push({ name: `h.${i}.attn.bias`, dtype: 'BOOL', shape: [1, 1, P, P], bytes: mask });
        raw.push({ name: `h.${i}.attn.masked_bias`, dtype: 'F32', shape: [], bytes: f32Bytes(Float32Array.of(-1e4)) });
      }
      raw.push(asF32('lm_head.weight', hf.get('wte.weight')!));
    }
    const { config: loaded, weights } = await loadCheckpoint(await writeHfDir(gpt2ConfigJson(config), raw));
    expect(loaded).toEqual(config);
    expect([...weights.keys()]).toEqual(parameterSpecs(config).map((s) => s.name));
    const get = (name: string) => hf.get(prefix + name)!.data;
    expect(weights.get('tokenEmbedding.weight')).toEqual(get('wte.weight'));
    expect(weights.get('positionEmbedding.weight')).toEqual(get('wpe.weight'));
    for (let i = 0; i < config.nLayers; i++) {
      const h = `h.${i}`;
      const w = (name: string) => weights.get(`layers.${i}.${name}`)!;
      expect(w('attnNorm.weight')).toEqual(get(`${h}.ln_1.weight`));
      expect(w('attnNorm.bias')).toEqual(get(`${h}.ln_1.bias`));
      expectTransposed(w('attn.qkv.weight'), get(`${h}.attn.c_attn.weight`), d, 3 * d);
      expect(w('attn.qkv.bias')).toEqual(get(`${h}.attn.c_attn.bias`));
      expectTransposed(w('attn.out.weight'), get(`${h}.attn.c_proj.weight`), d, d);
      expect(w('attn.out.bias')).toEqual(get(`${h}.attn.c_proj.bias`));
      expect(w('mlpNorm.weight')).toEqual(get(`${h}.ln_2.weight`));
      expect(w('mlpNorm.bias')).toEqual(get(`${h}.ln_2.bias`));
      expectTransposed(w('mlp.up.weight'), get(`${h}.mlp.c_fc.weight`), d, f);
      expect(w('mlp.up.bias')).toEqual(get(`${h}.mlp.c_fc.bias`));
      expectTransposed(w('mlp.down.weight'), get(`${h}.mlp.c_proj.weight`), f, d);
      expect(w('mlp.down.bias')).toEqual(get(`${h}.mlp.c_proj.bias`));
    }
    expect(weights.get('finalNorm.weight')).toEqual(get('ln_f.weight'));
    expect(weights.get('finalNorm.bias')).toEqual(get('ln_f.bias'));
    if (prefix) expect(weights.get('classifier.weight')).toEqual(hf.get('score.weight')!.data);
  });

  it.each([
    ['LM, untied, BF16', llama],
    ['classifier', withHead(llama, { kind: 'classifier', numClasses: 5 })],
  ])('llama %s: q/k/v and gate/up concatenate by rows, no permutation', async (_, config) => {
    const { dModel: d, dFf: f } = config;
    const hf = llamaHfTensors(config, mulberry32(21));
    const { config: loaded, weights } = await loadCheckpoint(await writeHfDir(llamaConfigJson(config), [...hf].map(([name, t]) => asBF16(name, t))));
    expect(loaded).toEqual(config);
    expect([...weights.keys()]).toEqual(parameterSpecs(config).map((s) => s.name));
    const get = (name: string) => hf.get(name)!.data;
    const qRows = config.nHeads * (d / config.nHeads);
    const kvRows = config.nKvHeads * (d / config.nHeads);
    expect(weights.get('tokenEmbedding.weight')).toEqual(get('model.embed_tokens.weight'));
    for (let i = 0; i < config.nLayers; i++) {
      const l = `model.layers.${i}`;
      const w = (name: string) => weights.get(`layers.${i}.${name}`)!;
      expect(w('attnNorm.weight')).toEqual(get(`${l}.input_layernorm.weight`));
      const qkv = w('attn.qkv.weight');
      expect(qkv.length).toBe((qRows + 2 * kvRows) * d);
      for (let r = 0; r < qRows + 2 * kvRows; r++) {
        const [source, row] = r < qRows ? ['q_proj', r] : r < qRows + kvRows ? ['k_proj', r - qRows] : ['v_proj', r - qRows - kvRows];
        for (let c = 0; c < d; c++) if (at(qkv, d, r, c) !== at(get(`${l}.self_attn.${source}.weight`), d, row as number, c)) expect.fail(`qkv[${r}, ${c}]`);
      }
      expect(w('attn.out.weight')).toEqual(get(`${l}.self_attn.o_proj.weight`));
      expect(w('mlpNorm.weight')).toEqual(get(`${l}.post_attention_layernorm.weight`));
      const gateUp = w('mlp.gateUp.weight');
      expect(gateUp.length).toBe(2 * f * d);
      for (let r = 0; r < 2 * f; r++)
        for (let c = 0; c < d; c++) {
          const source = r < f ? get(`${l}.mlp.gate_proj.weight`) : get(`${l}.mlp.up_proj.weight`);
          if (at(gateUp, d, r, c) !== at(source, d, r % f, c)) expect.fail(`gateUp[${r}, ${c}]`);
        }
      expect(w('mlp.down.weight')).toEqual(get(`${l}.mlp.down_proj.weight`));
    }
    expect(weights.get('finalNorm.weight')).toEqual(get('model.norm.weight'));
    if (config.head.kind === 'lm') expect(weights.get('lmHead.weight')).toEqual(get('lm_head.weight'));
    else expect(weights.get('classifier.weight')).toEqual(get('score.weight'));
  });

  it('reads sharded checkpoints (model.safetensors.index.json)', async () => {
    const hf = llamaHfTensors(llama, mulberry32(22));
    const names = [...hf.keys()];
    const shards = [names.slice(0, 7), names.slice(7)];
    const dir = freshDir();
    await mkdir(dir);
    await writeFile(path.join(dir, 'config.json'), JSON.stringify(llamaConfigJson(llama)));
    const weightMap: Record<string, string> = {};
    for (const [k, shard] of shards.entries()) {
      const file = `model-0000${k + 1}-of-00002.safetensors`;
      await writeFile(path.join(dir, file), rawSafetensors(shard.reverse().map((n) => asF32(n, hf.get(n)!))));
      for (const n of shard) weightMap[n] = file;
    }
    const index = path.join(dir, 'model.safetensors.index.json');
    await writeFile(index, JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const single = await loadCheckpoint(await writeHfDir(llamaConfigJson(llama), [...hf].map(([n, t]) => asF32(n, t))));
    const sharded = await loadCheckpoint(dir);
    expect(sharded.config).toEqual(llama);
    expectSameWeights(sharded.weights, single.weights);

    const shard2 = path.join(dir, 'model-00002-of-00002.safetensors');
    const moved = names[8];
    await writeFile(index, JSON.stringify({ weight_map: { ...weightMap, [moved]: 'model-00001-of-00002.safetensors' } }));
    expect((await checkpointError(() => loadCheckpoint(dir), shard2)).message).toMatch(new RegExp(`tensor "${moved}" is in this shard, but .* maps it to "model-00001-of-00002.safetensors"`));
    await writeFile(index, JSON.stringify({ weight_map: { ...weightMap, 'extra.weight': 'model-00001-of-00002.safetensors' } }));
    expect((await checkpointError(() => loadCheckpoint(dir), path.join(dir, 'model-00001-of-00002.safetensors'))).message).toMatch(/tensor "extra.weight", listed in .*, is not in this shard/);
    await writeFile(index, JSON.stringify({ weight_map: { ...weightMap, [moved]: '../elsewhere.safetensors' } }));
    expect((await checkpointError(() => loadCheckpoint(dir), index)).message).toMatch(/weight_map\[".*"\] must be a file name in the same directory/);
    await writeFile(index, JSON.stringify({ weights: {} }));
    expect((await checkpointError(() => loadCheckpoint(dir), index)).message).toMatch(/weight_map is missing or not an object/);
    await writeFile(index, JSON.stringify({ weight_map: weightMap }));
    await unlink(shard2);
    expect((await checkpointError(() => loadCheckpoint(dir), shard2)).message).toMatch(/cannot read file/);
  });
});

describe('Hugging Face config.json', () => {
  it('applies transformers defaults: n_inner null, num_key_value_heads, rope_theta, tie_word_embeddings', () => {
    const g = configFromHf({ ...gpt2ConfigJson(gpt2), n_inner: null }, 'config.json');
    expect(g.dFf).toBe(4 * gpt2.dModel);
    const json = llamaConfigJson(llama);
    delete json.num_key_value_heads;
    delete json.rope_theta;
    delete json.tie_word_embeddings;
    expect(configFromHf(json, 'config.json')).toEqual({ ...withTheta(llama, 10000), nKvHeads: llama.nHeads });
    expect(ropeTheta(configFromHf({ ...json, rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 500000 } }, 'c'))).toBe(500000);
  });

  it('reads RoPE from rope_parameters (newer transformers) as from the top-level fields, and the defaults of mistral and gpt_neox', () => {
    const llama3 = { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const scaling = { kind: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 };
    const json = { ...llamaConfigJson(llama), rope_theta: undefined, rope_scaling: undefined };
    const fromParameters = configFromHf({ ...json, rope_parameters: { rope_type: 'llama3', rope_theta: 500000, ...llama3 } }, 'c');
    const fromScaling = configFromHf({ ...json, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', ...llama3 } }, 'c');
    expect(fromParameters.architecture.positions).toEqual({ kind: 'rope', theta: 500000, rotaryFraction: 1, scaling });
    expect(fromScaling).toEqual(fromParameters);
    // Older configs name the type "type".
    expect(configFromHf({ ...json, rope_scaling: { type: 'llama3', ...llama3 } }, 'c').architecture.positions).toMatchObject({ scaling });
    const neox = neoxConfigJson(PRESETS['neox-tiny']);
    const neoxDefaults = configFromHf({ ...neox, rotary_pct: undefined }, 'c');
    expect(neoxDefaults.architecture).toEqual({ ...PRESETS['neox-tiny'].architecture, positions: { kind: 'rope', theta: 10000, rotaryFraction: 0.25, scaling: null } });
    const newer = configFromHf({ ...neox, rotary_pct: undefined, rope_parameters: { rope_type: 'default', rope_theta: 20000, partial_rotary_factor: 0.5 } }, 'c');
    expect(newer.architecture.positions).toEqual({ kind: 'rope', theta: 20000, rotaryFraction: 0.5, scaling: null });
    const mistral = { ...llamaConfigJson(llama), model_type: 'mistral', max_position_embeddings: 8192 };
    expect(configFromHf(mistral, 'c')).toMatchObject({ contextLength: 4096, slidingWindow: 4096 }); // sliding_window's default
    expect(configFromHf({ ...mistral, sliding_window: null }, 'c')).not.toHaveProperty('slidingWindow');
    expect(configFromHf({ ...mistral, sliding_window: null }, 'c').contextLength).toBe(8192);
    expect(configFromHf({ ...mistral, sliding_window: 16384 }, 'c')).not.toHaveProperty('slidingWindow'); // wider than the positions: no limit
    expect(configFromHf({ ...mistral, model_type: 'qwen2', sliding_window: 1024 }, 'c').contextLength).toBe(8192); // use_sliding_window false
    expect(configFromHf({ ...mistral, model_type: 'qwen2', sliding_window: 1024 }, 'c')).not.toHaveProperty('slidingWindow');
    const qwen2Windowed = configFromHf({ ...mistral, model_type: 'qwen2', sliding_window: 1024, use_sliding_window: true }, 'c');
    expect(qwen2Windowed).toMatchObject({ contextLength: 1024, slidingWindow: 1024 });
    // Written back, the window stays: mistral's (llama's features, no biases) and qwen2's, every layer windowed.
    expect(configToHf(configFromHf(mistral, 'c'))).toMatchObject({ model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 4096, max_position_embeddings: 4096 });
    expect(configToHf(qwen2Windowed)).toMatchObject({ model_type: 'qwen2', use_sliding_window: true, sliding_window: 1024, max_window_layers: 0 });
    expect(configFromHf(configToHf(qwen2Windowed), 'c')).toEqual(qwen2Windowed);
  });

  it('takes the classifier head from architectures, with numClasses from num_labels or id2label', () => {
    const json = { ...llamaConfigJson(llama), architectures: ['LlamaForSequenceClassification'] };
    expect(configFromHf({ ...json, num_labels: 3 }, 'c').head).toEqual({ kind: 'classifier', numClasses: 3 });
    expect(configFromHf({ ...json, id2label: { 0: 'neg', 1: 'neutral', 2: 'pos', 3: 'x' } }, 'c').head).toEqual({ kind: 'classifier', numClasses: 4 });
    expect(configFromHf({ ...llamaConfigJson(llama), num_labels: 3 }, 'c').head).toEqual({ kind: 'lm' });
  });

  const gpt2Json = gpt2ConfigJson(gpt2);
  const llamaJson = llamaConfigJson(llama);
  const rejected: [string, unknown, RegExp][] = [
    ['not an object', [1], /config is not a JSON object/],
    ['unknown model_type', { ...gpt2Json, model_type: 'bert' }, /unsupported model_type "bert" \(expected "gpt2", "llama", "mistral", "qwen2", "gpt_neox"\)/],
    ['missing model_type', { ...gpt2Json, model_type: undefined }, /unsupported model_type undefined/],
    ['missing size field', { ...llamaJson, intermediate_size: undefined }, /intermediate_size is missing/],
    ['missing gpt2 width', { ...gpt2Json, n_embd: undefined }, /n_embd is missing/],
    ['missing gpt_neox field', { ...neoxConfigJson(PRESETS['neox-tiny']), max_position_embeddings: undefined }, /max_position_embeddings is missing/],
    ['gpt2 activation', { ...gpt2Json, activation_function: 'relu' }, /activation_function "relu" is not supported \(expected "gelu_new", "gelu_pytorch_tanh", "gelu"\)/],
    ['gpt_neox activation', { ...neoxConfigJson(PRESETS['neox-tiny']), hidden_act: 'relu' }, /hidden_act "relu" is not supported \(expected "gelu", "gelu_new", "gelu_pytorch_tanh"\)/],
    ['gpt2 untied', { ...gpt2Json, tie_word_embeddings: false }, /tie_word_embeddings false is not supported/],
    ['gpt2 layer-index scaling', { ...gpt2Json, scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx true is not supported/],
    ['llama3 rope_scaling without its fields', { ...llamaJson, rope_scaling: { rope_type: 'llama3', factor: 8 } }, /rope_scaling.low_freq_factor is missing/],
    ['unknown rope_scaling type', { ...llamaJson, rope_scaling: { rope_type: 'yarn', factor: 8 } }, /rope_scaling.rope_type "yarn" is not supported: only "default" and "llama3" RoPE are implemented/],
    ['unknown rope_scaling type (old key)', { ...llamaJson, rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling.type "linear" is not supported: only "default" and "llama3" RoPE are implemented/],
    ['unknown rope_parameters type (old key)', { ...llamaJson, rope_parameters: { type: 'yarn' } }, /rope_parameters.type "yarn" is not supported/],
    ['rope_scaling not an object', { ...llamaJson, rope_scaling: 'llama3' }, /rope_scaling must be null or an object, got "llama3"/],
    ['llama partial rotary', { ...llamaJson, partial_rotary_factor: 0.5 }, /partial_rotary_factor 0.5 is not supported: llama rotates whole heads/],
    ['llama rope_parameters type', { ...llamaJson, rope_parameters: { rope_type: 'yarn' } }, /rope_parameters.rope_type "yarn" is not supported/],
    ['llama rope_parameters theta', { ...llamaJson, rope_parameters: { rope_type: 'default', rope_theta: -1 } }, /rope_parameters.rope_theta must be a positive number, got -1/],
    ['llama activation', { ...llamaJson, hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
    ['llama attention bias not a boolean', { ...llamaJson, attention_bias: 'yes' }, /attention_bias must be a boolean, got "yes"/],
    ['mistral sliding window', { ...llamaJson, model_type: 'mistral', sliding_window: 0 }, /sliding_window must be a positive integer, got 0/],
    ['llama head_dim', { ...llamaJson, head_dim: 128 }, /head_dim 128 is not supported/],
    ['non-integer size', { ...llamaJson, hidden_size: 32.5 }, /hidden_size must be a positive integer, got 32.5/],
    ['bad epsilon', { ...gpt2Json, layer_norm_epsilon: -1 }, /layer_norm_epsilon must be a positive number, got -1/],
    // validateConfig's checks, naming config.json's keys
    ['gpt2 width not a multiple of the heads', { ...gpt2Json, n_embd: 30 }, /^\/x\/config.json: n_embd must be a multiple of n_head \(4\), got 30$/],
    ['llama width not a multiple of the heads', { ...llamaJson, hidden_size: 30 }, /hidden_size must be a multiple of num_attention_heads \(4\), got 30/],
    ['KV heads not a divisor of the heads', { ...llamaJson, num_key_value_heads: 3 }, /num_key_value_heads must be a divisor of num_attention_heads \(4\), got 3/],
    ['head size over 256', { ...llamaJson, hidden_size: 2048 }, /hidden_size \/ num_attention_heads must be at most 256, got 512/],
    ['vocabulary too large', { ...llamaJson, vocab_size: 2 ** 25 }, /vocab_size must be an integer in \[1, 16777216\], got 33554432/],
    ['gpt2 context too large', { ...gpt2Json, n_positions: 2 ** 25 }, /n_positions must be an integer in \[1, 16777216\]/],
    ['gpt2 MLP too wide', { ...gpt2Json, n_inner: 2 ** 25 }, /n_inner must be an integer in \[1, 16777216\]/],
    ['epsilon of 1 or more', { ...llamaJson, rms_norm_eps: 2 }, /rms_norm_eps must be a number in \(0, 1\), got 2/],
    ['gpt_neox epsilon', { ...neoxConfigJson(PRESETS['neox-tiny']), layer_norm_eps: 1 }, /layer_norm_eps must be a number in \(0, 1\), got 1/],
    ['rope_theta of 1', { ...llamaJson, rope_theta: 1 }, /rope_theta must be a finite number > 1, got 1/],
    ['rope_parameters.rope_theta of 1', { ...llamaJson, rope_parameters: { rope_type: 'default', rope_theta: 1 } }, /rope_parameters.rope_theta must be a finite number > 1, got 1/],
    ['gpt_neox rotary_emb_base', { ...neoxConfigJson(PRESETS['neox-tiny']), rotary_emb_base: 0.5 }, /rotary_emb_base must be a finite number > 1, got 0.5/],
    ['llama3 factor below 1', { ...llamaJson, rope_scaling: { rope_type: 'llama3', factor: 0.5, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } }, /rope_scaling.factor must be a finite number >= 1, got 0.5/],
    ['llama3 frequency factors out of order', { ...llamaJson, rope_parameters: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 64 } }, /rope_parameters.high_freq_factor must be a finite number > rope_parameters.low_freq_factor \(4\), got 1/],
    ['rotary_pct over 1', { ...neoxConfigJson(PRESETS['neox-tiny']), rotary_pct: 1.5 }, /rotary_pct must be a number in \(0, 1\], got 1.5/],
    ['rotary_pct rotating one dim', { ...neoxConfigJson(PRESETS['neox-tiny']), rotary_pct: 0.1 }, /rotary_pct must be such that floor\(hidden_size \/ num_attention_heads · rotary_pct\), the dims RoPE rotates in each head, is even and >= 2 \(hidden_size \/ num_attention_heads = 16\), got 0.1/],
    ['partial_rotary_factor in rope_parameters', { ...neoxConfigJson(PRESETS['neox-tiny']), rotary_pct: undefined, rope_parameters: { rope_type: 'default', partial_rotary_factor: 2 } }, /rope_parameters.partial_rotary_factor must be a number in \(0, 1\], got 2/],
    ['too few labels', { ...gpt2Json, architectures: ['GPT2ForSequenceClassification'], num_labels: 1 }, /num_labels must be an integer in \[2, 65536\], got 1/],
    ['one label in id2label', { ...gpt2Json, architectures: ['GPT2ForSequenceClassification'], id2label: { 0: 'only' } }, /the number of id2label entries must be an integer in \[2, 65536\], got 1/],
    ['labels disagree', { ...gpt2Json, architectures: ['GPT2ForSequenceClassification'], num_labels: 3, id2label: { 0: 'a', 1: 'b' } }, /num_labels 3 disagrees with id2label's 2 labels/],
    ['architectures not strings', { ...gpt2Json, architectures: 'GPT2LMHeadModel' }, /architectures must be a list of strings/],
  ];
  it.each(rejected)('rejects %s with a clear message, naming config.json fields', async (_, json, message) => {
    const error = await checkpointError(() => configFromHf(json, '/x/config.json'), '/x/config.json');
    expect(error.message).toMatch(message);
    // never ModelConfig's own names, which the user's config.json does not have
    expect(error.message).not.toMatch(/model config|\b(dModel|nHeads|nKvHeads|nLayers|dFf|normEps|vocabSize|contextLength|slidingWindow|numClasses|rotaryFraction|theta|head(Dim)?\.|lowFreqFactor|highFreqFactor|originalContextLength|architecture\.)/);
  });
});

describe('Hugging Face checkpoints: malformed directories', () => {
  const base = () => [...gpt2HfTensors(gpt2, mulberry32(30), '')].map(([name, t]) => asF32(name, t));
  const weightsFile = (dir: string) => path.join(dir, 'model.safetensors');

  it('a missing tensor', async () => {
    const dir = await writeHfDir(gpt2ConfigJson(gpt2), base().filter((t) => t.name !== 'h.1.mlp.c_fc.bias'));
    expect((await checkpointError(() => loadCheckpoint(dir), weightsFile(dir))).message).toMatch(/missing tensor "transformer.h.1.mlp.c_fc.bias" \(for layers.1.mlp.up.bias\)/);
  });

  it('an unknown extra tensor (but not a causal-mask buffer)', async () => {
    const extra = { name: 'h.0.attn.c_attn.extra', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) };
    const dir = await writeHfDir(gpt2ConfigJson(gpt2), [...base(), extra]);
    expect((await checkpointError(() => loadCheckpoint(dir), weightsFile(dir))).message).toMatch(/unexpected tensor "h.0.attn.c_attn.extra" \(not a parameter of this gpt2 model\)/);
  });

  it('a shape mismatch (a Conv1D weight stored as [out, in])', async () => {
    const d = gpt2.dModel;
    const tensors = base().map((t) => (t.name === 'h.0.attn.c_attn.weight' ? { ...t, shape: [3 * d, d] } : t));
    const dir = await writeHfDir(gpt2ConfigJson(gpt2), tensors);
    expect((await checkpointError(() => loadCheckpoint(dir), weightsFile(dir))).message).toMatch(
      new RegExp(`tensor "h.0.attn.c_attn.weight" has shape \\[${3 * d}, ${d}\\], expected \\[${d}, ${3 * d}\\] \\(for layers.0.attn.qkv.weight\\)`),
    );
  });

  it('an lm_head that differs from the tied embedding', async () => {
    const lmHead = { name: 'lm_head.weight', dtype: 'F32', shape: [gpt2.vocabSize, gpt2.dModel], bytes: f32Bytes(randomArray(gpt2.vocabSize * gpt2.dModel, mulberry32(31))) };
    const dir = await writeHfDir(gpt2ConfigJson(gpt2), [...base(), lmHead]);
    expect((await checkpointError(() => loadCheckpoint(dir), weightsFile(dir))).message).toMatch(/lm_head.weight differs from the token embedding, but the config ties them/);
  });

  it('a tensor both with and without the transformer. prefix', async () => {
    const t = base();
    const dir = await writeHfDir(gpt2ConfigJson(gpt2), [...t, { ...t[0], name: `transformer.${t[0].name}` }]);
    expect((await checkpointError(() => loadCheckpoint(dir), weightsFile(dir))).message).toMatch(/appears both with and without the "transformer." prefix/);
  });

  it('a tensor with an unsupported dtype', async () => {
    const tensors = base().map((t) => (t.name === 'wpe.weight' ? { ...t, dtype: 'I4' } : t));
    const dir = await writeHfDir(gpt2ConfigJson(gpt2), tensors);
    expect((await checkpointError(() => loadCheckpoint(dir), weightsFile(dir))).message).toMatch(/tensor "wpe.weight": unknown or unsupported dtype "I4"/);
  });

  it('missing or broken config.json, missing weights, bad paths', async () => {
    const dir = await writeHfDir(gpt2ConfigJson(gpt2), base());
    const configFile = path.join(dir, 'config.json');
    await writeFile(configFile, '{"model_type": ');
    expect((await checkpointError(() => loadCheckpoint(dir), configFile)).message).toMatch(/not valid JSON/);
    await unlink(configFile);
    expect((await checkpointError(() => loadCheckpoint(dir), configFile)).message).toMatch(/cannot read file/);
    await writeFile(configFile, JSON.stringify(gpt2ConfigJson(gpt2)));
    expect((await checkpointError(() => loadCheckpoint(weightsFile(dir)), weightsFile(dir))).message).toMatch(/pass the Hugging Face checkpoint directory/);
    await unlink(weightsFile(dir));
    expect((await checkpointError(() => loadCheckpoint(dir), dir)).message).toMatch(/no model.safetensors or model.safetensors.index.json/);
    const nowhere = path.join(tmp, 'does-not-exist');
    expect((await checkpointError(() => loadCheckpoint(nowhere), nowhere)).message).toMatch(/cannot read/);
  });

  it('weightsFromHf and weightsToHf are inverses', () => {
    const weights = randomWeights(llama, mulberry32(32));
    const tensors = weightsToHf(llama, weights, 'x');
    expectSameWeights(weightsFromHf(llama, tensors, 'x'), weights);
    checkWeights(llama, weights, 'x');
  });
});

const llama2cDims = { dim: 32, hidden: 40, layers: 2, heads: 4, kvHeads: 2, vocab: 11, seqLen: 6 };

/** llama2.c's RoPE (run.c): rotate the interleaved pairs (2i, 2i+1) of one head. */
function ropeInterleaved(v: number[], pos: number): number[] {
  const out = [...v];
  for (let i = 0; i < v.length; i += 2) {
    const angle = pos / 10000 ** (i / v.length);
    out[i] = v[i] * Math.cos(angle) - v[i + 1] * Math.sin(angle);
    out[i + 1] = v[i] * Math.sin(angle) + v[i + 1] * Math.cos(angle);
  }
  return out;
}

/** config.ts's RoPE (Hugging Face rotate-half) on one head. */
function ropeHalf(v: number[], pos: number): number[] {
  const half = v.length / 2;
  const out = [...v];
  for (let j = 0; j < half; j++) {
    const angle = pos * 10000 ** ((-2 * j) / v.length);
    out[j] = v[j] * Math.cos(angle) - v[j + half] * Math.sin(angle);
    out[j + half] = v[j + half] * Math.cos(angle) + v[j] * Math.sin(angle);
  }
  return out;
}

/** Rows [row0, row0 + n) of a [?, cols] matrix times x, in float64. */
function matvecRows(w: Float32Array, cols: number, row0: number, n: number, x: Float32Array): number[] {
  return Array.from({ length: n }, (_, r) => x.reduce((s, xc, c) => s + at(w, cols, row0 + r, c) * xc, 0));
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);

describe('llama2.c checkpoints', () => {
  const hs = llama2cDims.dim / llama2cDims.heads;
  const shared = llama2cParts({ ...llama2cDims, shared: true }, mulberry32(40));
  const separate = llama2cParts({ ...llama2cDims, shared: false }, mulberry32(41));

  it.each([
    ['shared classifier', shared],
    ['separate classifier (negative vocab_size)', separate],
  ])('%s: config and the tensors that need no permutation', (_, parts) => {
    const { config, weights } = parseLlama2c(llama2cFile(parts), 'tiny.bin');
    const { dim: d, hidden: f } = parts;
    expect(config).toEqual({
      architecture: { ...ARCHITECTURES.llama, tiedEmbeddings: parts.shared },
      vocabSize: parts.vocab,
      contextLength: parts.seqLen,
      dModel: d,
      nLayers: parts.layers,
      nHeads: parts.heads,
      nKvHeads: parts.kvHeads,
      dFf: f,
      normEps: 1e-5,
      head: { kind: 'lm' },
    });
    checkWeights(config, weights, 'tiny.bin');
    expect(weights.get('tokenEmbedding.weight')).toEqual(parts.emb);
    expect(weights.get('finalNorm.weight')).toEqual(parts.rmsFinal);
    if (parts.shared) expect(weights.has('lmHead.weight')).toBe(false);
    else expect(weights.get('lmHead.weight')).toEqual(parts.wcls);
    for (let i = 0; i < parts.layers; i++) {
      const w = (name: string) => weights.get(`layers.${i}.${name}`)!;
      expect(w('attnNorm.weight')).toEqual(parts.rmsAtt[i]);
      expect(w('attn.qkv.weight').subarray((d + parts.kvHeads * hs) * d)).toEqual(parts.wv[i]);
      expect(w('attn.out.weight')).toEqual(parts.wo[i]);
      expect(w('mlpNorm.weight')).toEqual(parts.rmsFfn[i]);
      expect(w('mlp.gateUp.weight').subarray(0, f * d)).toEqual(parts.w1[i]);
      expect(w('mlp.gateUp.weight').subarray(f * d)).toEqual(parts.w3[i]);
      expect(w('mlp.down.weight')).toEqual(parts.w2[i]);
    }
  });

  it('permutes wq and wk as w.view(heads, hs/2, 2, d).transpose(1, 2).reshape(heads·hs, d)', () => {
    const { weights } = parseLlama2c(llama2cFile(shared), 'tiny.bin');
    const d = llama2cDims.dim;
    // Element [h, t, i, c] of the transposed view is element [h, i, t, c] of the original view.
    const viewed = (w: Float32Array, h: number, i: number, t: number, c: number) => w[((h * (hs / 2) + i) * 2 + t) * d + c];
    for (let l = 0; l < llama2cDims.layers; l++) {
      const qkv = weights.get(`layers.${l}.attn.qkv.weight`)!;
      for (const [source, heads, rowOffset] of [[shared.wq[l], llama2cDims.heads, 0], [shared.wk[l], llama2cDims.kvHeads, d]] as const)
        for (let h = 0; h < heads; h++)
          for (let t = 0; t < 2; t++)
            for (let i = 0; i < hs / 2; i++)
              for (let c = 0; c < d; c++) {
                const transposedIndex = ((h * 2 + t) * (hs / 2) + i) * d + c;
                if (qkv[rowOffset * d + transposedIndex] !== viewed(source, h, i, t, c)) expect.fail(`layer ${l} row ${rowOffset + transposedIndex / d}`);
              }
    }
  });

  it('the permutation turns llama2.c attention scores (interleaved RoPE) into ours (rotate-half)', () => {
    const { weights } = parseLlama2c(llama2cFile(shared), 'tiny.bin');
    const { dim: d, heads, kvHeads } = llama2cDims;
    const rng = mulberry32(42);
    let unpermutedDiffers = false;
    for (let l = 0; l < llama2cDims.layers; l++) {
      const qkv = weights.get(`layers.${l}.attn.qkv.weight`)!;
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / (heads / kvHeads));
        const x = randomArray(d, rng);
        const y = randomArray(d, rng);
        for (const [m, n] of [[0, 0], [3, 1], [5, 5], [2, 4]]) {
          const reference = dot(ropeInterleaved(matvecRows(shared.wq[l], d, h * hs, hs, x), m), ropeInterleaved(matvecRows(shared.wk[l], d, g * hs, hs, y), n));
          const ours = dot(ropeHalf(matvecRows(qkv, d, h * hs, hs, x), m), ropeHalf(matvecRows(qkv, d, d + g * hs, hs, y), n));
          expect(ours).toBeCloseTo(reference, 10);
          const unpermuted = dot(ropeHalf(matvecRows(shared.wq[l], d, h * hs, hs, x), m), ropeHalf(matvecRows(shared.wk[l], d, g * hs, hs, y), n));
          if (Math.abs(unpermuted - reference) > 1e-6) unpermutedDiffers = true;
        }
      }
    }
    expect(unpermutedDiffers).toBe(true);
  });

  it('reads from disk (readLlama2c, loadCheckpoint) and from unaligned buffers', async () => {
    const file = path.join(tmp, 'tiny.bin');
    const bytes = llama2cFile(separate);
    await writeFile(file, bytes);
    const expected = parseLlama2c(bytes, file);
    expect(await readLlama2c(file)).toEqual(expected);
    expect(await loadCheckpoint(file)).toEqual(expected);
    const unaligned = Buffer.concat([Buffer.alloc(1), bytes]).subarray(1);
    expect(parseLlama2c(unaligned, file)).toEqual(expected);
  });

  it('rejects a file whose size is not exactly header + tensors, naming expected and actual sizes', async () => {
    const bytes = llama2cFile(shared);
    const n = bytes.length;
    const longer = Buffer.concat([bytes, Buffer.alloc(4)]);
    expect((await checkpointError(() => parseLlama2c(longer, 'a.bin'), 'a.bin')).message).toMatch(new RegExp(`should be ${n} bytes .*shared classifier\\), got ${n + 4}$`));
    expect((await checkpointError(() => parseLlama2c(bytes.subarray(0, n - 1), 'a.bin'), 'a.bin')).message).toMatch(new RegExp(`should be ${n} bytes .*, got ${n - 1}$`));
    const withWcls = llama2cFile(separate);
    withWcls.writeInt32LE(llama2cDims.vocab, 20); // claims a shared classifier, yet carries wcls
    expect((await checkpointError(() => parseLlama2c(withWcls, 'b.bin'), 'b.bin')).message).toMatch(
      new RegExp(`should be ${n} bytes .*got ${withWcls.length} \\(that is the size with a separate classifier: vocab_size's sign is wrong\\)`),
    );
  });

  it('rejects short files and impossible headers', async () => {
    expect((await checkpointError(() => parseLlama2c(Buffer.alloc(27), 'c.bin'), 'c.bin')).message).toMatch(/27 bytes: too short for the 28-byte llama2.c header/);
    const header = (values: number[]) => {
      const b = Buffer.alloc(28);
      values.forEach((v, i) => b.writeInt32LE(v, 4 * i));
      return b;
    };
    expect((await checkpointError(() => parseLlama2c(header([32, 40, 2, 3, 3, 11, 6]), 'c.bin'), 'c.bin')).message).toMatch(
      /invalid llama2.c header \[32, 40, 2, 3, 3, 11, 6\]: model config: dModel must be a multiple of nHeads/,
    );
    expect((await checkpointError(() => parseLlama2c(header([32, 40, 2, 4, 3, 11, 6]), 'c.bin'), 'c.bin')).message).toMatch(/nKvHeads must be a divisor of nHeads/);
    expect((await checkpointError(() => parseLlama2c(header([32, 40, 2, 4, 2, 0, 6]), 'c.bin'), 'c.bin')).message).toMatch(/vocabSize must be an integer/);
    expect((await checkpointError(() => parseLlama2c(header([-32, 40, 2, 4, 2, 11, 6]), 'c.bin'), 'c.bin')).message).toMatch(/dModel must be an integer/);
    expect((await checkpointError(() => parseLlama2c(header([1 << 24, 1 << 24, 1 << 24, 1 << 20, 1 << 20, 1 << 24, 1 << 24]), 'c.bin'), 'c.bin')).message).toMatch(/should be \d+ bytes/);
  });
});

stories.describe('llama2.c stories260K.bin', () => {
  it('loads with the published shapes and the file layout it implies', async () => {
    const { config, weights } = await loadCheckpoint(storiesFile);
    expect(config).toEqual({
      architecture: { ...ARCHITECTURES.llama, tiedEmbeddings: true },
      vocabSize: 512,
      contextLength: 512,
      dModel: 64,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      dFf: 172,
      normEps: 1e-5,
      head: { kind: 'lm' },
    });
    checkWeights(config, weights, storiesFile);
    for (const [name, data] of weights) expect(data.every(Number.isFinite), name).toBe(true);
    const bytes = await readFile(storiesFile);
    const floatsAt = (byte: number, n: number) => Float32Array.from({ length: n }, (_, i) => bytes.readFloatLE(byte + 4 * i));
    expect(weights.get('tokenEmbedding.weight')!.subarray(0, 64)).toEqual(floatsAt(28, 64));
    // From the end: freq_cis_real and freq_cis_imag [512, hs/2] each, rms_final_weight [64] before them.
    const hsHalf = 64 / 8 / 2;
    const freqStart = bytes.length - 2 * 4 * 512 * hsHalf;
    expect(weights.get('finalNorm.weight')).toEqual(floatsAt(freqStart - 4 * 64, 64));
    for (const pos of [0, 1, 100, 511])
      for (let i = 0; i < hsHalf; i++) expect(bytes.readFloatLE(freqStart + 4 * (pos * hsHalf + i))).toBeCloseTo(Math.cos(pos * 10000 ** (-i / hsHalf)), 2);
  });
});

describe('fuzz: truncated and corrupted files give correctly shaped data or a CheckpointError', () => {
  const ITERATIONS = 3000;

  /** A truncation or 1–4 byte overwrites (half aimed at [0, hot), e.g. the header), seeded by `i`. */
  function mutate(valid: Uint8Array, hot: number, i: number): { bytes: Uint8Array; truncated: boolean } {
    const rng = mulberry32(1000 + i);
    if (rng() < 0.3) return { bytes: valid.subarray(0, Math.floor(rng() * valid.length)), truncated: true };
    const bytes = Uint8Array.from(valid);
    const flips = 1 + Math.floor(rng() * 4);
    for (let k = 0; k < flips; k++) {
      const position = Math.floor(rng() * (rng() < 0.5 ? hot : bytes.length));
      bytes[position] = rng() < 0.5 ? bytes[position] ^ (1 << Math.floor(rng() * 8)) : Math.floor(rng() * 256);
    }
    return { bytes, truncated: false };
  }

  function run(valid: Uint8Array, hot: number, load: (bytes: Uint8Array) => { config: ModelConfig; weights: Weights }) {
    const outcomes = { loaded: 0, rejected: 0 };
    for (let i = 0; i < ITERATIONS; i++) {
      const { bytes, truncated } = mutate(valid, hot, i);
      let loaded: { config: ModelConfig; weights: Weights };
      try {
        loaded = load(bytes);
      } catch (err) {
        if (!(err instanceof CheckpointError)) throw new Error(`iteration ${i}: ${String(err)} is not a CheckpointError`, { cause: err });
        outcomes.rejected++;
        continue;
      }
      if (truncated) expect.fail(`iteration ${i}: a file truncated to ${bytes.length} of ${valid.length} bytes loaded`);
      const specs = parameterSpecs(loaded.config);
      expect(loaded.weights.size, `iteration ${i}`).toBe(specs.length);
      for (const spec of specs) expect(loaded.weights.get(spec.name)?.length, `iteration ${i}: ${spec.name}`).toBe(product(spec.shape));
      outcomes.loaded++;
    }
    // Both outcomes are common, so the mutations exercise the parsers rather than one early check.
    expect(outcomes.loaded).toBeGreaterThan(ITERATIONS / 20);
    expect(outcomes.rejected).toBeGreaterThan(ITERATIONS / 20);
  }

  it(`safetensors (gpt2 Hugging Face layout), ${ITERATIONS} mutations`, () => {
    const config: ModelConfig = { ...gpt2, vocabSize: 7, contextLength: 4, dModel: 8, nHeads: 2, nKvHeads: 2, nLayers: 1, dFf: 16 };
    const valid = encodeSafetensors(weightsToHf(config, randomWeights(config, mulberry32(50)), 'x'), { format: 'pt' });
    const hot = 8 + Number(valid.readBigUInt64LE(0));
    run(valid, hot, (bytes) => ({ config, weights: weightsFromHf(config, parseSafetensors(bytes, 'fuzz.safetensors').tensors, 'fuzz.safetensors') }));
  });

  it(`llama2.c, ${ITERATIONS} mutations`, () => {
    const parts = llama2cParts({ dim: 8, hidden: 12, layers: 1, heads: 2, kvHeads: 1, vocab: 5, seqLen: 4, shared: false }, mulberry32(51));
    const valid = llama2cFile(parts);
    run(valid, 28, (bytes) => parseLlama2c(bytes, 'fuzz.bin'));
  });
});
