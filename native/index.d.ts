// The raw binding. Use @w2s/kernels, its typed API, rather than this module directly.
export interface RawTensor {
  data: Float32Array;
  shape: number[];
  strides?: number[];
  offset?: number;
}
export interface RawAttentionOptions {
  causal?: boolean;
  scale?: number;
  kvLengths?: Int32Array;
  /** Arithmetic of the matrix products: 'float32' (default; the only one on host tensors), 'tf32' or 'bf16'. */
  precision?: 'float32' | 'tf32' | 'bf16';
}
/** A float32 view of device (GPU) memory; see @w2s/kernels' DeviceTensor. */
export class DeviceTensor {
  private constructor();
  readonly shape: number[];
  readonly strides: number[];
  /** First element, counted from the start of the allocation. */
  readonly offset: number;
  /** Elements of the view. */
  readonly size: number;
  /** Bytes of the whole allocation (0 once disposed). */
  readonly bytes: number;
  readonly disposed: boolean;
  /** Another view of the same allocation; offset counts from this view's first element. */
  view(shape: number[], strides?: number[], offset?: number): DeviceTensor;
  /** Drops this view's hold on the allocation, which is freed with its last view. */
  dispose(): void;
}
export function toDevice(tensor: RawTensorN | Float32Array): DeviceTensor;
export function toHost(tensor: DeviceTensor): RawTensorN;
export interface RawTensorN {
  data: Float32Array;
  shape: number[];
  strides?: number[];
  offset?: number;
}
export interface RawBackendInfo {
  /** The BLAS in use, e.g. "onednn 2.6.3 (...)" or "openblas (Haswell, ...)", or "blocked-gemm" (the portable fallback). */
  blas: string;
  /** Empty, or one line naming the package to install when no BLAS was found. */
  blasNote: string;
  /** Threads used by the kernels and the BLAS. */
  threads: number;
  /** Vector ISA the kernels were compiled for, e.g. "avx512f". */
  simd: string;
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  /** Why CUDA is not available (empty when it is). */
  cudaReason: string;
  /** Name of CUDA device 0 (empty when none is available). */
  cudaDevice: string;
}
export function attentionForward(q: RawTensor, k: RawTensor, v: RawTensor, opts?: RawAttentionOptions): { out: Float32Array; lse: Float32Array };
export function attentionForward(
  q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, opts?: RawAttentionOptions,
): { out: DeviceTensor; lse: DeviceTensor };
export function attentionBackward(
  dOut: RawTensor, q: RawTensor, k: RawTensor, v: RawTensor, out: RawTensor, lse: Float32Array, opts?: RawAttentionOptions,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array };
export function attentionBackward(
  dOut: DeviceTensor, q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, out: DeviceTensor, lse: DeviceTensor,
  opts?: RawAttentionOptions,
): { dq: DeviceTensor; dk: DeviceTensor; dv: DeviceTensor };
export function xentLoss(
  logits: Float32Array, targets: Float32Array, numClasses: number, opts?: { dLogits?: Float32Array },
): { loss: number; dLogits: Float32Array };
export function logconfLoss(
  logits: Float32Array, weakTargets: Float32Array, numClasses: number, opts: { alpha: number; dLogits?: Float32Array },
): { loss: number; dLogits: Float32Array };
export function productLoss(
  logits: Float32Array, weakTargets: Float32Array, numClasses: number, opts: { alpha: number; beta: number; dLogits?: Float32Array },
): { loss: number; dLogits: Float32Array };
export function xentLoss(
  logits: DeviceTensor, targets: DeviceTensor, numClasses: number, opts?: { dLogits?: DeviceTensor },
): { loss: number; dLogits: DeviceTensor };
export function logconfLoss(
  logits: DeviceTensor, weakTargets: DeviceTensor, numClasses: number, opts: { alpha: number; dLogits?: DeviceTensor },
): { loss: number; dLogits: DeviceTensor };
export function productLoss(
  logits: DeviceTensor, weakTargets: DeviceTensor, numClasses: number, opts: { alpha: number; beta: number; dLogits?: DeviceTensor },
): { loss: number; dLogits: DeviceTensor };
export function sgemm(
  a: Float32Array, b: Float32Array, m: number, n: number, k: number,
  opts?: { transA?: boolean; transB?: boolean; impl?: 'blas' | 'blocked' },
): Float32Array;
export function copy(dst: Float32Array, src: Float32Array): void;
export function setNumThreads(n: number): void;
export function numThreads(): number;
export function backendInfo(): RawBackendInfo;
export function attentionWorkspaceBytes(headDim: number, threads: number): { forward: number; backward: number };

