// Hugging Face checkpoints as transformers defines them, for the tests: the tensors of each model
// type under transformers' own names and layouts (random values exactly representable in bfloat16,
// so that F32, F16 and BF16 files hold the same numbers), and a float64 forward pass that reads
// only config.json's fields and those tensors, written from the published modelling code
// (transformers' modeling_gpt2, modeling_llama, modeling_mistral, modeling_qwen2,
// modeling_gpt_neox); nothing from ../src. Layouts: nn.Linear weights [out, in] (y = x·Wᵀ + b);
// GPT-2's Conv1D weights [in, out] (y = x·W + b); tokens [B·T] right-padded to lengths [B]; LM
// logits [B, T, V]; classifier logits [B, C] at each sequence's last token.
import type { Batch } from '../src/batch.js';
import { erf } from './reference64.js';

export type HfJson = Record<string, unknown>;
export type HfTensors = Map<string, { shape: number[]; data: Float32Array }>;

const int = (json: HfJson, key: string, fallback?: number): number => (json[key] ?? fallback) as number;

/**
 * Values k·scale/128 for integers |k| ≤ 128, or (norm weights, offset 1) 1 + k/128 for |k| ≤ 16:
 * at most 8 significant bits, exact in BF16, F16 and F32.
 */
function exactValues(n: number, rng: () => number, scale: number, offset = 0): Float32Array {
  const k = (range: number) => Math.round((2 * rng() - 1) * range);
  return Float32Array.from({ length: n }, () => (offset ? offset + k(16) / 128 : (k(128) * scale) / 128));
}

