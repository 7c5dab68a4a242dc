// Model configurations and the canonical parameter table shared by the native engine, the tfjs
// twin and the checkpoint readers and writers.
//
// An architecture is data: the Architecture record (declared, with ModelConfig's other fields, once,
// in native/index.d.ts, and imported here as types only), with the presets ARCHITECTURES.gpt2 and
// ARCHITECTURES.llama. The binding's parse_config and engine.h's structs are checked against that
// declaration by test/native-declarations.test.ts, which fails, naming the field and the file, when
// they stop declaring the same fields.
//
// Canonical names and layouts (every linear weight is [out, in], as torch.nn.Linear stores it):
//   tokenEmbedding.weight            [V, d]
//   positionEmbedding.weight         [P, d]                       learned positions only
//   layers.{i}.attnNorm.weight       [d]           .bias [d]      bias: LayerNorm only
//   layers.{i}.attn.qkv.weight       [(H + 2·KV)·hd, d]           rows: H query heads, then KV key
//                                                                 heads, then KV value heads
//   layers.{i}.attn.qkv.bias         [(H + 2·KV)·hd]              biases.qkv
//   layers.{i}.attn.out.weight       [d, H·hd]     .bias [d]      bias: biases.attnOut
//   layers.{i}.mlpNorm.weight        [d]           .bias [d]      bias: LayerNorm only
//   layers.{i}.mlp.up.weight         [F, d]        .bias [F]      GELU MLPs; bias: biases.mlp
//   layers.{i}.mlp.gateUp.weight     [2·F, d]      .bias [2·F]    SwiGLU: rows 0..F-1 gate,
//                                                                 rows F..2F-1 up; bias: biases.mlp
//   layers.{i}.mlp.down.weight       [d, F]        .bias [d]      bias: biases.mlp
//   finalNorm.weight                 [d]           .bias [d]      bias: LayerNorm only
//   lmHead.weight                    [V, d]                       LM head, when not tied
//   classifier.weight                [C, d]                       classifier head (zero-initialised)
//
// The mathematics, identical in the engine and the twin (a bias is added where the table has one):
//   x = E[token] (+ P[position] with learned positions); per layer, serial residual:
//     x += Wo·attn(pos(Wqkv·N1(x))); x += Wdown·mlp(Wup·N2(x));
//   parallel residual (GPT-NeoX): x += Wo·attn(pos(Wqkv·N1(x))) + Wdown·mlp(Wup·N2(x)), both
//     branches reading the same x; then h = N_f(x).
//   LayerNorm: (x − mean) / sqrt(var + eps) · w + b (biased variance); RMSNorm: x / sqrt(mean(x²) + eps) · w.
//   mlp: geluTanh(u) = 0.5·u·(1 + tanh(sqrt(2/π)·(u + 0.044715·u³))); geluExact(u) = 0.5·u·(1 + erf(u/√2));
//     swiglu: silu(g) ⊙ u with [g; u] = WgateUp·N2(x), silu(g) = g·sigmoid(g).
//   RoPE, Hugging Face's "rotate half" convention on the first r = floor(hd · rotaryFraction) dims of
//     each query and key head (the rest pass through): for j < r/2, angle = position·θ_j,
//     θ_j = theta^(−2j/r), then Llama 3's scaling if set (ropeInverseFrequencies);
//     q'[j] = q[j]·cos − q[j + r/2]·sin, q'[j + r/2] = q[j + r/2]·cos + q[j]·sin (same for k).
//   attention: causal, scale 1/sqrt(hd), query head h reads key/value head floor(h / (H / KV)),
//          keys at positions ≥ the sequence's length are masked (right padding).
//   heads: LM logits [B, T, V] = h · E^T (tied) or h · lmHead^T; classifier logits [B, C] =
//          h[b, length_b − 1] · classifier^T (the hidden state at the last non-pad token).

import type { RawArchitecture, RawHeadConfig, RawLlama3RopeScaling, RawModelConfig, RawPositions } from '@w2s/native';

/** Llama 3's RoPE frequency scaling (transformers' rope_type "llama3"). */
export type Llama3RopeScaling = RawLlama3RopeScaling;
export type Positions = RawPositions;
/** The features that tell one transformer family from another (declared in native/index.d.ts). */
export type Architecture = RawArchitecture;