// The records the engine takes, declared once here: @w2s/model's ModelConfig, Architecture, Batch
// and OptimizerOptions are these types (imported with `import type`), and the binding's parsing
// (native/src/napi/engine_binding.cpp) and the C++ structs (native/include/w2s/engine.h) are
// compared with them by packages/model/test/native-declarations.test.ts, which fails, naming the
// field and the file, when they drift.

/** Llama 3's RoPE frequency scaling (transformers' rope_type "llama3"). */
export interface RawLlama3RopeScaling {
  kind: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContextLength: number;
}
export type RawPositions =
  | { kind: 'learned' }
  | {
      kind: 'rope';
      theta: number;
      /** RoPE rotates the first floor(headDim · rotaryFraction) dims of each head (GPT-NeoX: rotary_pct). */
      rotaryFraction: number;
      scaling: RawLlama3RopeScaling | null;
    };
/** The features that tell one transformer family from another (@w2s/model's Architecture; presets in its ARCHITECTURES). */
export interface RawArchitecture {
  /** LayerNorm carries a bias; RMSNorm has none. */
  norm: 'layerNorm' | 'rmsNorm';
  mlp: 'geluTanh' | 'geluExact' | 'swiglu';
  positions: RawPositions;
  /** Which projections carry a bias: the fused q/k/v, the attention output, both MLP projections. */
  biases: { qkv: boolean; attnOut: boolean; mlp: boolean };
  /** Attention and MLP read the same residual stream (GPT-NeoX), instead of one after the other. */
  parallelResidual: boolean;
  /** The LM head is the token embedding. */
  tiedEmbeddings: boolean;
}
export type RawHeadConfig = { kind: 'lm' } | { kind: 'classifier'; numClasses: number };
/** A model's shape (@w2s/model's ModelConfig adds slidingWindow, which the engine is not told; check a config with its validateConfig). */
export interface RawModelConfig {
  architecture: RawArchitecture;
  vocabSize: number;
  /** Longest sequence the model accepts (the rows of a learned position table). */
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads (grouped-query attention). */
  nKvHeads: number;
  /** Hidden width of the MLP. */
  dFf: number;
  normEps: number;
  head: RawHeadConfig;
}
/**
 * A batch of token sequences, as the native engine and @w2s/model's tfjs twin both take it (its Batch).
 * Layouts: tokens [batch·seqLen] int32, row-major, right-padded (pad positions hold any valid id);
 * lengths [batch], each in 1..seqLen (positions ≥ lengths[b] are padding).
 */
export interface RawBatch {
  tokens: Int32Array;
  lengths: Int32Array;
  batch: number;
  seqLen: number;
}
export type RawMinibatch = RawBatch & {
  loss: 'token' | 'xent' | 'logconf' | 'product';
  targets?: Int32Array;
  softTargets?: Float32Array;
  alpha?: number;
  beta?: number;
};
/**
 * AdamW's hyper-parameters and global-norm clipping (@w2s/model's OptimizerOptions). The defaults and
 * bounds are the binding's (parse_optimizer); @w2s/model's OPTIMIZER_DEFAULTS and
 * checkOptimizerOptions state them for the tfjs twin, in the binding's words.
 */
