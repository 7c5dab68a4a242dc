// A float64 plain-JS transformer written from config.ts's contract and from transformers'
// modelling code (modeling_gpt2, modeling_llama, modeling_mistral, modeling_qwen2,
// modeling_gpt_neox: LayerNorm/RMSNorm, GELU tanh/exact, SwiGLU, rotate-half RoPE on the first
// rotary dims with Llama 3's frequency scaling, parallel residual), loops only, no tfjs and nothing
// from ../src but types: the reference of twin.test.ts (which checks the twin against it and its
// finite differences), of engine.test.ts's dropout test and of the Hugging Face checkpoint tests: optional dropout multipliers (0 or 1/(1 − p) per element) on the
// embeddings and on each layer's attention and MLP branches, where the engine applies dropout.
// Layouts as in ../src/tfjs/twin.ts: tokens [B·T], lengths [B], LM logits [B, T, V], classifier
// logits [B, C], weights [out, in].
import type { ModelConfig, Weights } from '../src/config.js';
import type { Batch } from '../src/batch.js';

/** Per-element multipliers, each [B·T·dModel] row-major: the embeddings, and per layer both residual branches. */
export interface DropoutMultipliers {
  embedding: Float64Array;
  attention: Float64Array[];
  mlp: Float64Array[];
}


export type Weights64 = Map<string, Float64Array>;

export const to64 = (weights: Weights): Weights64 => new Map([...weights].map(([name, w]) => [name, Float64Array.from(w)]));

/**
 * x rounded to the nearest bfloat16 (8 significant bits), ties to even, by arithmetic on its
 * binary exponent (normal numbers; 0 stays 0): the rounding of the engine's bf16 products' inputs.
 */
export function bf16Round(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  let e = Math.floor(Math.log2(Math.abs(x)));
  if (2 ** e > Math.abs(x)) e--;
  else if (2 ** (e + 1) <= Math.abs(x)) e++;
  const ulp = 2 ** (e - 7);
  const q = x / ulp;
  const f = Math.floor(q);
  const rounded = q - f > 0.5 ? f + 1 : q - f < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  return rounded * ulp;
}

/**
 * The logits. `roundProductInputs` (bf16Round for the engine's bf16 precision) rounds both inputs of
 * every linear map, the heads' included: its weights and the vector it multiplies (not the bias).
 */
