// Hugging Face config.json <-> ModelConfig. Missing fields take transformers' class defaults.
//   gpt2 (model_type "gpt2"): vocab_size 50257, n_positions 1024 (→ contextLength), n_embd 768,
//     n_layer 12, n_head 12, n_inner (null → 4·n_embd), layer_norm_epsilon 1e-5;
//     activation_function must be "gelu_new", scale_attn_weights true,
//     scale_attn_by_inverse_layer_idx false, tie_word_embeddings true (the maths of config.ts).
//   llama (model_type "llama"): vocab_size 32000, hidden_size 4096, intermediate_size 11008,
//     num_hidden_layers 32, num_attention_heads 32, num_key_value_heads (→ heads),
//     max_position_embeddings 2048 (→ contextLength), rms_norm_eps 1e-6, rope_theta 10000
//     (or rope_parameters.rope_theta), tie_word_embeddings false; hidden_act must be "silu",
//     rope_scaling null, attention_bias and mlp_bias false, head_dim (if set) hidden/heads.
//   head: a classifier iff an architectures entry ends with "ForSequenceClassification"
//     (numClasses: num_labels, else the size of id2label, else 2), otherwise an LM.
// Writing emits the same fields, architectures GPT2LMHeadModel / GPT2ForSequenceClassification /
// LlamaForCausalLM / LlamaForSequenceClassification, and num_labels, id2label, label2id for a
// classifier.
import { ARCHITECTURES, validateConfig, type Architecture, type HeadConfig, type ModelConfig } from '../config.js';
import { blame, CheckpointError } from './errors.js';
import { isObject } from './io.js';

type Json = Record<string, unknown>;