export interface RawOptimizer {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay on matrices and embeddings (never on biases and norm weights). */
  weightDecay?: number;
  /** Clip the global gradient norm to this (0 or absent: no clipping). */
  maxGradNorm?: number;
}
/** One optimizer step's result (@w2s/model's StepResult). */
export interface RawStepResult {
  /** Mean loss over every row (classifier) or target token (LM) of the step's minibatches. */
  loss: number;
  /** Global L2 norm of the trainable gradients before clipping. */
  gradNorm: number;
  rows: number;
  /** Optimizer steps taken so far, this one included. */
  step: number;
  /** Classifier heads: the logits of every minibatch, concatenated, [rows, numClasses]. */
  logits?: Float32Array;
}
/** One (category, phase) counter of an engine profile (native/src/engine/profiling_device.h). */
export interface EngineProfileEntry {
  /** The kernel family: 'matmul', 'matmul: weight gradient', 'attention', 'layer norm', 'adamw (token embedding)', ...; 'other': the operations' wall time outside any device call. */
  category: string;
  /** 'forward', 'loss', 'backward', 'clip', 'optimizer', 'outside' (calls outside the profiled operations); 'step' for 'other'. */
  phase: string;
  /** Wall time inside the device's calls. */
  seconds: number;
  calls: number;
}
/** Where the time of the operations run since setProfiling(true) went (CPU device only). */
export interface EngineProfile {
  /** Wall time of the profiled operations (trainStep, forward, backward, ...: every call that returns a promise). */
  wallSeconds: number;
  operations: number;
  /** The counters with calls, then category 'other'. */
  entries: EngineProfileEntry[];
  /**
   * The kernels' thread pool over the same time (process-wide): its parallel regions' wall time,
   * that time × threads, and the threads' time running items; regionThreadSeconds − busySeconds is
   * thread-time idle inside regions. Outside regions the pool is idle (OpenBLAS's own threads run
   * the matrix products).
   */
  pool: { threads: number; regions: number; regionSeconds: number; regionThreadSeconds: number; busySeconds: number };
}
/** The native transformer engine (native/include/w2s/engine.h). Use @w2s/model's NativeModel. */
export class Engine {
  /**
   * device 'cuda' keeps everything on GPU 0 (throws an Error with the reason where CUDA is
   * unavailable); precision applies to its matrix products and attention on CUDA, to the matrix
   * products alone on the CPU ('float32' or 'bf16' there; 'tf32' throws a RangeError).
   */
  constructor(config: RawModelConfig, opts?: { seed?: number; device?: 'cpu' | 'cuda'; precision?: 'float32' | 'tf32' | 'bf16' });
  /** "cpu", "cpu (bf16 products)", or "cuda (<GPU> (sm_XY), <precision>)". */
  deviceName(): string;
  parameters(): {
    name: string;
    shape: number[];
    size: number;
    /** normal(0, std), or a constant (the std and value as float32) */
    init: { kind: 'normal'; std: number } | { kind: 'constant'; value: number };
    decay: boolean;
    head: boolean;
  }[];
  readParameter(name: string): Float32Array;
  writeParameter(name: string, data: Float32Array): void;
  readGradient(name: string): Float32Array;
  readOptimizerState(name: string): { m: Float32Array; v: Float32Array };
  writeOptimizerState(name: string, m: Float32Array, v: Float32Array): void;
  setStepsTaken(steps: number): void;
  setDropout(p: number): void;
  setLinearProbe(on: boolean): void;
  zeroGrad(): void;
  stepsTaken(): number;
  forward(batch: RawBatch, opts?: { training?: boolean; logitsAt?: 'all' | 'last' }): Promise<Float32Array>;
  /** Logits [V] of the last of `tokens`, at positions start.. after the `start` cached ones (start <= cachedPositions()); caches their keys and values. */
  decode(tokens: Int32Array, start: number): Promise<Float32Array>;
  /** Positions the key/value cache holds (0 after any weight change). */
  cachedPositions(): number;
  backward(dLogits: Float32Array): Promise<void>;
  trainStep(minibatches: RawMinibatch[], optimizer: RawOptimizer): Promise<RawStepResult>;
  accumulate(minibatches: RawMinibatch[]): Promise<{ loss: number; rows: number; logits?: Float32Array }>;
  forwardStep(batches: RawBatch[]): Promise<Float32Array>;
  backwardStep(dLogits: Float32Array): Promise<void>;
  optimizerStep(optimizer: RawOptimizer): Promise<{ gradNorm: number; step: number }>;
  /** on: resets the profile and starts it; off: stops it (off by default). Throws on a CUDA engine. */
  setProfiling(on: boolean): void;
  /** The profile since setProfiling(true); entries is empty if profiling was never on. */
  profile(): EngineProfile;
  /** Frees the native memory now; later calls (but dispose) throw. Throws while a call is in flight. */
  dispose(): void;
}
