// The tfjs twin: the transformer of ../config.ts written in plain tfjs-core ops, with gradients by
// tfjs autodiff. It is the reference the native engine is compared against (logits, every
// parameter gradient), so it follows the contract in config.ts's header literally.
//
// Layouts (row-major; B sequences of T tokens, N = B·T rows, right padding):
//   Batch.tokens  [B·T] int32 token ids (pad positions hold any valid id)
//   Batch.lengths [B]   int32 in 1..T: positions ≥ lengths[b] are padding
//   activations   [N, d]; linear weights [out, in], applied as x · Wᵀ (matMul with transposeB)
//   q [B, T, H, hd], k and v [B, T, KV, hd]: the columns of the fused qkv projection, in that order
//   LM logits [B, T, V] (every position, pads included); classifier logits [B, C] at lengths[b] − 1
import '@tensorflow/tfjs-backend-cpu';
import { attentionReference, tf } from '@w2s/kernels';
import type { Batch } from '../batch.js';
import { headDim, parameterSpecs, ropeInverseFrequencies, slidingWindowProblem, type ModelConfig, type ParameterSpec, type Weights } from '../config.js';

export type { Batch };

export interface TwinOptions {
  /** Linear-probe mode: only parameters with spec.head = true are trainable. */
  linearProbe?: boolean;
}

export interface TwinResult {
  loss: number;
  /** The logits the loss was computed from: [B, T, V] (LM) or [B, C] (classifier). */
  logits: Float32Array;
  /** Gradient of the loss for each trainable parameter, in its spec's layout. */
  gradients: Weights;
}

/**
 * The parameters that train: all of them, or in linear-probe mode those with spec.head = true.
 * Throws when there are none (a linear probe of an LM whose head is the tied embedding).
 */
export function trainableSpecs(config: ModelConfig, opts: TwinOptions = {}): ParameterSpec[] {
  const specs = parameterSpecs(config).filter((spec) => !opts.linearProbe || spec.head);
  if (specs.length === 0) throw new Error('no trainable parameters: a linear probe needs a classifier or an untied LM head');
  return specs;
}

/** Checks the batch against the config; throws an Error naming what is wrong. */
export function validateBatch(config: ModelConfig, batch: Batch): void {
  const { tokens, lengths, batch: b, seqLen } = batch;
  if (!Number.isInteger(b) || b < 1) throw new Error(`batch: batch must be a positive integer, got ${b}`);
  const window = slidingWindowProblem(config, seqLen);
  if (window) throw new Error(`batch: seqLen ${seqLen} is longer than ${window}; truncate sequences to their last ${config.contextLength} tokens`);
  if (!Number.isInteger(seqLen) || seqLen < 1 || seqLen > config.contextLength)
    throw new Error(`batch: seqLen must be an integer in [1, ${config.contextLength}], got ${seqLen}`);
  if (tokens.length !== b * seqLen) throw new Error(`batch: tokens has ${tokens.length} entries, expected ${b * seqLen}`);
  if (lengths.length !== b) throw new Error(`batch: lengths has ${lengths.length} entries, expected ${b}`);
  tokens.forEach((t, i) => {
    if (t < 0 || t >= config.vocabSize) throw new Error(`batch: tokens[${i}] = ${t} is outside [0, ${config.vocabSize})`);
  });
  lengths.forEach((n, i) => {
    if (n < 1 || n > seqLen) throw new Error(`batch: lengths[${i}] = ${n} is outside [1, ${seqLen}]`);
  });
}

/** float32 tensors of every parameter (the caller disposes them); throws on a missing or misshapen one. */
export function weightsToTensors(config: ModelConfig, weights: Weights): Map<string, tf.Tensor> {
  const specs = parameterSpecs(config);
  for (const name of weights.keys())
    if (!specs.some((s) => s.name === name)) throw new Error(`weights: unexpected parameter "${name}"`);
  const tensors = new Map<string, tf.Tensor>();
  for (const spec of specs) {
    const w = weights.get(spec.name);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (!w) throw new Error(`weights: missing parameter "${spec.name}"`);
    if (w.length !== size) throw new Error(`weights: "${spec.name}" has ${w.length} entries, expected ${size} [${spec.shape}]`);
    tensors.set(spec.name, tf.tensor(w, spec.shape, 'float32'));
  }
  return tensors;
}