/** The two presets: GPT-2 and Llama (RoPE theta 10000, untied head). */
export const ARCHITECTURES = {
  gpt2: {
    norm: 'layerNorm',
    mlp: 'geluTanh',
    positions: { kind: 'learned' },
    biases: { qkv: true, attnOut: true, mlp: true },
    parallelResidual: false,
    tiedEmbeddings: true,
  },
  llama: {
    norm: 'rmsNorm',
    mlp: 'swiglu',
    positions: { kind: 'rope', theta: 10000, rotaryFraction: 1, scaling: null },
    biases: { qkv: false, attnOut: false, mlp: false },
    parallelResidual: false,
    tiedEmbeddings: false,
  },
} as const satisfies Record<string, Architecture>;

export type HeadConfig = RawHeadConfig;

/** A model's shape: the engine's RawModelConfig (native/index.d.ts, where its fields are documented), and slidingWindow. */
export interface ModelConfig extends RawModelConfig {
  /**
   * Set when contextLength is the model's sliding-window attention span W (Hugging Face's
   * sliding_window: Mistral, Qwen2 with use_sliding_window), not a limit of its positions. The
   * engine computes full causal attention, which is exactly the windowed one while a sequence
   * fits in W tokens, and has no windowed attention beyond it: contextLength <= slidingWindow,
   * and longer sequences are refused naming the window (slidingWindowProblem).
   */
  slidingWindow?: number;
}

export interface ParameterSpec {
  name: string;
  shape: number[];
  /** How the engine initialises it: normal with this standard deviation, or a constant. */
  init: { kind: 'normal'; std: number } | { kind: 'constant'; value: number };
  /** AdamW weight decay applies to matrices and embeddings, never to biases and norm weights. */
  decay: boolean;
  /** Part of the classification or LM head (what trains in linear-probe mode). */
  head: boolean;
}

export const INIT_STD = 0.02;

export function headDim(config: ModelConfig): number {
  return config.dModel / config.nHeads;
}

/** The dims of each head RoPE rotates (0 with learned positions). */
export function rotaryDim(config: ModelConfig): number {
  const p = config.architecture.positions;
  return p.kind === 'rope' ? Math.floor(headDim(config) * p.rotaryFraction) : 0;
}

/**
 * RoPE's inverse frequencies θ_j = theta^(−2j/r), j < r/2 (r = rotaryDim), with Llama 3's scaling
 * where set (transformers' _compute_llama3_parameters): wavelengths 2π/θ above
 * originalContextLength / lowFreqFactor are divided by factor, those below
 * originalContextLength / highFreqFactor kept, those between interpolated. In float64.
 */
export function ropeInverseFrequencies(config: ModelConfig): Float64Array {
  const p = config.architecture.positions;
  if (p.kind !== 'rope') return new Float64Array(0);
  const r = rotaryDim(config);
  const inv = Float64Array.from({ length: r / 2 }, (_, j) => p.theta ** ((-2 * j) / r));
  const s = p.scaling;
  if (!s) return inv;
  const lowWavelen = s.originalContextLength / s.lowFreqFactor;
  const highWavelen = s.originalContextLength / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowWavelen) return f / s.factor;
    if (wavelen < highWavelen) return f;
    const smooth = (s.originalContextLength / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return ((1 - smooth) * f) / s.factor + smooth * f;
  });
}

type Fail = (field: string, expected: string, got: unknown) => never;

/** The fields validateConfig checks, as paths into a ModelConfig. */
export type ConfigField =
  | 'vocabSize'
  | 'contextLength'
  | 'slidingWindow'
  | 'dModel'
  | 'nLayers'
  | 'nHeads'
  | 'nKvHeads'
  | 'dFf'
  | 'normEps'
  | 'architecture.positions.theta'
  | 'architecture.positions.rotaryFraction'
  | 'architecture.positions.scaling.factor'
  | 'architecture.positions.scaling.lowFreqFactor'
  | 'architecture.positions.scaling.highFreqFactor'
  | 'architecture.positions.scaling.originalContextLength'
  | 'head.numClasses';

/** What a source calls some of the fields (e.g. config.json's hidden_size for dModel). */
export type ConfigFieldNames = Partial<Record<ConfigField, string>>;

