// Model configurations and the canonical parameter table shared by the native engine, the tfjs
// twin and the checkpoint readers and writers.
//
// Canonical names and layouts (every linear weight is [out, in], as torch.nn.Linear stores it):
//   tokenEmbedding.weight            [V, d]
//   positionEmbedding.weight         [P, d]                       gpt2 only
//   layers.{i}.attnNorm.weight       [d]           .bias [d]      bias: gpt2 only
//   layers.{i}.attn.qkv.weight       [(H + 2·KV)·hd, d]           rows: H query heads, then KV key
//                                                                 heads, then KV value heads
//   layers.{i}.attn.qkv.bias         [(H + 2·KV)·hd]              gpt2 only
//   layers.{i}.attn.out.weight       [d, H·hd]     .bias [d]      bias: gpt2 only
//   layers.{i}.mlpNorm.weight        [d]           .bias [d]      bias: gpt2 only
//   layers.{i}.mlp.up.weight         [F, d]        .bias [F]      gpt2 only
//   layers.{i}.mlp.gateUp.weight     [2·F, d]                     llama only: rows 0..F-1 gate,
//                                                                 rows F..2F-1 up
//   layers.{i}.mlp.down.weight       [d, F]        .bias [d]      bias: gpt2 only
//   finalNorm.weight                 [d]           .bias [d]      bias: gpt2 only
//   lmHead.weight                    [V, d]                       LM head, when not tied
//   classifier.weight                [C, d]                       classifier head (zero-initialised)
//
// The mathematics, identical in the engine and the twin:
//   gpt2:  x = E[token] + P[position]; per layer x += Wo·attn(LN1(x)) + bo;
//          x += Wdown·gelu_tanh(Wup·LN2(x) + bup) + bdown; h = LN_f(x).
//          LayerNorm: (x − mean) / sqrt(var + eps) · w + b (biased variance).
//          gelu_tanh(u) = 0.5·u·(1 + tanh(sqrt(2/π)·(u + 0.044715·u³))).
//   llama: x = E[token]; per layer x += Wo·attn(rope(RMS1(x))); x += Wdown·(silu(g) ⊙ u) with
//          [g; u] = WgateUp·RMS2(x); h = RMS_f(x). RMSNorm: x / sqrt(mean(x²) + eps) · w.
//          RoPE, Hugging Face's "rotate half" convention: for head-dim index j < hd/2,
//          θ_j = ropeTheta^(−2j/hd), angle = position·θ_j,
//          q'[j] = q[j]·cos − q[j + hd/2]·sin, q'[j + hd/2] = q[j + hd/2]·cos + q[j]·sin (same for k).
//   attention: causal, scale 1/sqrt(hd), query head h reads key/value head floor(h / (H / KV)),
//          keys at positions ≥ the sequence's length are masked (right padding).
//   heads: LM logits [B, T, V] = h · E^T (tied) or h · lmHead^T; classifier logits [B, C] =
//          h[b, length_b − 1] · classifier^T (the hidden state at the last non-pad token).
export type Architecture = 'gpt2' | 'llama';

export type HeadConfig = { kind: 'lm' } | { kind: 'classifier'; numClasses: number };

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  /** Longest sequence the model accepts (positions of gpt2's learned table). */
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads (grouped-query attention); gpt2 always has nKvHeads = nHeads. */
  nKvHeads: number;
  /** Hidden width of the MLP. */
  dFf: number;
  normEps: number;
  /** RoPE base (llama only; ignored by gpt2). */
  ropeTheta: number;
  /** LM head shares the token embedding (gpt2 always does). */
  tiedEmbeddings: boolean;
  head: HeadConfig;
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

