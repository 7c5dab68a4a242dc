// Hugging Face tensor names and layouts <-> canonical Weights (config.ts; linear weights [out, in]).
// The family is the model type whose features the config has (hf-config.ts hfModelType; a mistral
// checkpoint has llama's names).
//   gpt2 (read with or without the "transformer." prefix, written with it):
//     wte.weight [V, d]                  tokenEmbedding.weight
//     wpe.weight [P, d]                  positionEmbedding.weight
//     h.N.ln_1.{weight,bias}             layers.N.attnNorm.{weight,bias}
//     h.N.attn.c_attn.weight [d, 3d]     layers.N.attn.qkv.weight [3d, d]   (Conv1D stores [in, out]:
//     h.N.attn.c_attn.bias [3d]          layers.N.attn.qkv.bias              every Conv1D weight is
//     h.N.attn.c_proj.{weight,bias}      layers.N.attn.out                   transposed)
//     h.N.ln_2.{weight,bias}             layers.N.mlpNorm
//     h.N.mlp.c_fc.weight [d, F], bias   layers.N.mlp.up [F, d]
//     h.N.mlp.c_proj.weight [F, d], bias layers.N.mlp.down [d, F]
//     ln_f.{weight,bias}                 finalNorm
//     score.weight [C, d] (no prefix)    classifier.weight
//     ignored: the causal-mask buffers h.N.attn.bias and h.N.attn.masked_bias.
//   llama, mistral, qwen2 (.bias where the architecture has one):
//     model.embed_tokens.weight                 tokenEmbedding.weight
//     model.layers.N.input_layernorm.weight     layers.N.attnNorm.weight
//     model.layers.N.self_attn.q_proj.weight    rows 0..H·hd-1 of layers.N.attn.qkv.weight; k_proj
//       [H·hd, d], k_proj, v_proj [KV·hd, d]    and v_proj follow (HF q/k already use rotate-half RoPE)
//     model.layers.N.self_attn.o_proj.weight    layers.N.attn.out.weight
//     model.layers.N.post_attention_layernorm   layers.N.mlpNorm.weight
//     model.layers.N.mlp.gate_proj, up_proj     rows 0..F-1 (gate) and F..2F-1 (up) of mlp.gateUp.weight
//     model.layers.N.mlp.down_proj.weight       layers.N.mlp.down.weight
//     model.norm.weight                         finalNorm.weight
//     lm_head.weight                            lmHead.weight (LM head, untied)
//     score.weight                              classifier.weight
//   gpt_neox:
//     gpt_neox.embed_in.weight                          tokenEmbedding.weight
//     gpt_neox.layers.N.input_layernorm.{weight,bias}   layers.N.attnNorm
//     gpt_neox.layers.N.attention.query_key_value       layers.N.attn.qkv, rows permuted: HF row
//       .weight [3·H·hd, d], .bias [3·H·hd]               (h·3 + s)·hd + e (s = 0 q, 1 k, 2 v) is
//                                                       canonical row (s·H + h)·hd + e
//     gpt_neox.layers.N.attention.dense.{weight,bias}   layers.N.attn.out
//     gpt_neox.layers.N.post_attention_layernorm        layers.N.mlpNorm
//     gpt_neox.layers.N.mlp.dense_h_to_4h.{weight,bias} layers.N.mlp.up
//     gpt_neox.layers.N.mlp.dense_4h_to_h.{weight,bias} layers.N.mlp.down
//     gpt_neox.final_layer_norm.{weight,bias}           finalNorm
//     embed_out.weight                                  lmHead.weight
//     score.weight                                      classifier.weight
//     ignored: the buffers gpt_neox.layers.N.attention.{bias,masked_bias,rotary_emb.inv_freq}.
// With tied embeddings, a stored lm_head.weight (embed_out.weight) is ignored if it equals the
// token embedding.
import { headDim, parameterSpecs, type ModelConfig, type ParameterSpec, type Weights } from '../config.js';
import { CheckpointError } from './errors.js';
import { hfModelType } from './hf-config.js';
import type { TensorToWrite } from './safetensors.js';
import { checkWeights, elementCount } from './weights.js';

/** A tensor under its HF name; `file` (its shard) names it in errors. */
export interface HfTensor {
  shape: number[];
  data: Float32Array;
  file?: string;
}

/**
 * One HF tensor: consecutive rows of a canonical parameter, in HF's shape, transposed if a Conv1D
 * weight, or (rows) a permutation: HF row k is canonical row rows[k].
 */
interface HfPart {
  name: string;
  shape: number[];
  transpose: boolean;
  rows?: Int32Array;
}