function validateArchitecture(a: Architecture, fail: Fail, name: (field: ConfigField) => string, names?: ConfigFieldNames): void {
  if (a === null || typeof a !== 'object') fail('architecture', 'an object (see ARCHITECTURES)', a);
  const oneOf = (field: string, value: unknown, options: readonly string[]) => {
    if (!options.includes(value as string)) fail(`architecture.${field}`, `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`, value);
  };
  const bool = (field: string, value: unknown) => {
    if (typeof value !== 'boolean') fail(`architecture.${field}`, 'a boolean', value);
  };
  oneOf('norm', a.norm, ['layerNorm', 'rmsNorm']);
  oneOf('mlp', a.mlp, ['geluTanh', 'geluExact', 'swiglu']);
  const p = a.positions;
  if (p === null || typeof p !== 'object') fail('architecture.positions', 'an object', p);
  oneOf('positions.kind', p.kind, ['learned', 'rope']);
  if (p.kind === 'rope') {
    if (!(p.theta > 1) || !Number.isFinite(p.theta)) fail(name('architecture.positions.theta'), 'a finite number > 1', p.theta);
    if (!(p.rotaryFraction > 0 && p.rotaryFraction <= 1)) fail(name('architecture.positions.rotaryFraction'), 'a number in (0, 1]', p.rotaryFraction);
    const s = p.scaling;
    if (s !== null) {
      if (typeof s !== 'object') fail('architecture.positions.scaling', 'null or an object', s);
      oneOf('positions.scaling.kind', s.kind, ['llama3']);
      if (!(s.factor >= 1) || !Number.isFinite(s.factor)) fail(name('architecture.positions.scaling.factor'), 'a finite number >= 1', s.factor);
      const low = name('architecture.positions.scaling.lowFreqFactor');
      if (!(s.lowFreqFactor > 0)) fail(low, 'a number > 0', s.lowFreqFactor);
      if (!(s.highFreqFactor > s.lowFreqFactor) || !Number.isFinite(s.highFreqFactor))
        fail(name('architecture.positions.scaling.highFreqFactor'), `a finite number > ${names?.['architecture.positions.scaling.lowFreqFactor'] ?? 'lowFreqFactor'} (${s.lowFreqFactor})`, s.highFreqFactor);
      if (!Number.isInteger(s.originalContextLength) || s.originalContextLength < 1)
        fail(name('architecture.positions.scaling.originalContextLength'), 'a positive integer', s.originalContextLength);
    }
  }
  if (a.biases === null || typeof a.biases !== 'object') fail('architecture.biases', 'an object', a.biases);
  bool('biases.qkv', a.biases.qkv);
  bool('biases.attnOut', a.biases.attnOut);
  bool('biases.mlp', a.biases.mlp);
  bool('parallelResidual', a.parallelResidual);
  bool('tiedEmbeddings', a.tiedEmbeddings);
}

/**
 * Throws an Error naming the field and what was expected; returns the config for chaining.
 * `names`: what the config's source calls the fields (configFromHf: config.json's keys); the
 * message then names those instead of ModelConfig's, without the "model config:" prefix.
 */
export function validateConfig(config: ModelConfig, names?: ConfigFieldNames): ModelConfig {
  const fail: Fail = (field, expected, got) => {
    throw new Error(`${names ? '' : 'model config: '}${field} must be ${expected}, got ${JSON.stringify(got)}`);
  };
  const name = (field: ConfigField) => names?.[field] ?? field;
  if (config === null || typeof config !== 'object') fail('config', 'an object', config);
  validateArchitecture(config.architecture, fail, name, names);
  const positive = ['vocabSize', 'contextLength', 'dModel', 'nLayers', 'nHeads', 'nKvHeads', 'dFf'] as const;
  for (const key of positive) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1 || v > 1 << 24) fail(name(key), 'an integer in [1, 16777216]', v);
  }
  const w = config.slidingWindow;
  if (w !== undefined && (!Number.isInteger(w) || w < config.contextLength || w > 1 << 24))
    fail(name('slidingWindow'), `undefined or an integer in [${name('contextLength')} (${config.contextLength}), 16777216]: the engine has no windowed attention beyond the window`, w);
  const heads = name('nHeads');
  if (config.dModel % config.nHeads !== 0) fail(name('dModel'), `a multiple of ${heads} (${config.nHeads})`, config.dModel);
  const headSize = `${name('dModel')} / ${heads}`;
  if (headDim(config) > 256) fail(headSize, 'at most 256', headDim(config));
  if (config.architecture.positions.kind === 'rope' && (rotaryDim(config) < 2 || rotaryDim(config) % 2 !== 0))
    fail(
      name('architecture.positions.rotaryFraction'),
      names
        ? `such that floor(${headSize} · ${name('architecture.positions.rotaryFraction')}), the dims RoPE rotates in each head, is even and >= 2 (${headSize} = ${headDim(config)})`
        : `such that floor(headDim · rotaryFraction) is even and >= 2 (headDim ${headDim(config)})`,
      config.architecture.positions.rotaryFraction,
    );
  if (config.nHeads % config.nKvHeads !== 0) fail(name('nKvHeads'), `a divisor of ${heads} (${config.nHeads})`, config.nKvHeads);
  if (!(config.normEps > 0 && config.normEps < 1)) fail(name('normEps'), 'a number in (0, 1)', config.normEps);
  const head = config.head;
  if (!head || (head.kind !== 'lm' && head.kind !== 'classifier')) fail('head.kind', '"lm" or "classifier"', (head as { kind?: unknown } | undefined)?.kind);
  if (head.kind === 'classifier' && (!Number.isInteger(head.numClasses) || head.numClasses < 2 || head.numClasses > 65536))
    fail(name('head.numClasses'), 'an integer in [2, 65536]', head.numClasses);
  return config;
}