/** LM logits [B, T, V] or classifier logits [B, C]; every parameter of the config must be in params. */
export function twinForward(config: ModelConfig, params: Map<string, tf.Tensor>, batch: Batch): tf.Tensor {
  validateBatch(config, batch);
  return tf.tidy(() => {
    const p = (name: string): tf.Tensor => {
      const t = params.get(name);
      if (!t) throw new Error(`twinForward: missing parameter "${name}"`);
      return t;
    };
    const { batch: B, seqLen: T } = batch;
    const N = B * T;
    const d = config.dModel;
    const a = config.architecture;
    const linear = (x: tf.Tensor, prefix: string, bias: boolean): tf.Tensor => {
      const y = tf.matMul(x as tf.Tensor2D, p(`${prefix}.weight`) as tf.Tensor2D, false, true);
      return bias ? tf.add(y, p(`${prefix}.bias`)) : y;
    };
    const norm = (x: tf.Tensor, prefix: string): tf.Tensor =>
      a.norm === 'layerNorm'
        ? layerNorm(x, p(`${prefix}.weight`), p(`${prefix}.bias`), config.normEps)
        : rmsNorm(x, p(`${prefix}.weight`), config.normEps);
    const rope = a.positions.kind === 'rope' ? ropeTables(T, ropeInverseFrequencies(config)) : null;
    const mlp = (h: tf.Tensor, layer: string): tf.Tensor => {
      if (a.mlp === 'swiglu') {
        const [gate, up] = tf.split(linear(h, `${layer}.mlp.gateUp`, a.biases.mlp), 2, 1); // [N, 2F]: gate columns, then up columns
        return linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), `${layer}.mlp.down`, a.biases.mlp);
      }
      const u = linear(h, `${layer}.mlp.up`, a.biases.mlp);
      return linear(a.mlp === 'geluTanh' ? geluTanh(u) : geluExact(u), `${layer}.mlp.down`, a.biases.mlp);
    };

    let x = gatherRows(p('tokenEmbedding.weight'), tf.tensor1d(batch.tokens, 'int32')); // [N, d]
    if (a.positions.kind === 'learned')
      x = tf.reshape(tf.add(tf.reshape(x, [B, T, d]), tf.slice(p('positionEmbedding.weight'), [0, 0], [T, d])), [N, d]);
    for (let i = 0; i < config.nLayers; i++) {
      const layer = `layers.${i}`;
      const qkv = linear(norm(x, `${layer}.attnNorm`), `${layer}.attn.qkv`, a.biases.qkv);
      const attn = linear(attention(config, qkv, batch, rope), `${layer}.attn.out`, a.biases.attnOut);
      if (a.parallelResidual) x = tf.add(tf.add(x, attn), mlp(norm(x, `${layer}.mlpNorm`), layer));
      else {
        x = tf.add(x, attn);
        x = tf.add(x, mlp(norm(x, `${layer}.mlpNorm`), layer));
      }
    }
    const h = norm(x, 'finalNorm') as tf.Tensor2D; // [N, d]
    if (config.head.kind === 'classifier') {
      const last = tf.tensor1d(Array.from(batch.lengths, (n, b) => b * T + n - 1), 'int32');
      return tf.matMul(gatherRows(h, last) as tf.Tensor2D, p('classifier.weight') as tf.Tensor2D, false, true); // [B, C]
    }
    const out = p(a.tiedEmbeddings ? 'tokenEmbedding.weight' : 'lmHead.weight') as tf.Tensor2D;
    return tf.reshape(tf.matMul(h, out, false, true), [B, T, config.vocabSize]);
  });
}

/** Mean over positions with targets[i] ≥ 0 of −log softmax(logits)[target]; targets [B·T], −1 = ignore. */
export function lmLoss(logits: tf.Tensor, targets: Int32Array): tf.Scalar {
  const vocab = logits.shape[logits.rank - 1];
  const rows = logits.size / vocab;
  if (targets.length !== rows) throw new Error(`lmLoss: targets has ${targets.length} entries, expected ${rows}`);
  const picks: number[] = []; // flat indices i·V + targets[i] of the counted positions
  targets.forEach((t, i) => {
    if (t >= vocab || t < -1) throw new Error(`lmLoss: targets[${i}] = ${t} is outside [-1, ${vocab})`);
    if (t >= 0) picks.push(i * vocab + t);
  });
  if (picks.length === 0) throw new Error('lmLoss: every target is ignored (-1)');
  const mask = new Float32Array(rows * vocab); // 1/count at each counted (row, target): the mean as a dot product
  for (const i of picks) mask[i] = 1 / picks.length;
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(tf.reshape(logits, [rows, vocab]));
    return tf.neg(tf.sum(tf.mul(logProbs, tf.tensor2d(mask, [rows, vocab])))) as tf.Scalar;
  });
}

/**
 * table[indices] along axis 0 ([R, d] → [n, d]), differentiable with respect to table on every
 * backend: tf.gather's own gradient needs UnsortedSegmentSum, which tfjs-backend-wasm lacks, so the
 * gradient here is oneHot(indices, R)ᵀ · dy.
 */
function gatherRows(table: tf.Tensor, indices: tf.Tensor1D): tf.Tensor {
  // indices reach the gradient through save(): the forward may run inside a tidy that disposes
  // the tensors it created before backpropagation asks for them.
  const gather = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, idx, save] = args as [tf.Tensor, tf.Tensor1D, tf.GradSaveFunc];
    save([idx]);
    return {
      value: tf.gather(t, idx),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.matMul(tf.cast(tf.oneHot(saved[0] as tf.Tensor1D, t.shape[0]), 'float32') as tf.Tensor2D, dy as tf.Tensor2D, true, false),
        tf.zerosLike(saved[0]),
      ],
    };
  });
  return gather(table, indices) as tf.Tensor;
}