export function refLogits(config: ModelConfig, w: Weights64, batch: Batch, dropout?: DropoutMultipliers, roundProductInputs?: (x: number) => number): Float64Array {
  const { tokens, lengths, batch: nSeq, seqLen } = batch;
  const { dModel: d, nHeads: H, nKvHeads: KV, dFf: F, normEps: eps } = config;
  const hd = d / H;
  const N = nSeq * seqLen;
  const arch = config.architecture;
  const get = (name: string): Float64Array => {
    const t = w.get(name);
    if (!t) throw new Error(`reference: missing ${name}`);
    return t;
  };
  const rounded = new Map<string, Float64Array>();
  const weight = (name: string): Float64Array => {
    if (!roundProductInputs) return get(name);
    if (!rounded.has(name)) rounded.set(name, get(name).map(roundProductInputs));
    return rounded.get(name)!;
  };
  // y = W·x (+ b), W [out, in].
  const linear = (prefix: string, input: Float64Array, out: number, bias: boolean): Float64Array => {
    const W = weight(`${prefix}.weight`);
    const b = bias ? get(`${prefix}.bias`) : null;
    const x = roundProductInputs ? input.map(roundProductInputs) : input;
    const inp = x.length;
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inp; i++) s += W[o * inp + i] * x[i];
      y[o] = s;
    }
    return y;
  };
  const norm = (prefix: string, x: Float64Array): Float64Array => {
    const g = get(`${prefix}.weight`);
    const y = new Float64Array(d);
    if (arch.norm === 'layerNorm') {
      const beta = get(`${prefix}.bias`);
      let mean = 0;
      for (let i = 0; i < d; i++) mean += x[i] / d;
      let variance = 0;
      for (let i = 0; i < d; i++) variance += (x[i] - mean) ** 2 / d;
      for (let i = 0; i < d; i++) y[i] = ((x[i] - mean) / Math.sqrt(variance + eps)) * g[i] + beta[i];
    } else {
      let ms = 0;
      for (let i = 0; i < d; i++) ms += (x[i] * x[i]) / d;
      for (let i = 0; i < d; i++) y[i] = (x[i] / Math.sqrt(ms + eps)) * g[i];
    }
    return y;
  };
  // transformers: rotary_ndims = int(head_size · rotary_pct); inv_freq = 1 / base^(arange(0, dim, 2) / dim);
  // rope_type "llama3" rescales it (_compute_llama3_parameters); q_rot = q[..., :rotary_ndims] gets
  // q_rot·cos + rotate_half(q_rot)·sin, with cos/sin of position·inv_freq repeated twice.
  const positions = arch.positions;
  const rotary = positions.kind === 'rope' ? Math.floor(hd * positions.rotaryFraction) : 0;
  const invFreq = Array.from({ length: rotary / 2 }, (_, j) => {
    if (positions.kind !== 'rope') return 0;
    const f = 1 / positions.theta ** ((2 * j) / rotary);
    const s = positions.scaling;
    if (!s) return f;
    const lowFreqWavelen = s.originalContextLength / s.lowFreqFactor;
    const highFreqWavelen = s.originalContextLength / s.highFreqFactor;
    const wavelen = (2 * Math.PI) / f;
    const llama = wavelen > lowFreqWavelen ? f / s.factor : f;
    const smoothFactor = (s.originalContextLength / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    const smoothed = ((1 - smoothFactor) * llama) / s.factor + smoothFactor * llama;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    return isMedium ? smoothed : llama;
  });
  const rope = (v: Float64Array, offset: number, position: number) => {
    const half = rotary / 2;
    const rotated = Float64Array.from(v.subarray(offset, offset + rotary));
    for (let i = 0; i < rotary; i++) {
      const angle = position * invFreq[i % half];
      const rotateHalf = i < half ? -rotated[i + half] : rotated[i - half];
      v[offset + i] = rotated[i] * Math.cos(angle) + rotateHalf * Math.sin(angle);
    }
  };
  const activation = (u: number): number =>
    arch.mlp === 'geluTanh' ? 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3))) : 0.5 * u * (1 + erf(u / Math.SQRT2));
  const row = (x: Float64Array, n: number, width: number) => x.subarray(n * width, (n + 1) * width);

  const x = new Float64Array(N * d);
  const E = get('tokenEmbedding.weight');
  for (let n = 0; n < N; n++)
    for (let i = 0; i < d; i++)
      x[n * d + i] = E[tokens[n] * d + i] + (positions.kind === 'learned' ? get('positionEmbedding.weight')[(n % seqLen) * d + i] : 0);
  if (dropout) for (let i = 0; i < N * d; i++) x[i] *= dropout.embedding[i];

  for (let layer = 0; layer < config.nLayers; layer++) {
    const L = `layers.${layer}`;
    const q = new Float64Array(N * H * hd);
    const k = new Float64Array(N * KV * hd);
    const v = new Float64Array(N * KV * hd);
    for (let n = 0; n < N; n++) {
      const qkv = linear(`${L}.attn.qkv`, norm(`${L}.attnNorm`, row(x, n, d)), (H + 2 * KV) * hd, arch.biases.qkv);
      q.set(qkv.subarray(0, H * hd), n * H * hd);
      k.set(qkv.subarray(H * hd, (H + KV) * hd), n * KV * hd);
      v.set(qkv.subarray((H + KV) * hd), n * KV * hd);
      if (rotary > 0) {
        for (let h = 0; h < H; h++) rope(q, (n * H + h) * hd, n % seqLen);
        for (let h = 0; h < KV; h++) rope(k, (n * KV + h) * hd, n % seqLen);
      }
    }
    const attn = new Float64Array(N * H * hd);
    for (let b = 0; b < nSeq; b++)
      for (let h = 0; h < H; h++) {
        const kh = Math.floor(h / (H / KV));
        for (let i = 0; i < seqLen; i++) {
          const visible = Math.min(i + 1, lengths[b]); // causal, and keys ≥ length masked
          const scores = new Float64Array(visible);
          for (let j = 0; j < visible; j++) {
            let s = 0;
            for (let e = 0; e < hd; e++) s += q[((b * seqLen + i) * H + h) * hd + e] * k[((b * seqLen + j) * KV + kh) * hd + e];
            scores[j] = s / Math.sqrt(hd);
          }
          const max = Math.max(...scores);
          let total = 0;
          for (let j = 0; j < visible; j++) total += (scores[j] = Math.exp(scores[j] - max));
          for (let j = 0; j < visible; j++)
            for (let e = 0; e < hd; e++)
              attn[((b * seqLen + i) * H + h) * hd + e] += (scores[j] / total) * v[((b * seqLen + j) * KV + kh) * hd + e];
        }
      }
    // The MLP reads the stream before the attention branch is added (parallel) or after (serial).
    const attnOut = new Float64Array(N * d);
    for (let n = 0; n < N; n++) {
      const o = linear(`${L}.attn.out`, row(attn, n, H * hd), d, arch.biases.attnOut);
      for (let i = 0; i < d; i++) attnOut[n * d + i] = o[i] * (dropout ? dropout.attention[layer][n * d + i] : 1);
    }
    if (!arch.parallelResidual) for (let i = 0; i < N * d; i++) x[i] += attnOut[i];
    const mlpOut = new Float64Array(N * d);
    for (let n = 0; n < N; n++) {
      const h = norm(`${L}.mlpNorm`, row(x, n, d));
      let act: Float64Array;
      if (arch.mlp === 'swiglu') {
        const gu = linear(`${L}.mlp.gateUp`, h, 2 * F, arch.biases.mlp);
        act = Float64Array.from({ length: F }, (_, f) => (gu[f] / (1 + Math.exp(-gu[f]))) * gu[F + f]);
      } else {
        act = linear(`${L}.mlp.up`, h, F, arch.biases.mlp).map(activation);
      }
      const o = linear(`${L}.mlp.down`, act, d, arch.biases.mlp);
      for (let i = 0; i < d; i++) mlpOut[n * d + i] = o[i] * (dropout ? dropout.mlp[layer][n * d + i] : 1);
    }
    for (let i = 0; i < N * d; i++) x[i] += mlpOut[i] + (arch.parallelResidual ? attnOut[i] : 0);
  }
  const hidden = (n: number) => norm('finalNorm', row(x, n, d));
  if (config.head.kind === 'classifier') {
    const C = config.head.numClasses;
    const out = new Float64Array(nSeq * C);
    for (let b = 0; b < nSeq; b++) out.set(linear('classifier', hidden(b * seqLen + lengths[b] - 1), C, false), b * C);
    return out;
  }
  const V = config.vocabSize;
  const head = arch.tiedEmbeddings ? 'tokenEmbedding' : 'lmHead';
  const out = new Float64Array(N * V);
  for (let n = 0; n < N; n++) out.set(linear(head, hidden(n), V, false), n * V);
  return out;
}