/**
 * Why `length` tokens are refused by a model whose context limit is its sliding window (a
 * sentence to follow "… is longer than"), or null: null too when the window is not what limits
 * the model (its callers' own contextLength checks then apply).
 */
export function slidingWindowProblem(config: ModelConfig, length: number): string | null {
  const w = config.slidingWindow;
  if (w === undefined || !(length > config.contextLength) || config.contextLength < w) return null;
  return (
    `the model's sliding window: its config.json has sliding_window ${w}, and the engine computes full causal attention, ` +
    `which equals the model's sliding-window attention only while a sequence fits in ${w} tokens; windowed attention beyond it is not supported`
  );
}

/** The canonical parameter table, in the order the engine lays parameters out in memory. */
export function parameterSpecs(config: ModelConfig): ParameterSpec[] {
  validateConfig(config);
  const { dModel: d, dFf: f, vocabSize: v, nLayers, architecture: a } = config;
  const hd = headDim(config);
  const qkvRows = (config.nHeads + 2 * config.nKvHeads) * hd;
  // In float32 arithmetic, as the engine computes it, so that the two tables agree bit for bit.
  const residualStd = Math.fround(Math.fround(INIT_STD) / Math.fround(Math.sqrt(2 * nLayers)));
  const specs: ParameterSpec[] = [];
  const add = (name: string, shape: number[], init: ParameterSpec['init'], decay: boolean, head = false) =>
    specs.push({ name, shape, init, decay, head });
  const normal = (std: number) => ({ kind: 'normal', std }) as const;
  const ones = { kind: 'constant', value: 1 } as const;
  const zeros = { kind: 'constant', value: 0 } as const;
  const norm = (prefix: string) => {
    add(`${prefix}.weight`, [d], ones, false);
    if (a.norm === 'layerNorm') add(`${prefix}.bias`, [d], zeros, false);
  };
  const linear = (prefix: string, out: number, inp: number, std: number, bias: boolean) => {
    add(`${prefix}.weight`, [out, inp], normal(std), true);
    if (bias) add(`${prefix}.bias`, [out], zeros, false);
  };

  add('tokenEmbedding.weight', [v, d], normal(INIT_STD), true);
  if (a.positions.kind === 'learned') add('positionEmbedding.weight', [config.contextLength, d], normal(INIT_STD), true);
  for (let i = 0; i < nLayers; i++) {
    norm(`layers.${i}.attnNorm`);
    linear(`layers.${i}.attn.qkv`, qkvRows, d, INIT_STD, a.biases.qkv);
    linear(`layers.${i}.attn.out`, d, config.nHeads * hd, residualStd, a.biases.attnOut);
    norm(`layers.${i}.mlpNorm`);
    if (a.mlp === 'swiglu') linear(`layers.${i}.mlp.gateUp`, 2 * f, d, INIT_STD, a.biases.mlp);
    else linear(`layers.${i}.mlp.up`, f, d, INIT_STD, a.biases.mlp);
    linear(`layers.${i}.mlp.down`, d, f, residualStd, a.biases.mlp);
  }
  norm('finalNorm');
  if (config.head.kind === 'lm' && !a.tiedEmbeddings) add('lmHead.weight', [v, d], normal(INIT_STD), true, true);
  if (config.head.kind === 'classifier') add('classifier.weight', [config.head.numClasses, d], zeros, true, true);
  return specs;
}

export function parameterCount(config: ModelConfig): number {
  return parameterSpecs(config).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}

/** Weights by canonical name, each a dense row-major float32 array of its spec's shape. */
export type Weights = Map<string, Float32Array>;

function gpt2Config(dModel: number, nLayers: number, nHeads: number, vocabSize = 50257, contextLength = 1024): ModelConfig {
  return {
    architecture: ARCHITECTURES.gpt2,
    vocabSize,
    contextLength,
    dModel,
    nLayers,
    nHeads,
    nKvHeads: nHeads,
    dFf: 4 * dModel,
    normEps: 1e-5,
    head: { kind: 'lm' },
  };
}

