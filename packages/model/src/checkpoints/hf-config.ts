// Hugging Face config.json <-> ModelConfig, for model_type gpt2, llama, mistral, qwen2 and
// gpt_neox (Pythia). The fields that fix the model's shape must be present (vocab size, width,
// layers, heads, MLP width, positions); the others take transformers' class defaults when absent.
//   gpt2: vocab_size, n_positions (→ contextLength), n_embd, n_layer, n_head; n_inner (null →
//     4·n_embd), layer_norm_epsilon 1e-5; activation_function "gelu_new" or "gelu_pytorch_tanh"
//     (GELU tanh) or "gelu" (exact); scale_attn_weights true, scale_attn_by_inverse_layer_idx
//     false and tie_word_embeddings true are required (the maths of config.ts).
//   llama, mistral, qwen2: vocab_size, hidden_size, intermediate_size, num_hidden_layers,
//     num_attention_heads, max_position_embeddings; num_key_value_heads (→ heads), rms_norm_eps
//     1e-6, rope_theta 10000 (or rope_parameters.rope_theta), tie_word_embeddings false;
//     hidden_act "silu"; head_dim (if set) hidden/heads; RoPE scaling (rope_scaling, or
//     rope_parameters with a rope_type): none/"default" or "llama3" (factor, low_freq_factor,
//     high_freq_factor, original_max_position_embeddings). Biases: llama's attention_bias (q, k,
//     v, o) and mlp_bias (default false); qwen2 always q/k/v, never o or the MLP; mistral none.
//     Sliding-window attention (mistral's sliding_window, default 4096; qwen2's when
//     use_sliding_window, in every layer whatever max_window_layers says): a window
//     W <= max_position_embeddings makes contextLength W and slidingWindow W: full causal
//     attention is exactly the windowed one up to W tokens; a longer sequence, or a generation
//     whose context would pass W, is refused naming sliding_window (config.ts slidingWindowProblem).
//   gpt_neox: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
//     max_position_embeddings; layer_norm_eps 1e-5, rotary_pct 0.25 (or partial_rotary_factor,
//     also in rope_parameters), rotary_emb_base 10000 (or rope_theta), use_parallel_residual true,
//     attention_bias true, tie_word_embeddings false; hidden_act "gelu" (exact) or
//     "gelu_new"/"gelu_pytorch_tanh"; RoPE scaling as above.
//   head: a classifier iff an architectures entry ends with "ForSequenceClassification"
//     (numClasses: num_labels, else the size of id2label, else 2), otherwise an LM.
// Refusals name the config.json key (hidden_size, rope_scaling.type), also for the checks of
// validateConfig, to which each reader passes the keys its fields came from.
// Writing picks the model type whose features the config has (hfModelType; mistral for llama's
// features without biases and a slidingWindow) and emits the same fields, architectures
// <Type>ForCausalLM (GPT2LMHeadModel) or <Type>ForSequenceClassification, and num_labels,
// id2label, label2id for a classifier.
import { validateConfig, type Architecture, type ConfigFieldNames, type HeadConfig, type ModelConfig, type Positions } from '../config.js';
import { blame, CheckpointError } from './errors.js';
import { isObject } from './io.js';

type Json = Record<string, unknown>;

export type HfModelType = 'gpt2' | 'llama' | 'mistral' | 'qwen2' | 'gpt_neox';
const MODEL_TYPES: readonly HfModelType[] = ['gpt2', 'llama', 'mistral', 'qwen2', 'gpt_neox'];