/**
 * The loss of lossFn(logits) and its gradient for every trainable parameter. The parameters are
 * float32 tensors made from weights, one per name (a tied embedding is one tensor used twice, so
 * it receives the input and the output gradient); nothing tfjs allocates outlives the call.
 */
export function twinLossAndGradients(
  config: ModelConfig,
  weights: Weights,
  batch: Batch,
  lossFn: (logits: tf.Tensor) => tf.Scalar,
  opts: TwinOptions = {},
): TwinResult {
  const trainable = trainableSpecs(config, opts);
  let loss = NaN;
  let logits = new Float32Array(0);
  const gradients: Weights = new Map();
  tf.tidy(() => {
    const params = weightsToTensors(config, weights);
    const xs = trainable.map((spec) => params.get(spec.name) as tf.Tensor);
    const { value, grads } = tf.valueAndGrads(() => {
      const out = twinForward(config, params, batch);
      logits = out.dataSync<'float32'>().slice();
      return lossFn(out);
    })(xs);
    loss = value.dataSync()[0];
    trainable.forEach((spec, i) => gradients.set(spec.name, grads[i].dataSync<'float32'>().slice()));
  });
  return { loss, logits, gradients };
}

// x [N, d] → (x − mean) / sqrt(var + eps) · w + b, biased variance over d.
function layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const centred = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), w), b);
}

// x [N, d] → x / sqrt(mean(x²) + eps) · w.
function rmsNorm(x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
}

// 0.5·u·(1 + tanh(sqrt(2/π)·(u + 0.044715·u³))).
function geluTanh(u: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(u, tf.mul(tf.pow(u, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(u, 0.5), tf.add(tf.tanh(inner), 1));
}

// 0.5·u·(1 + erf(u/√2)); tf.erf is Abramowitz–Stegun 7.1.26 (absolute error below 1.5e-7).
function geluExact(u: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(u, 0.5), tf.add(tf.erf(tf.mul(u, Math.SQRT1_2)), 1));
}

type RopeTables = { cos: tf.Tensor; sin: tf.Tensor; rotary: number };

// cos and sin of position·θ_j for the inverse frequencies θ [r/2], as [1, T, 1, r/2] (computed in float64).
function ropeTables(T: number, inverseFrequencies: Float64Array): RopeTables {
  const half = inverseFrequencies.length;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++)
    for (let j = 0; j < half; j++) {
      const angle = t * inverseFrequencies[j];
      cos[t * half + j] = Math.cos(angle);
      sin[t * half + j] = Math.sin(angle);
    }
  return { cos: tf.tensor4d(cos, [1, T, 1, half]), sin: tf.tensor4d(sin, [1, T, 1, half]), rotary: 2 * half };
}

// Rotate half on the first `rotary` dims of x's last axis ([B, T, heads, hd]): [a; b; rest] →
// [a·cos − b·sin; b·cos + a·sin; rest].
function applyRope(x: tf.Tensor, rope: RopeTables): tf.Tensor {
  const hd = x.shape[x.rank - 1];
  const [rotated, rest] = rope.rotary === hd ? [x, null] : tf.split(x, [rope.rotary, hd - rope.rotary], -1);
  const [a, b] = tf.split(rotated, 2, -1);
  const out = tf.concat([tf.sub(tf.mul(a, rope.cos), tf.mul(b, rope.sin)), tf.add(tf.mul(b, rope.cos), tf.mul(a, rope.sin))], -1);
  return rest ? tf.concat([out, rest], -1) : out;
}

// qkv [N, (H + 2·KV)·hd] → attention output [N, H·hd] (causal, keys masked at ≥ lengths[b]).
function attention(config: ModelConfig, qkv: tf.Tensor, batch: Batch, rope: RopeTables | null): tf.Tensor {
  const { batch: B, seqLen: T } = batch;
  const hd = headDim(config);
  const H = config.nHeads;
  const KV = config.nKvHeads;
  const [qFlat, kFlat, vFlat] = tf.split(qkv, [H * hd, KV * hd, KV * hd], 1);
  let q = tf.reshape(qFlat, [B, T, H, hd]);
  let k = tf.reshape(kFlat, [B, T, KV, hd]);
  const v = tf.reshape(vFlat, [B, T, KV, hd]) as tf.Tensor4D;
  if (rope) {
    q = applyRope(q, rope);
    k = applyRope(k, rope);
  }
  const { out } = attentionReference(q as tf.Tensor4D, k as tf.Tensor4D, v, { causal: true, kvLengths: batch.lengths });
  return tf.reshape(out, [B * T, H * hd]);
}