function llamaConfig(dModel: number, nLayers: number, nHeads: number, nKvHeads: number, dFf: number, vocabSize: number, contextLength: number): ModelConfig {
  return {
    architecture: ARCHITECTURES.llama,
    vocabSize,
    contextLength,
    dModel,
    nLayers,
    nHeads,
    nKvHeads,
    dFf,
    normEps: 1e-5,
    head: { kind: 'lm' },
  };
}

/** Named architectures: tiny ones for tests, and the published GPT-2 and Qwen2.5-0.5B shapes. */
export const PRESETS: Record<string, ModelConfig> = {
  // Head sizes 16 and 8: the engine's attention runs 16-wide tiles directly and pads smaller heads.
  'gpt2-tiny': gpt2Config(64, 2, 4, 97, 64),
  'llama-tiny': llamaConfig(32, 2, 4, 2, 48, 97, 64),
  // GPT-NeoX's features: exact GELU, RoPE on a quarter of each head (4 of 16 dims), parallel residual.
  'neox-tiny': {
    ...gpt2Config(64, 2, 4, 97, 64),
    architecture: {
      ...ARCHITECTURES.gpt2,
      mlp: 'geluExact',
      positions: { kind: 'rope', theta: 10000, rotaryFraction: 0.25, scaling: null },
      parallelResidual: true,
      tiedEmbeddings: false,
    },
  },
  // Qwen2's features (llama's with q/k/v biases), a tied head and Llama 3's RoPE scaling: with head
  // size 8 and original context 128 the wavelengths 6.3, 63, 628, 6283 fall in all three bands
  // (kept, smoothed, divided by the factor).
  'qwen2-tiny': {
    ...llamaConfig(32, 2, 4, 2, 48, 97, 64),
    architecture: {
      ...ARCHITECTURES.llama,
      positions: { kind: 'rope', theta: 10000, rotaryFraction: 1, scaling: { kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 128 } },
      biases: { qkv: true, attnOut: false, mlp: false },
      tiedEmbeddings: true,
    },
  },
  'gpt2-bench': gpt2Config(256, 4, 8, 8192, 128),
  'gpt2-small': gpt2Config(768, 12, 12),
  'gpt2-medium': gpt2Config(1024, 24, 16),
  // Qwen2.5-0.5B's shape (its config.json: hidden 896, 24 layers, 14 heads, 2 KV heads,
  // intermediate 4864, vocabulary 151936, tied embeddings, q/k/v biases, RoPE theta 1e6,
  // rms_norm_eps 1e-6, 32768 positions); for benchmarks, with the engine's random weights.
  'qwen2.5-0.5b': {
    ...llamaConfig(896, 24, 14, 2, 4864, 151936, 32768),
    normEps: 1e-6,
    architecture: {
      ...ARCHITECTURES.llama,
      positions: { kind: 'rope', theta: 1e6, rotaryFraction: 1, scaling: null },
      biases: { qkv: true, attnOut: false, mlp: false },
      tiedEmbeddings: true,
    },
  },
};

/**
 * The project's own model family: Llama architecture (RoPE, RMSNorm, SwiGLU) over the byte
 * tokenizer (259 ids, FAMILY_TOKENIZER), context 512, head size 32 or 64, dFf ≈ 8/3·d. Each size
 * has 3–4× the parameters of the one before (the test checks it): nano ≈ 0.1 M, micro ≈ 0.4 M,
 * mini ≈ 1.8 M, small ≈ 6.3 M, base ≈ 22 M.
 */
export const FAMILY: Record<string, ModelConfig> = {
  nano: llamaConfig(64, 2, 2, 2, 176, 259, 512),
  micro: llamaConfig(128, 2, 4, 4, 352, 259, 512),
  mini: llamaConfig(192, 4, 6, 6, 512, 259, 512),
  small: llamaConfig(320, 5, 5, 5, 864, 259, 512),
  base: llamaConfig(512, 7, 8, 8, 1376, 259, 512),
};

/** The tokenizer of every FAMILY model (a loadTokenizer spec). */
export const FAMILY_TOKENIZER = 'byte';

/** A copy of a config with some architecture features changed (e.g. { tiedEmbeddings: true }). */
export function withArchitecture(config: ModelConfig, features: Partial<Architecture>): ModelConfig {
  return validateConfig({ ...config, architecture: { ...config.architecture, ...features } });
}

/** A copy of a preset, or of any config, with a different head. */
export function withHead(config: ModelConfig, head: HeadConfig): ModelConfig {
  return validateConfig({ ...config, head });
}