/** Throws an Error naming the field and what was expected; returns the config for chaining. */
export function validateConfig(config: ModelConfig): ModelConfig {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new Error(`model config: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
  };
  if (config === null || typeof config !== 'object') fail('config', 'an object', config);
  if (config.architecture !== 'gpt2' && config.architecture !== 'llama')
    fail('architecture', '"gpt2" or "llama"', config.architecture);
  const positive = ['vocabSize', 'contextLength', 'dModel', 'nLayers', 'nHeads', 'nKvHeads', 'dFf'] as const;
  for (const key of positive) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1 || v > 1 << 24) fail(key, 'an integer in [1, 16777216]', v);
  }
  if (config.dModel % config.nHeads !== 0) fail('dModel', `a multiple of nHeads (${config.nHeads})`, config.dModel);
  if (headDim(config) % 2 !== 0 && config.architecture === 'llama')
    fail('dModel / nHeads', 'even for RoPE', headDim(config));
  if (config.nHeads % config.nKvHeads !== 0) fail('nKvHeads', `a divisor of nHeads (${config.nHeads})`, config.nKvHeads);
  if (config.architecture === 'gpt2' && config.nKvHeads !== config.nHeads)
    fail('nKvHeads', `equal to nHeads (${config.nHeads}) for gpt2`, config.nKvHeads);
  if (config.architecture === 'gpt2' && !config.tiedEmbeddings) fail('tiedEmbeddings', 'true for gpt2', false);
  if (!(config.normEps > 0 && config.normEps < 1)) fail('normEps', 'a number in (0, 1)', config.normEps);
  if (!(config.ropeTheta > 1)) fail('ropeTheta', 'a number > 1', config.ropeTheta);
  if (typeof config.tiedEmbeddings !== 'boolean') fail('tiedEmbeddings', 'a boolean', config.tiedEmbeddings);
  const head = config.head;
  if (!head || (head.kind !== 'lm' && head.kind !== 'classifier')) fail('head.kind', '"lm" or "classifier"', (head as { kind?: unknown } | undefined)?.kind);
  if (head.kind === 'classifier' && (!Number.isInteger(head.numClasses) || head.numClasses < 2 || head.numClasses > 65536))
    fail('head.numClasses', 'an integer in [2, 65536]', head.numClasses);
  return config;
}

/** The canonical parameter table, in the order the engine lays parameters out in memory. */
export function parameterSpecs(config: ModelConfig): ParameterSpec[] {
  validateConfig(config);
  const { dModel: d, dFf: f, vocabSize: v, nLayers } = config;
  const hd = headDim(config);
  const qkvRows = (config.nHeads + 2 * config.nKvHeads) * hd;
  const gpt2 = config.architecture === 'gpt2';
  const residualStd = INIT_STD / Math.sqrt(2 * nLayers);
  const specs: ParameterSpec[] = [];
  const add = (name: string, shape: number[], init: ParameterSpec['init'], decay: boolean, head = false) =>
    specs.push({ name, shape, init, decay, head });
  const normal = (std: number) => ({ kind: 'normal', std }) as const;
  const ones = { kind: 'constant', value: 1 } as const;
  const zeros = { kind: 'constant', value: 0 } as const;
  const norm = (prefix: string) => {
    add(`${prefix}.weight`, [d], ones, false);
    if (gpt2) add(`${prefix}.bias`, [d], zeros, false);
  };
  const linear = (prefix: string, out: number, inp: number, std: number) => {
    add(`${prefix}.weight`, [out, inp], normal(std), true);
    if (gpt2) add(`${prefix}.bias`, [out], zeros, false);
  };

  add('tokenEmbedding.weight', [v, d], normal(INIT_STD), true);
  if (gpt2) add('positionEmbedding.weight', [config.contextLength, d], normal(INIT_STD), true);
  for (let i = 0; i < nLayers; i++) {
    norm(`layers.${i}.attnNorm`);
    linear(`layers.${i}.attn.qkv`, qkvRows, d, INIT_STD);
    linear(`layers.${i}.attn.out`, d, config.nHeads * hd, residualStd);
    norm(`layers.${i}.mlpNorm`);
    if (gpt2) linear(`layers.${i}.mlp.up`, f, d, INIT_STD);
    else add(`layers.${i}.mlp.gateUp.weight`, [2 * f, d], normal(INIT_STD), true);
    linear(`layers.${i}.mlp.down`, d, f, residualStd);
  }
  norm('finalNorm');
  if (config.head.kind === 'lm' && !config.tiedEmbeddings) add('lmHead.weight', [v, d], normal(INIT_STD), true, true);
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
    architecture: 'gpt2',
    vocabSize,
    contextLength,
    dModel,
    nLayers,
    nHeads,
    nKvHeads: nHeads,
    dFf: 4 * dModel,
    normEps: 1e-5,
    ropeTheta: 10000,
    tiedEmbeddings: true,
    head: { kind: 'lm' },
  };
}

function llamaConfig(dModel: number, nLayers: number, nHeads: number, nKvHeads: number, dFf: number, vocabSize: number, contextLength: number): ModelConfig {
  return {
    architecture: 'llama',
    vocabSize,
    contextLength,
    dModel,
    nLayers,
    nHeads,
    nKvHeads,
    dFf,
    normEps: 1e-5,
    ropeTheta: 10000,
    tiedEmbeddings: false,
    head: { kind: 'lm' },
  };
}

/** Named architectures: tiny ones for tests, and the published GPT-2 shapes. */
export const PRESETS: Record<string, ModelConfig> = {
  // Head sizes 16 and 8: the engine's attention runs 16-wide tiles directly and pads smaller heads.
  'gpt2-tiny': gpt2Config(64, 2, 4, 97, 64),
  'llama-tiny': llamaConfig(32, 2, 4, 2, 48, 97, 64),
  'gpt2-bench': gpt2Config(256, 4, 8, 8192, 128),
  'gpt2-small': gpt2Config(768, 12, 12),
  'gpt2-medium': gpt2Config(1024, 24, 16),
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

/** A copy of a preset, or of any config, with a different head. */
export function withHead(config: ModelConfig, head: HeadConfig): ModelConfig {
  return validateConfig({ ...config, head });
}