/** The parameters (and, where given, the non-parameter buffers) a checkpoint of this config.json holds. */
export function hfTensors(json: HfJson, rng: () => number, buffers = false): HfTensors {
  const t: HfTensors = new Map();
  const type = json.model_type;
  const matrix = (name: string, shape: number[]) => t.set(name, { shape, data: exactValues(shape[0] * shape[1], rng, 0.25) });
  const vector = (name: string, n: number, offset = 0) => t.set(name, { shape: [n], data: exactValues(n, rng, 0.125, offset) });
  const classifier = (json.architectures as string[]).some((a) => a.endsWith('ForSequenceClassification'));
  const labels = int(json, 'num_labels', 2);
  if (type === 'gpt2') {
    const d = int(json, 'n_embd'), f = int(json, 'n_inner') ?? 4 * d, L = int(json, 'n_layer'), V = int(json, 'vocab_size');
    matrix('transformer.wte.weight', [V, d]);
    matrix('transformer.wpe.weight', [int(json, 'n_positions'), d]);
    for (let l = 0; l < L; l++) {
      const p = `transformer.h.${l}`;
      vector(`${p}.ln_1.weight`, d, 1);
      vector(`${p}.ln_1.bias`, d);
      matrix(`${p}.attn.c_attn.weight`, [d, 3 * d]);
      vector(`${p}.attn.c_attn.bias`, 3 * d);
      matrix(`${p}.attn.c_proj.weight`, [d, d]);
      vector(`${p}.attn.c_proj.bias`, d);
      vector(`${p}.ln_2.weight`, d, 1);
      vector(`${p}.ln_2.bias`, d);
      matrix(`${p}.mlp.c_fc.weight`, [d, f]);
      vector(`${p}.mlp.c_fc.bias`, f);
      matrix(`${p}.mlp.c_proj.weight`, [f, d]);
      vector(`${p}.mlp.c_proj.bias`, d);
      if (buffers) {
        const P = int(json, 'n_positions');
        t.set(`${p}.attn.bias`, { shape: [1, 1, P, P], data: Float32Array.from({ length: P * P }, (_, i) => (i % P <= Math.floor(i / P) ? 1 : 0)) });
        t.set(`${p}.attn.masked_bias`, { shape: [], data: Float32Array.of(-1e4) });
      }
    }
    vector('transformer.ln_f.weight', d, 1);
    vector('transformer.ln_f.bias', d);
    if (classifier) matrix('score.weight', [labels, d]);
    return t;
  }
  const d = int(json, 'hidden_size'), f = int(json, 'intermediate_size'), L = int(json, 'num_hidden_layers'), V = int(json, 'vocab_size');
  const H = int(json, 'num_attention_heads'), hd = d / H;
  const tied = json.tie_word_embeddings === true;
  if (type === 'gpt_neox') {
    const bias = json.attention_bias !== false;
    matrix('gpt_neox.embed_in.weight', [V, d]);
    for (let l = 0; l < L; l++) {
      const p = `gpt_neox.layers.${l}`;
      vector(`${p}.input_layernorm.weight`, d, 1);
      vector(`${p}.input_layernorm.bias`, d);
      matrix(`${p}.attention.query_key_value.weight`, [3 * d, d]);
      if (bias) vector(`${p}.attention.query_key_value.bias`, 3 * d);
      matrix(`${p}.attention.dense.weight`, [d, d]);
      if (bias) vector(`${p}.attention.dense.bias`, d);
      vector(`${p}.post_attention_layernorm.weight`, d, 1);
      vector(`${p}.post_attention_layernorm.bias`, d);
      matrix(`${p}.mlp.dense_h_to_4h.weight`, [f, d]);
      vector(`${p}.mlp.dense_h_to_4h.bias`, f);
      matrix(`${p}.mlp.dense_4h_to_h.weight`, [d, f]);
      vector(`${p}.mlp.dense_4h_to_h.bias`, d);
      if (buffers) {
        const P = int(json, 'max_position_embeddings');
        const rot = Math.floor(hd * int(json, 'rotary_pct', 0.25));
        t.set(`${p}.attention.bias`, { shape: [1, 1, P, P], data: Float32Array.from({ length: P * P }, (_, i) => (i % P <= Math.floor(i / P) ? 1 : 0)) });
        t.set(`${p}.attention.masked_bias`, { shape: [], data: Float32Array.of(-1e4) });
        t.set(`${p}.attention.rotary_emb.inv_freq`, { shape: [rot / 2], data: Float32Array.from({ length: rot / 2 }, (_, j) => 2 ** -j) }); // contents unused
      }
    }
    vector('gpt_neox.final_layer_norm.weight', d, 1);
    vector('gpt_neox.final_layer_norm.bias', d);
    if (classifier) matrix('score.weight', [labels, d]);
    else if (!tied) matrix('embed_out.weight', [V, d]);
    return t;
  }
  // llama, mistral, qwen2
  const KV = int(json, 'num_key_value_heads', H);
  const qkvBias = type === 'qwen2' || (type === 'llama' && json.attention_bias === true);
  const oBias = type === 'llama' && json.attention_bias === true;
  const mlpBias = type === 'llama' && json.mlp_bias === true;
  matrix('model.embed_tokens.weight', [V, d]);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    vector(`${p}.input_layernorm.weight`, d, 1);
    for (const [proj, rows] of [['q_proj', H * hd], ['k_proj', KV * hd], ['v_proj', KV * hd]] as const) {
      matrix(`${p}.self_attn.${proj}.weight`, [rows, d]);
      if (qkvBias) vector(`${p}.self_attn.${proj}.bias`, rows);
    }
    matrix(`${p}.self_attn.o_proj.weight`, [d, H * hd]);
    if (oBias) vector(`${p}.self_attn.o_proj.bias`, d);
    vector(`${p}.post_attention_layernorm.weight`, d, 1);
    for (const [proj, shape] of [['gate_proj', [f, d]], ['up_proj', [f, d]], ['down_proj', [d, f]]] as const) {
      matrix(`${p}.mlp.${proj}.weight`, [...shape]);
      if (mlpBias) vector(`${p}.mlp.${proj}.bias`, shape[0]);
    }
  }
  vector('model.norm.weight', d, 1);
  if (classifier) matrix('score.weight', [labels, d]);
  else if (!tied) matrix('lm_head.weight', [V, d]);
  return t;
}

/** transformers' RoPE inverse frequencies over `dim` dims: default, or rope_type "llama3" (_compute_llama3_parameters). */
function inverseFrequencies(json: HfJson, dim: number, base: number): number[] {
  const invFreq = Array.from({ length: dim / 2 }, (_, j) => 1 / base ** ((2 * j) / dim));
  const scaling = json.rope_scaling as Record<string, number> | null | undefined;
  if (!scaling) return invFreq;
  const { factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: old } = scaling;
  return invFreq.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    const llama = wavelen > old / low ? f / factor : f;
    const smooth = (old / wavelen - low) / (high - low);
    const medium = !(wavelen < old / high) && !(wavelen > old / low);
    return medium ? ((1 - smooth) * llama) / factor + smooth * llama : llama;
  });
}