const GPT2_TOP: Record<string, string> = {
  tokenEmbedding: 'transformer.wte',
  positionEmbedding: 'transformer.wpe',
  finalNorm: 'transformer.ln_f',
  classifier: 'score',
};
const GPT2_LAYER: Record<string, { name: string; conv1d: boolean }> = {
  attnNorm: { name: 'ln_1', conv1d: false },
  'attn.qkv': { name: 'attn.c_attn', conv1d: true },
  'attn.out': { name: 'attn.c_proj', conv1d: true },
  mlpNorm: { name: 'ln_2', conv1d: false },
  'mlp.up': { name: 'mlp.c_fc', conv1d: true },
  'mlp.down': { name: 'mlp.c_proj', conv1d: true },
};

const LLAMA_TOP: Record<string, string> = {
  tokenEmbedding: 'model.embed_tokens',
  finalNorm: 'model.norm',
  lmHead: 'lm_head',
  classifier: 'score',
};
const LLAMA_LAYER: Record<string, string[]> = {
  attnNorm: ['input_layernorm'],
  'attn.qkv': ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'],
  'attn.out': ['self_attn.o_proj'],
  mlpNorm: ['post_attention_layernorm'],
  'mlp.gateUp': ['mlp.gate_proj', 'mlp.up_proj'],
  'mlp.down': ['mlp.down_proj'],
};

const NEOX_TOP: Record<string, string> = {
  tokenEmbedding: 'gpt_neox.embed_in',
  finalNorm: 'gpt_neox.final_layer_norm',
  lmHead: 'embed_out',
  classifier: 'score',
};
const NEOX_LAYER: Record<string, string> = {
  attnNorm: 'input_layernorm',
  'attn.qkv': 'attention.query_key_value',
  'attn.out': 'attention.dense',
  mlpNorm: 'post_attention_layernorm',
  'mlp.up': 'mlp.dense_h_to_4h',
  'mlp.down': 'mlp.dense_4h_to_h',
};

/** Buffers of HF modules that are not parameters: skipped when reading. */
const BUFFERS = /^(transformer\.h\.\d+\.attn\.(bias|masked_bias)|gpt_neox\.layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq))$/;

/** GPT-NeoX's query_key_value rows, per head [q; k; v]: HF row (h·3 + s)·hd + e is canonical row (s·H + h)·hd + e. */
function neoxQkvRows(config: ModelConfig): Int32Array {
  const H = config.nHeads, hd = headDim(config);
  const rows = new Int32Array(3 * H * hd);
  for (let h = 0; h < H; h++) for (let s = 0; s < 3; s++) for (let e = 0; e < hd; e++) rows[(h * 3 + s) * hd + e] = (s * H + h) * hd + e;
  return rows;
}

function hfParts(config: ModelConfig, spec: ParameterSpec): HfPart[] {
  const [, layer, module, param] = /^(?:layers\.(\d+)\.)?(.+)\.(weight|bias)$/.exec(spec.name)!;
  const family = hfModelType(config);
  if (family === 'gpt2') {
    if (layer === undefined) return [{ name: `${GPT2_TOP[module]}.${param}`, shape: spec.shape, transpose: false }];
    const { name, conv1d } = GPT2_LAYER[module];
    const transpose = conv1d && param === 'weight';
    return [{ name: `transformer.h.${layer}.${name}.${param}`, shape: transpose ? [spec.shape[1], spec.shape[0]] : spec.shape, transpose }];
  }
  if (family === 'gpt_neox') {
    if (layer === undefined) return [{ name: `${NEOX_TOP[module]}.${param}`, shape: spec.shape, transpose: false }];
    const rows = module === 'attn.qkv' ? neoxQkvRows(config) : undefined;
    return [{ name: `gpt_neox.layers.${layer}.${NEOX_LAYER[module]}.${param}`, shape: spec.shape, transpose: false, rows }];
  }
  if (layer === undefined) return [{ name: `${LLAMA_TOP[module]}.${param}`, shape: spec.shape, transpose: false }];
  const names = LLAMA_LAYER[module];
  const kvRows = config.nKvHeads * headDim(config);
  const rows = module === 'attn.qkv' ? [config.nHeads * headDim(config), kvRows, kvRows] : names.map(() => spec.shape[0] / names.length);
  return names.map((name, i) => ({ name: `model.layers.${layer}.${name}.${param}`, shape: [rows[i], ...spec.shape.slice(1)], transpose: false }));
}