function reader(c: Json, file: string) {
  const fail = (problem: string) => new CheckpointError(file, problem);
  const get = (key: string, fallback: unknown) => (c[key] === undefined || c[key] === null ? fallback : c[key]);
  const int = (key: string, fallback: number): number => {
    const v = get(key, fallback);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw fail(`${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = get(key, fallback);
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw fail(`${key} must be a positive number, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const only = (key: string, fallback: unknown, expected: unknown, why: string) => {
    const v = get(key, fallback);
    if (v !== expected) throw fail(`${key} ${JSON.stringify(v)} is not supported: ${why}`);
  };
  return { fail, int, num, only };
}

function headFromHf(c: Json, file: string): HeadConfig {
  const { fail } = reader(c, file);
  const archs = c.architectures ?? [];
  if (!Array.isArray(archs) || !archs.every((a) => typeof a === 'string')) throw fail(`architectures must be a list of strings, got ${JSON.stringify(archs)}`);
  if (!archs.some((a: string) => a.endsWith('ForSequenceClassification'))) return { kind: 'lm' };
  const labels = isObject(c.id2label) ? Object.keys(c.id2label).length : undefined;
  const numLabels = c.num_labels ?? labels ?? 2;
  if (labels !== undefined && numLabels !== labels) throw fail(`num_labels ${JSON.stringify(numLabels)} disagrees with id2label's ${labels} labels`);
  return { kind: 'classifier', numClasses: numLabels as number };
}

function gpt2FromHf(c: Json, file: string, head: HeadConfig): ModelConfig {
  const { int, num, only } = reader(c, file);
  only('activation_function', 'gelu_new', 'gelu_new', 'only "gelu_new" (the tanh approximation of GELU) is implemented');
  only('scale_attn_weights', true, true, 'attention is always scaled by 1/sqrt(head dim)');
  only('scale_attn_by_inverse_layer_idx', false, false, 'attention is never scaled by the layer index');
  only('tie_word_embeddings', true, true, "gpt2's LM head is always the token embedding");
  const dModel = int('n_embd', 768);
  const nHeads = int('n_head', 12);
  return {
    architecture: ARCHITECTURES.gpt2,
    vocabSize: int('vocab_size', 50257),
    contextLength: int('n_positions', 1024),
    dModel,
    nLayers: int('n_layer', 12),
    nHeads,
    nKvHeads: nHeads,
    dFf: int('n_inner', 4 * dModel),
    normEps: num('layer_norm_epsilon', 1e-5),
    head,
  };
}

function llamaFromHf(c: Json, file: string, head: HeadConfig): ModelConfig {
  const { fail, int, num, only } = reader(c, file);
  only('hidden_act', 'silu', 'silu', 'only the SiLU-gated MLP is implemented');
  only('rope_scaling', null, null, 'RoPE scaling is not implemented (rope_scaling must be null)');
  only('attention_bias', false, false, 'attention projections have no biases');
  only('mlp_bias', false, false, 'MLP projections have no biases');
  const rope = c.rope_parameters;
  if (rope !== undefined && rope !== null && !isObject(rope)) throw fail('rope_parameters must be an object');
  if (rope && rope.rope_type !== undefined && rope.rope_type !== 'default')
    throw fail(`rope_parameters.rope_type ${JSON.stringify(rope.rope_type)} is not supported: only "default" RoPE is implemented`);
  const dModel = int('hidden_size', 4096);
  const nHeads = int('num_attention_heads', 32);
  if (c.head_dim !== undefined && c.head_dim !== null && c.head_dim !== dModel / nHeads)
    throw fail(`head_dim ${JSON.stringify(c.head_dim)} is not supported: it must equal hidden_size / num_attention_heads (${dModel / nHeads})`);
  const tied = c.tie_word_embeddings ?? false;
  if (typeof tied !== 'boolean') throw fail(`tie_word_embeddings must be a boolean, got ${JSON.stringify(tied)}`);
  return {
    architecture: {
      ...ARCHITECTURES.llama,
      positions: { ...ARCHITECTURES.llama.positions, theta: rope && rope.rope_theta !== undefined ? reader(rope, file).num('rope_theta', 10000) : num('rope_theta', 10000) },
      tiedEmbeddings: tied,
    },
    vocabSize: int('vocab_size', 32000),
    contextLength: int('max_position_embeddings', 2048),
    dModel,
    nLayers: int('num_hidden_layers', 32),
    nHeads,
    nKvHeads: int('num_key_value_heads', nHeads),
    dFf: int('intermediate_size', 11008),
    normEps: num('rms_norm_eps', 1e-6),
    head,
  };
}

/** Parses a config.json object into a validated ModelConfig; `file` names it in errors. */
export function configFromHf(json: unknown, file: string): ModelConfig {
  if (!isObject(json)) throw new CheckpointError(file, 'config is not a JSON object');
  const head = headFromHf(json, file);
  let config: ModelConfig;
  if (json.model_type === 'gpt2') config = gpt2FromHf(json, file, head);
  else if (json.model_type === 'llama') config = llamaFromHf(json, file, head);
  else throw new CheckpointError(file, `unsupported model_type ${JSON.stringify(json.model_type)} (expected "gpt2" or "llama")`);
  return blame(file, () => validateConfig(config));
}

/** The Hugging Face model_type whose features a config has (gpt2 or llama); throws for any other. */
export function hfModelType(config: ModelConfig): 'gpt2' | 'llama' {
  const a = config.architecture;
  const { gpt2, llama } = ARCHITECTURES;
  const biases = (b: Architecture['biases']) => `${b.qkv},${b.attnOut},${b.mlp}`;
  const common = (preset: Architecture) =>
    a.norm === preset.norm && a.mlp === preset.mlp && biases(a.biases) === biases(preset.biases) && a.parallelResidual === preset.parallelResidual;
  if (common(gpt2) && a.positions.kind === 'learned' && a.tiedEmbeddings) return 'gpt2';
  if (common(llama) && a.positions.kind === 'rope' && a.positions.rotaryFraction === 1 && a.positions.scaling === null) return 'llama';
  throw new Error(`model config: architecture ${JSON.stringify(a)} has no Hugging Face model type (gpt2 or llama features)`);
}

/** The config.json object for a ModelConfig. */
export function configToHf(config: ModelConfig): Record<string, unknown> {
  validateConfig(config);
  const classifier = config.head.kind === 'classifier';
  const labels: Json = {};
  if (config.head.kind === 'classifier') {
    const names = Array.from({ length: config.head.numClasses }, (_, i) => `LABEL_${i}`);
    labels.num_labels = names.length;
    labels.id2label = Object.fromEntries(names.map((n, i) => [String(i), n]));
    labels.label2id = Object.fromEntries(names.map((n, i) => [n, i]));
  }
  const type = hfModelType(config);
  if (type === 'gpt2')
    return {
      architectures: [classifier ? 'GPT2ForSequenceClassification' : 'GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: config.vocabSize,
      n_positions: config.contextLength,
      n_embd: config.dModel,
      n_layer: config.nLayers,
      n_head: config.nHeads,
      n_inner: config.dFf,
      activation_function: 'gelu_new',
      layer_norm_epsilon: config.normEps,
      tie_word_embeddings: true,
      ...labels,
      torch_dtype: 'float32',
    };
  return {
    architectures: [classifier ? 'LlamaForSequenceClassification' : 'LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: config.vocabSize,
    hidden_size: config.dModel,
    intermediate_size: config.dFf,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    max_position_embeddings: config.contextLength,
    rms_norm_eps: config.normEps,
    rope_theta: (config.architecture.positions as { theta: number }).theta,
    rope_scaling: null,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: config.architecture.tiedEmbeddings,
    ...labels,
    torch_dtype: 'float32',
  };
}