/** The logits transformers computes for this checkpoint, in float64. */
export function hfReferenceLogits(json: HfJson, tensors: HfTensors, batch: Batch): Float64Array {
  const type = json.model_type as string;
  const W = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`hf reference: missing ${name}`);
    return t.data;
  };
  const has = (name: string) => tensors.has(name);
  const { tokens, lengths, batch: B, seqLen: T } = batch;
  const N = B * T;
  const gpt2 = type === 'gpt2', neox = type === 'gpt_neox';
  const d = gpt2 ? int(json, 'n_embd') : int(json, 'hidden_size');
  const H = gpt2 ? int(json, 'n_head') : int(json, 'num_attention_heads');
  const KV = gpt2 || neox ? H : int(json, 'num_key_value_heads', H);
  const L = gpt2 ? int(json, 'n_layer') : int(json, 'num_hidden_layers');
  const V = int(json, 'vocab_size');
  const hd = d / H;
  const eps = (gpt2 ? json.layer_norm_epsilon : neox ? json.layer_norm_eps : json.rms_norm_eps) as number;
  const rotary = gpt2 ? 0 : neox ? Math.floor(hd * int(json, 'rotary_pct', 0.25)) : hd;
  const invFreq = gpt2 ? [] : inverseFrequencies(json, rotary, neox ? int(json, 'rotary_emb_base', 10000) : int(json, 'rope_theta', 10000));
  const window = type === 'mistral' || (type === 'qwen2' && json.use_sliding_window === true) ? (json.sliding_window as number | null) : null;
  const act = (u: number): number => {
    const name = (gpt2 ? json.activation_function : json.hidden_act) as string;
    if (name === 'silu') return u / (1 + Math.exp(-u));
    if (name === 'gelu') return 0.5 * u * (1 + erf(u / Math.SQRT2));
    return 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3))); // gelu_new
  };

  // nn.Linear: y[o] = Σ_i W[o, i]·x[i] + b[o]; Conv1D: y[o] = Σ_i W[i, o]·x[i] + b[o].
  const linear = (prefix: string, x: Float64Array, conv1d = false): Float64Array => {
    const w = W(`${prefix}.weight`);
    const b = has(`${prefix}.bias`) ? W(`${prefix}.bias`) : null;
    const inp = x.length, out = w.length / inp;
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inp; i++) s += (conv1d ? w[i * out + o] : w[o * inp + i]) * x[i];
      y[o] = s;
    }
    return y;
  };
  const norm = (prefix: string, x: Float64Array): Float64Array => {
    const g = W(`${prefix}.weight`);
    if (!has(`${prefix}.bias`)) {
      const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / d + eps); // LlamaRMSNorm
      return x.map((v, i) => (v / rms) * g[i]);
    }
    const b = W(`${prefix}.bias`); // nn.LayerNorm
    const mean = x.reduce((s, v) => s + v, 0) / d;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
    return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * g[i] + b[i]);
  };
  // apply_rotary_pos_emb on x[..., :rotary]: x·cos + rotate_half(x)·sin, cos/sin = cat(freqs, freqs).
  const rope = (x: Float64Array, position: number) => {
    const half = rotary / 2;
    const r = x.slice(0, rotary);
    for (let i = 0; i < rotary; i++) {
      const angle = position * invFreq[i % half];
      x[i] = r[i] * Math.cos(angle) + (i < half ? -r[i + half] : r[i - half]) * Math.sin(angle);
    }
  };

  const embed = W(gpt2 ? 'transformer.wte.weight' : neox ? 'gpt_neox.embed_in.weight' : 'model.embed_tokens.weight');
  const x = Array.from({ length: N }, (_, n) => {
    const row = Float64Array.from(embed.subarray(tokens[n] * d, (tokens[n] + 1) * d));
    if (gpt2) {
      const wpe = W('transformer.wpe.weight');
      for (let i = 0; i < d; i++) row[i] += wpe[(n % T) * d + i];
    }
    return row;
  });

  for (let l = 0; l < L; l++) {
    const p = gpt2 ? `transformer.h.${l}` : neox ? `gpt_neox.layers.${l}` : `model.layers.${l}`;
    // Per row: q [H][hd], k and v [KV][hd].
    const q: Float64Array[][] = [], k: Float64Array[][] = [], v: Float64Array[][] = [];
    for (let n = 0; n < N; n++) {
      const h = norm(gpt2 ? `${p}.ln_1` : `${p}.input_layernorm`, x[n]);
      if (gpt2) {
        const qkv = linear(`${p}.attn.c_attn`, h, true); // split(n_embd): q, k, v; heads of hd within each
        q.push(Array.from({ length: H }, (_, j) => qkv.slice(j * hd, (j + 1) * hd)));
        k.push(Array.from({ length: H }, (_, j) => qkv.slice(d + j * hd, d + (j + 1) * hd)));
        v.push(Array.from({ length: H }, (_, j) => qkv.slice(2 * d + j * hd, 2 * d + (j + 1) * hd)));
      } else if (neox) {
        const qkv = linear(`${p}.attention.query_key_value`, h); // view(..., H, 3·hd), chunk(3) per head
        q.push(Array.from({ length: H }, (_, j) => qkv.slice(3 * j * hd, (3 * j + 1) * hd)));
        k.push(Array.from({ length: H }, (_, j) => qkv.slice((3 * j + 1) * hd, (3 * j + 2) * hd)));
        v.push(Array.from({ length: H }, (_, j) => qkv.slice((3 * j + 2) * hd, (3 * j + 3) * hd)));
      } else {
        const [qs, ks, vs] = ['q_proj', 'k_proj', 'v_proj'].map((proj) => linear(`${p}.self_attn.${proj}`, h));
        q.push(Array.from({ length: H }, (_, j) => qs.slice(j * hd, (j + 1) * hd)));
        k.push(Array.from({ length: KV }, (_, j) => ks.slice(j * hd, (j + 1) * hd)));
        v.push(Array.from({ length: KV }, (_, j) => vs.slice(j * hd, (j + 1) * hd)));
      }
      if (rotary > 0) for (const head of [...q[n], ...k[n]]) rope(head, n % T);
    }
    const attnOut = Array.from({ length: N }, (_, n) => {
      const b = Math.floor(n / T), i = n % T;
      const merged = new Float64Array(H * hd);
      for (let h = 0; h < H; h++) {
        const kv = Math.floor(h / (H / KV)); // repeat_kv
        const keys: number[] = [];
        // causal, keys past the sequence's length masked (the attention mask), and mistral's window: j > i − W
        for (let j = 0; j <= i && j < lengths[b]; j++) if (window === null || j > i - window) keys.push(j);
        const scores = keys.map((j) => q[n][h].reduce((s, qe, e) => s + qe * k[b * T + j][kv][e], 0) / Math.sqrt(hd));
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const total = weights.reduce((s, w) => s + w, 0);
        keys.forEach((j, m) => {
          for (let e = 0; e < hd; e++) merged[h * hd + e] += (weights[m] / total) * v[b * T + j][kv][e];
        });
      }
      return gpt2 ? linear(`${p}.attn.c_proj`, merged, true) : neox ? linear(`${p}.attention.dense`, merged) : linear(`${p}.self_attn.o_proj`, merged);
    });
    const mlp = (h: Float64Array): Float64Array => {
      if (gpt2) return linear(`${p}.mlp.c_proj`, linear(`${p}.mlp.c_fc`, h, true).map(act), true);
      if (neox) return linear(`${p}.mlp.dense_4h_to_h`, linear(`${p}.mlp.dense_h_to_4h`, h).map(act));
      const gate = linear(`${p}.mlp.gate_proj`, h).map(act);
      const up = linear(`${p}.mlp.up_proj`, h);
      return linear(`${p}.mlp.down_proj`, gate.map((g, i) => g * up[i]));
    };
    const mlpNorm = gpt2 ? `${p}.ln_2` : `${p}.post_attention_layernorm`;
    for (let n = 0; n < N; n++) {
      if (neox && json.use_parallel_residual !== false) {
        // GPTNeoXLayer, use_parallel_residual: x = x + attn(ln1(x)) + mlp(ln2(x))
        const m = mlp(norm(mlpNorm, x[n]));
        for (let i = 0; i < d; i++) x[n][i] += attnOut[n][i] + m[i];
      } else {
        for (let i = 0; i < d; i++) x[n][i] += attnOut[n][i];
        const m = mlp(norm(mlpNorm, x[n]));
        for (let i = 0; i < d; i++) x[n][i] += m[i];
      }
    }
  }
  const finalNorm = gpt2 ? 'transformer.ln_f' : neox ? 'gpt_neox.final_layer_norm' : 'model.norm';
  const classifier = (json.architectures as string[]).some((a) => a.endsWith('ForSequenceClassification'));
  if (classifier) {
    const C = int(json, 'num_labels', 2);
    const out = new Float64Array(B * C);
    for (let b = 0; b < B; b++) out.set(linear('score', norm(finalNorm, x[b * T + lengths[b] - 1])), b * C);
    return out;
  }
  const headName = gpt2 || json.tie_word_embeddings === true ? null : neox ? 'embed_out' : 'lm_head';
  const out = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    const h = norm(finalNorm, x[n]);
    if (headName) out.set(linear(headName, h), n * V);
    else for (let t = 0; t < V; t++) out[n * V + t] = h.reduce((s, he, i) => s + he * embed[t * d + i], 0);
  }
  return out;
}