/** Copies HF row k of `src` (rows of `width`) to row rows[k] of `out`, or the reverse. */
function permuteRows(src: Float32Array, rows: Int32Array, width: number, out: Float32Array, toCanonical: boolean): void {
  for (let k = 0; k < rows.length; k++) {
    const [from, to] = toCanonical ? [k, rows[k]] : [rows[k], k];
    out.set(src.subarray(from * width, (from + 1) * width), to * width);
  }
}

function transpose(src: Float32Array, rows: number, cols: number, out: Float32Array, offset: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[offset + c * rows + r] = src[r * cols + c];
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

const shapeText = (shape: number[]) => `[${shape.join(', ')}]`;

/**
 * Canonical weights from HF-named tensors, checked against parameterSpecs(config): a missing
 * tensor, an unknown one or a wrong shape throws a CheckpointError naming the tensor's file
 * (or `file`, e.g. the index, when it has none).
 */
export function weightsFromHf(config: ModelConfig, tensors: Map<string, HfTensor>, file: string): Weights {
  const family = hfModelType(config);
  const gpt2 = family === 'gpt2';
  const byName = new Map<string, HfTensor & { name: string }>();
  for (const [name, tensor] of tensors) {
    const key = gpt2 && !name.startsWith('transformer.') && name !== 'score.weight' && name !== 'lm_head.weight' ? `transformer.${name}` : name;
    if (byName.has(key)) throw new CheckpointError(tensor.file ?? file, `tensor "${name}" appears both with and without the "transformer." prefix`);
    byName.set(key, { ...tensor, name });
  }

  const weights: Weights = new Map();
  for (const spec of parameterSpecs(config)) {
    const parts = hfParts(config, spec).map((part) => {
      const tensor = byName.get(part.name);
      if (!tensor) throw new CheckpointError(file, `missing tensor "${part.name}" (for ${spec.name})`);
      if (shapeText(tensor.shape) !== shapeText(part.shape))
        throw new CheckpointError(tensor.file ?? file, `tensor "${tensor.name}" has shape ${shapeText(tensor.shape)}, expected ${shapeText(part.shape)} (for ${spec.name})`);
      byName.delete(part.name);
      return { ...part, data: tensor.data };
    });
    if (parts.length === 1 && parts[0].rows) {
      const out = new Float32Array(elementCount(spec.shape));
      permuteRows(parts[0].data, parts[0].rows, parts[0].data.length / parts[0].rows.length, out, true);
      weights.set(spec.name, out);
      continue;
    }
    if (parts.length === 1 && !parts[0].transpose) {
      weights.set(spec.name, parts[0].data);
      continue;
    }
    const out = new Float32Array(elementCount(spec.shape));
    let offset = 0;
    for (const { shape, transpose: conv1d, data } of parts) {
      if (conv1d) transpose(data, shape[0], shape[1], out, offset);
      else out.set(data, offset);
      offset += data.length;
    }
    weights.set(spec.name, out);
  }

  const lmHead = family === 'gpt_neox' ? 'embed_out.weight' : 'lm_head.weight';
  for (const [key, tensor] of byName) {
    if (BUFFERS.test(key)) continue;
    if (key === lmHead && config.architecture.tiedEmbeddings) {
      if (shapeText(tensor.shape) === shapeText([config.vocabSize, config.dModel]) && sameBits(tensor.data, weights.get('tokenEmbedding.weight')!)) continue;
      throw new CheckpointError(tensor.file ?? file, `${lmHead} differs from the token embedding, but the config ties them`);
    }
    throw new CheckpointError(tensor.file ?? file, `unexpected tensor "${tensor.name}" (not a parameter of this ${family} model)`);
  }
  return weights;
}

/** HF-named tensors for canonical weights (checked first; `file` names the destination in errors). */
export function weightsToHf(config: ModelConfig, weights: Weights, file: string): Map<string, TensorToWrite> {
  checkWeights(config, weights, file);
  const tensors = new Map<string, TensorToWrite>();
  for (const spec of parameterSpecs(config)) {
    const source = weights.get(spec.name)!;
    let offset = 0;
    for (const part of hfParts(config, spec)) {
      const n = elementCount(part.shape);
      const rows = source.subarray(offset, offset + n);
      offset += n;
      let data = rows;
      if (part.rows) {
        data = new Float32Array(n);
        permuteRows(rows, part.rows, n / part.rows.length, data, false);
      } else if (part.transpose) {
        data = new Float32Array(n);
        transpose(rows, part.shape[1], part.shape[0], data, 0);
      }
      tensors.set(part.name, { shape: part.shape, data });
    }
  }
  return tensors;
}