function reader(c: Json, file: string, prefix = '') {
  const fail = (problem: string) => new CheckpointError(file, problem);
  const present = (key: string) => c[key] !== undefined && c[key] !== null;
  const get = (key: string, fallback: unknown) => (present(key) ? c[key] : fallback);
  const missing = Symbol('missing');
  const value = (key: string, fallback: unknown) => {
    const v = get(key, fallback);
    if (v === missing) throw fail(`${prefix}${key} is missing`);
    return v;
  };
  /** A positive integer; without a fallback the field is required. */
  const int = (key: string, fallback: number | typeof missing = missing): number => {
    const v = value(key, fallback);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw fail(`${prefix}${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const num = (key: string, fallback: number | typeof missing = missing): number => {
    const v = value(key, fallback);
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw fail(`${prefix}${key} must be a positive number, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = get(key, fallback);
    if (typeof v !== 'boolean') throw fail(`${prefix}${key} must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  };
  const only = (key: string, fallback: unknown, expected: unknown, why: string) => {
    const v = get(key, fallback);
    if (v !== expected) throw fail(`${prefix}${key} ${JSON.stringify(v)} is not supported: ${why}`);
  };
  /** One of `choices` (a field → value map); the error lists them. */
  const choose = <T>(key: string, fallback: string, choices: Record<string, T>): T => {
    const v = get(key, fallback);
    if (typeof v !== 'string' || !Object.hasOwn(choices, v))
      throw fail(`${prefix}${key} ${JSON.stringify(v)} is not supported (expected ${Object.keys(choices).map((k) => JSON.stringify(k)).join(', ')})`);
    return choices[v];
  };
  return { fail, present, int, num, bool, only, choose };
}

/** A ModelConfig read from config.json, with the keys its checked fields came from (validateConfig names them). */
interface FromHf {
  config: ModelConfig;
  names: ConfigFieldNames;
}

function headFromHf(c: Json, file: string): { head: HeadConfig; names: ConfigFieldNames } {
  const { fail } = reader(c, file);
  const archs = c.architectures ?? [];
  if (!Array.isArray(archs) || !archs.every((a) => typeof a === 'string')) throw fail(`architectures must be a list of strings, got ${JSON.stringify(archs)}`);
  if (!archs.some((a: string) => a.endsWith('ForSequenceClassification'))) return { head: { kind: 'lm' }, names: {} };
  const labels = isObject(c.id2label) ? Object.keys(c.id2label).length : undefined;
  const numLabels = c.num_labels ?? labels ?? 2;
  if (labels !== undefined && numLabels !== labels) throw fail(`num_labels ${JSON.stringify(numLabels)} disagrees with id2label's ${labels} labels`);
  const numClasses = c.num_labels === undefined && labels !== undefined ? 'the number of id2label entries' : 'num_labels';
  return { head: { kind: 'classifier', numClasses: numLabels as number }, names: { 'head.numClasses': numClasses } };
}

/**
 * RoPE from rope_theta (or `thetaKey`) and the scaling in rope_scaling, or in rope_parameters
 * (transformers' newer form, which also holds rope_theta). Only "default" and "llama3" are implemented.
 */
function ropeFromHf(c: Json, file: string, rotaryFraction: number, thetaKey = 'rope_theta'): { positions: Positions; names: ConfigFieldNames } {
  const r = reader(c, file);
  for (const key of ['rope_scaling', 'rope_parameters'])
    if (r.present(key) && !isObject(c[key])) throw r.fail(`${key} must be null or an object, got ${JSON.stringify(c[key])}`);
  const params = isObject(c.rope_parameters) ? c.rope_parameters : null;
  const thetaInParams = params !== null && params.rope_theta !== undefined;
  const theta = thetaInParams ? reader(params, file, 'rope_parameters.').num('rope_theta') : r.num(thetaKey, 10000);
  const names: ConfigFieldNames = { 'architecture.positions.theta': thetaInParams ? 'rope_parameters.rope_theta' : thetaKey };
  const [field, scaling] = isObject(c.rope_scaling) ? ['rope_scaling', c.rope_scaling] : params ? ['rope_parameters', params] : [null, null];
  if (!field || !scaling) return { positions: { kind: 'rope', theta, rotaryFraction, scaling: null }, names };
  const s = reader(scaling, file, `${field}.`);
  // transformers reads the type from rope_type, or from "type" in older configs.
  const typeKey = s.present('rope_type') ? 'rope_type' : s.present('type') ? 'type' : null;
  const type = typeKey ? scaling[typeKey] : 'default';
  if (type === 'default') return { positions: { kind: 'rope', theta, rotaryFraction, scaling: null }, names };
  if (type !== 'llama3') throw s.fail(`${field}.${typeKey} ${JSON.stringify(type)} is not supported: only "default" and "llama3" RoPE are implemented`);
  return {
    positions: {
      kind: 'rope',
      theta,
      rotaryFraction,
      scaling: {
        kind: 'llama3',
        factor: s.num('factor'),
        lowFreqFactor: s.num('low_freq_factor'),
        highFreqFactor: s.num('high_freq_factor'),
        originalContextLength: s.int('original_max_position_embeddings'),
      },
    },
    names: {
      ...names,
      'architecture.positions.scaling.factor': `${field}.factor`,
      'architecture.positions.scaling.lowFreqFactor': `${field}.low_freq_factor`,
      'architecture.positions.scaling.highFreqFactor': `${field}.high_freq_factor`,
      'architecture.positions.scaling.originalContextLength': `${field}.original_max_position_embeddings`,
    },
  };
}

function gpt2FromHf(c: Json, file: string, head: HeadConfig): FromHf {
  const { int, num, only, choose } = reader(c, file);
  const mlp = choose('activation_function', 'gelu_new', { gelu_new: 'geluTanh', gelu_pytorch_tanh: 'geluTanh', gelu: 'geluExact' } as const);
  only('scale_attn_weights', true, true, 'attention is always scaled by 1/sqrt(head dim)');
  only('scale_attn_by_inverse_layer_idx', false, false, 'attention is never scaled by the layer index');
  only('tie_word_embeddings', true, true, "gpt2's LM head is always the token embedding");
  const dModel = int('n_embd');
  const config: ModelConfig = {
    architecture: {
      norm: 'layerNorm',
      mlp,
      positions: { kind: 'learned' },
      biases: { qkv: true, attnOut: true, mlp: true },
      parallelResidual: false,
      tiedEmbeddings: true,
    },
    vocabSize: int('vocab_size'),
    contextLength: int('n_positions'),
    dModel,
    nLayers: int('n_layer'),
    nHeads: int('n_head'),
    nKvHeads: int('n_head'),
    dFf: int('n_inner', 4 * dModel),
    normEps: num('layer_norm_epsilon', 1e-5),
    head,
  };
  const names: ConfigFieldNames = {
    vocabSize: 'vocab_size',
    contextLength: 'n_positions',
    dModel: 'n_embd',
    nLayers: 'n_layer',
    nHeads: 'n_head',
    nKvHeads: 'n_head',
    dFf: 'n_inner',
    normEps: 'layer_norm_epsilon',
  };
  return { config, names };
}

function llamaFamilyFromHf(type: 'llama' | 'mistral' | 'qwen2', c: Json, file: string, head: HeadConfig): FromHf {
  const { fail, int, num, bool, only } = reader(c, file);
  only('hidden_act', 'silu', 'silu', 'only the SiLU-gated MLP (SwiGLU) is implemented');
  only('partial_rotary_factor', 1, 1, `${type} rotates whole heads`);
  const dModel = int('hidden_size');
  const nHeads = int('num_attention_heads');
  if (c.head_dim !== undefined && c.head_dim !== null && c.head_dim !== dModel / nHeads)
    throw fail(`head_dim ${JSON.stringify(c.head_dim)} is not supported: it must equal hidden_size / num_attention_heads (${dModel / nHeads})`);
  const attentionBias = type === 'llama' && bool('attention_bias', false);
  const biases =
    type === 'qwen2' ? { qkv: true, attnOut: false, mlp: false } : { qkv: attentionBias, attnOut: attentionBias, mlp: type === 'llama' && bool('mlp_bias', false) };
  // A window W up to max_position_embeddings becomes the context length, recorded as the model's
  // slidingWindow so that longer sequences are refused naming it.
  const maxPositions = int('max_position_embeddings');
  const windowed = type === 'mistral' || (type === 'qwen2' && bool('use_sliding_window', false));
  const window = windowed && c.sliding_window !== null ? int('sliding_window', 4096) : null;
  const slidingWindow = window !== null && window <= maxPositions ? window : undefined;
  const rope = ropeFromHf(c, file, 1);
  const config: ModelConfig = {
    architecture: {
      norm: 'rmsNorm',
      mlp: 'swiglu',
      positions: rope.positions,
      biases,
      parallelResidual: false,
      tiedEmbeddings: bool('tie_word_embeddings', false),
    },
    vocabSize: int('vocab_size'),
    contextLength: slidingWindow ?? maxPositions,
    ...(slidingWindow !== undefined && { slidingWindow }),
    dModel,
    nLayers: int('num_hidden_layers'),
    nHeads,
    nKvHeads: int('num_key_value_heads', nHeads),
    dFf: int('intermediate_size'),
    normEps: num('rms_norm_eps', 1e-6),
    head,
  };
  const names: ConfigFieldNames = {
    ...rope.names,
    'architecture.positions.rotaryFraction': 'partial_rotary_factor',
    vocabSize: 'vocab_size',
    contextLength: slidingWindow !== undefined ? 'sliding_window' : 'max_position_embeddings',
    slidingWindow: 'sliding_window',
    dModel: 'hidden_size',
    nLayers: 'num_hidden_layers',
    nHeads: 'num_attention_heads',
    nKvHeads: 'num_key_value_heads',
    dFf: 'intermediate_size',
    normEps: 'rms_norm_eps',
  };
  return { config, names };
}

function gptNeoxFromHf(c: Json, file: string, head: HeadConfig): FromHf {
  const { present, int, num, bool, choose } = reader(c, file);
  const mlp = choose('hidden_act', 'gelu', { gelu: 'geluExact', gelu_new: 'geluTanh', gelu_pytorch_tanh: 'geluTanh' } as const);
  // rotary_pct, or (newer transformers) partial_rotary_factor, top-level or in rope_parameters.
  const params = isObject(c.rope_parameters) ? reader(c.rope_parameters, file, 'rope_parameters.') : null;
  const rotaryKey = present('rotary_pct')
    ? 'rotary_pct'
    : present('partial_rotary_factor') || !params?.present('partial_rotary_factor')
      ? 'partial_rotary_factor'
      : 'rope_parameters.partial_rotary_factor';
  const rotaryFraction = rotaryKey === 'rope_parameters.partial_rotary_factor' ? params!.num('partial_rotary_factor') : num(rotaryKey, 0.25);
  const attentionBias = bool('attention_bias', true);
  const nHeads = int('num_attention_heads');
  const rope = ropeFromHf(c, file, rotaryFraction, present('rotary_emb_base') ? 'rotary_emb_base' : 'rope_theta');
  const config: ModelConfig = {
    architecture: {
      norm: 'layerNorm',
      mlp,
      positions: rope.positions,
      biases: { qkv: attentionBias, attnOut: attentionBias, mlp: true },
      parallelResidual: bool('use_parallel_residual', true),
      tiedEmbeddings: bool('tie_word_embeddings', false),
    },
    vocabSize: int('vocab_size'),
    contextLength: int('max_position_embeddings'),
    dModel: int('hidden_size'),
    nLayers: int('num_hidden_layers'),
    nHeads,
    nKvHeads: nHeads,
    dFf: int('intermediate_size'),
    normEps: num('layer_norm_eps', 1e-5),
    head,
  };
  const names: ConfigFieldNames = {
    ...rope.names,
    'architecture.positions.rotaryFraction': rotaryKey,
    vocabSize: 'vocab_size',
    contextLength: 'max_position_embeddings',
    dModel: 'hidden_size',
    nLayers: 'num_hidden_layers',
    nHeads: 'num_attention_heads',
    nKvHeads: 'num_attention_heads',
    dFf: 'intermediate_size',
    normEps: 'layer_norm_eps',
  };
  return { config, names };
}

/**
 * Parses a config.json object into a validated ModelConfig; `file` names it in errors, which name
 * the config.json keys (hidden_size, not dModel).
 */
export function configFromHf(json: unknown, file: string): ModelConfig {
  if (!isObject(json)) throw new CheckpointError(file, 'config is not a JSON object');
  const type = json.model_type;
  if (!MODEL_TYPES.includes(type as HfModelType))
    throw new CheckpointError(file, `unsupported model_type ${JSON.stringify(type)} (expected ${MODEL_TYPES.map((t) => JSON.stringify(t)).join(', ')})`);
  const head = headFromHf(json, file);
  const { config, names } =
    type === 'gpt2'
      ? gpt2FromHf(json, file, head.head)
      : type === 'gpt_neox'
        ? gptNeoxFromHf(json, file, head.head)
        : llamaFamilyFromHf(type as 'llama' | 'mistral' | 'qwen2', json, file, head.head);
  return blame(file, () => validateConfig(config, { ...names, ...head.names }));
}

/**
 * The Hugging Face model type that has a config's features: gpt2; gpt_neox (LayerNorm, GELU,
 * RoPE, biases on the MLP and equal ones on q/k/v and the output); qwen2 (RMSNorm, SwiGLU, whole-head
 * RoPE, biases on q/k/v only); llama (the same with equal q/k/v and output biases). Throws an
 * Error naming the architecture for any other.
 */
export function hfModelType(config: ModelConfig): Exclude<HfModelType, 'mistral'> {
  const a: Architecture = config.architecture;
  const { qkv, attnOut, mlp } = a.biases;
  const gelu = a.mlp === 'geluTanh' || a.mlp === 'geluExact';
  if (a.norm === 'layerNorm' && gelu && mlp && qkv && attnOut && a.positions.kind === 'learned' && !a.parallelResidual && a.tiedEmbeddings) return 'gpt2';
  if (a.norm === 'layerNorm' && gelu && mlp && qkv === attnOut && a.positions.kind === 'rope') return 'gpt_neox';
  if (a.norm === 'rmsNorm' && a.mlp === 'swiglu' && a.positions.kind === 'rope' && a.positions.rotaryFraction === 1 && !a.parallelResidual) {
    if (qkv && !attnOut && !mlp) return 'qwen2';
    if (qkv === attnOut) return 'llama';
  }
  throw new Error(`model config: no Hugging Face model type has the architecture ${JSON.stringify(a)} (gpt2, llama, qwen2 and gpt_neox can be written)`);
}

const ARCHITECTURE_NAMES: Record<HfModelType, [lm: string, classifier: string]> = {
  gpt2: ['GPT2LMHeadModel', 'GPT2ForSequenceClassification'],
  llama: ['LlamaForCausalLM', 'LlamaForSequenceClassification'],
  mistral: ['MistralForCausalLM', 'MistralForSequenceClassification'],
  qwen2: ['Qwen2ForCausalLM', 'Qwen2ForSequenceClassification'],
  gpt_neox: ['GPTNeoXForCausalLM', 'GPTNeoXForSequenceClassification'],
};

function ropeToHf(positions: Positions): Json {
  if (positions.kind !== 'rope') return {};
  const s = positions.scaling;
  return {
    rope_scaling: s
      ? { rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalContextLength }
      : null,
  };
}

/**
 * The config.json object for a ModelConfig (throws for an architecture no model type has). A
 * sliding window is written as mistral's (llama's features without biases) or qwen2's
 * sliding_window, with max_position_embeddings the context length.
 */
export function configToHf(config: ModelConfig): Record<string, unknown> {
  validateConfig(config);
  const features = hfModelType(config);
  const windowed = config.slidingWindow !== undefined;
  const a = config.architecture;
  if (windowed && features === 'llama' && (a.biases.qkv || a.biases.mlp))
    throw new Error('model config: a sliding window with attention or MLP biases has no Hugging Face model type (mistral has no biases, qwen2 only q/k/v ones)');
  if (windowed && features !== 'llama' && features !== 'qwen2') throw new Error(`model config: ${features} has no sliding window`);
  const type: HfModelType = windowed && features === 'llama' ? 'mistral' : features;
  const classifier = config.head.kind === 'classifier';
  const common: Json = { architectures: [ARCHITECTURE_NAMES[type][classifier ? 1 : 0]], model_type: type, vocab_size: config.vocabSize };
  const labels: Json = {};
  if (config.head.kind === 'classifier') {
    const names = Array.from({ length: config.head.numClasses }, (_, i) => `LABEL_${i}`);
    labels.num_labels = names.length;
    labels.id2label = Object.fromEntries(names.map((n, i) => [String(i), n]));
    labels.label2id = Object.fromEntries(names.map((n, i) => [n, i]));
  }
  const theta = a.positions.kind === 'rope' ? a.positions.theta : undefined;
  const gelu = a.mlp === 'geluExact' ? 'gelu' : 'gelu_new';
  let fields: Json;
  if (type === 'gpt2')
    fields = {
      n_positions: config.contextLength,
      n_embd: config.dModel,
      n_layer: config.nLayers,
      n_head: config.nHeads,
      n_inner: config.dFf,
      activation_function: gelu,
      layer_norm_epsilon: config.normEps,
    };
  else if (type === 'gpt_neox')
    fields = {
      hidden_size: config.dModel,
      intermediate_size: config.dFf,
      num_hidden_layers: config.nLayers,
      num_attention_heads: config.nHeads,
      max_position_embeddings: config.contextLength,
      layer_norm_eps: config.normEps,
      rotary_pct: a.positions.kind === 'rope' ? a.positions.rotaryFraction : undefined,
      rotary_emb_base: theta,
      ...ropeToHf(a.positions),
      use_parallel_residual: a.parallelResidual,
      attention_bias: a.biases.qkv,
      hidden_act: gelu,
    };
  else
    fields = {
      hidden_size: config.dModel,
      intermediate_size: config.dFf,
      num_hidden_layers: config.nLayers,
      num_attention_heads: config.nHeads,
      num_key_value_heads: config.nKvHeads,
      max_position_embeddings: config.contextLength,
      rms_norm_eps: config.normEps,
      rope_theta: theta,
      ...ropeToHf(a.positions),
      hidden_act: 'silu',
      ...(type === 'llama' ? { attention_bias: a.biases.qkv, mlp_bias: a.biases.mlp } : {}),
      ...(type === 'qwen2' && { use_sliding_window: windowed }),
      // qwen2 windows the layers from max_window_layers on: 0, every layer, as the engine assumes.
      ...(windowed && { sliding_window: config.slidingWindow, ...(type === 'qwen2' && { max_window_layers: 0 }) }),
    };
  return { ...common, ...fields, tie_word_embeddings: a.tiedEmbeddings, ...labels, torch_dtype: 'float32' };
}