/** erf in float64: Abramowitz–Stegun 7.1.26 is too coarse (1.5e-7); this is the series for |x| < 3 and the continued fraction beyond. */
export function erf(x: number): number {
  const z = Math.abs(x);
  let result: number;
  if (z < 3) {
    // erf(z) = 2/√π · Σ (−1)^n z^(2n+1) / (n! (2n+1))
    let term = z;
    let sum = z;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    result = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc(z) = exp(−z²)/√π · 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...)))) (evaluated from its 60th level back)
    let f = z;
    for (let k = 60; k >= 1; k--) f = z + k / 2 / f;
    result = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -result : result;
}

// ---- the engine's dropout masks, regenerated from their documented rule --------------------------

const MASK64 = (1n << 64n) - 1n;

/** splitmix64's mixing function, as native/src/cpu/elementwise.cpp and src/engine/model.cpp define `mix`. */
export function splitmix64(z: bigint): bigint {
  z = (z + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/**
 * One dropout call's multipliers, by native/include/w2s/layers.h's rule: element i is kept when
 * hash(seed, i) = splitmix64(splitmix64(seed) ^ i) >> 32 is at least p·2^32 (p as a float), and
 * scaled by the float 1/(1 − p); dropped elements are multiplied by 0.
 */
export function dropoutMultipliers(count: number, p: number, seed: bigint): Float64Array {
  const pf = Math.fround(p);
  const threshold = BigInt(Math.floor(pf * 4294967296));
  const scale = Math.fround(1 / Math.fround(1 - pf));
  const key = splitmix64(seed & MASK64);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = splitmix64(key ^ BigInt(i)) >> 32n >= threshold ? scale : 0;
  return out;
}

/**
 * The masks of a model's `forward`-th forward pass (counting every forward of the model, from 1),
 * as src/engine/model.cpp draws them: the pass's dropout seed is splitmix64(modelSeed ^
 * splitmix64(forward)); the embeddings use that seed, layer l's attention branch seed + 2l + 1 and
 * its MLP branch seed + 2l + 2, each over the [B·T, dModel] activations.
 */
export function engineDropout(config: ModelConfig, batch: Batch, p: number, modelSeed: number, forward: number): DropoutMultipliers {
  const seed = splitmix64(BigInt(modelSeed) ^ splitmix64(BigInt(forward)));
  const count = batch.batch * batch.seqLen * config.dModel;
  const at = (offset: number) => dropoutMultipliers(count, p, (seed + BigInt(offset)) & MASK64);
  return {
    embedding: at(0),
    attention: Array.from({ length: config.nLayers }, (_, l) => at(2 * l + 1)),
    mlp: Array.from({ length: config.nLayers }, (_, l) => at(2 * l + 2)),
  };
}

/**
 * Central finite differences of a float64 `loss` of the parameters `w`, against `gradients` from
 * float32 code (`label` names it in the failures): for each parameter, its largest gradient entry
 * and two drawn by `random`, each within 1e-4 of the entry's finite difference or 1e-5 of the
 * tensor's largest gradient. Returns one line per failing entry (none: they agree). `w` is
 * perturbed in place and restored.
 */
export function finiteDifferenceFailures(
  names: readonly string[],
  gradients: Map<string, Float32Array>,
  w: Weights64,
  loss: (w: Weights64) => number,
  random: () => number,
  label: string,
): string[] {
  const step = 1e-4; // float64 reference: truncation ~step², round-off ~1e-16 / step
  const failures: string[] = [];
  for (const name of names) {
    const g = gradients.get(name)!;
    const p = w.get(name)!;
    let argmax = 0;
    for (let i = 0; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[argmax])) argmax = i;
    // The largest entry (for a tied embedding: a row fed in), and two random ones.
    for (const i of [argmax, Math.floor(random() * g.length), Math.floor(random() * g.length)]) {
      const saved = p[i];
      p[i] = saved + step;
      const up = loss(w);
      p[i] = saved - step;
      const down = loss(w);
      p[i] = saved;
      const fd = (up - down) / (2 * step);
      const excess = Math.abs(g[i] - fd) / (1e-4 * Math.abs(fd) + 1e-5 * Math.abs(g[argmax]) + 1e-12);
      if (!(excess <= 1)) failures.push(`${name}[${i}]: ${label} ${g[i]}, finite difference ${fd}`);
    }
  }
  return failures;
}
