// The native engine from TypeScript: a model whose parameters, gradients, AdamW state and
// activations live in native memory (see native/include/w2s/engine.h). forward, backward and
// trainStep run on a worker thread and return promises; one call at a time per model.
import { createRequire } from 'node:module';
import type * as Native from '@w2s/native';
import type { Batch } from './batch.js';
import type { NextTokenModel } from './generate.js';
import { parameterSpecs, slidingWindowProblem, validateConfig, type ModelConfig, type ParameterSpec, type Weights } from './config.js';

const require = createRequire(import.meta.url);
const native: typeof Native = require('@w2s/native');

/** The engine's classifier losses (native kernels) and their parameters for one step. */
export type ClassifierLoss =
  | { loss: 'xent' }
  | { loss: 'logconf'; /** α of the auxiliary confidence loss, in [0, 1] */ alpha: number }
  | { loss: 'product'; /** exponent of the targets (default 1) */ alpha?: number; /** exponent of the student's probabilities (default 1) */ beta?: number };

import type { OptimizerOptions } from './optimizer.js';
export type { OptimizerOptions } from './optimizer.js';

/** Classifier losses take soft targets [batch, numClasses]; the LM loss takes next-token targets. */
export type Minibatch = Batch &
  ({ loss: 'token'; /** [batch·seqLen] next-token ids, −1 = ignored */ targets: Int32Array } | (ClassifierLoss & { softTargets: Float32Array }));

/** One optimizer step's result (native/index.d.ts, RawStepResult, documents each field). */
export type StepResult = Native.RawStepResult;

/** A profile of the engine's work (NativeModel.profile; native/index.d.ts). */
export type EngineProfile = Native.EngineProfile;
export type EngineProfileEntry = Native.EngineProfileEntry;

/** AdamW's state: the optimizer steps taken and each parameter's first and second moments. */
export interface OptimizerState {
  step: number;
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
}

/**
 * Where a native model lives: 'cpu', or 'cuda' (GPU 0: parameters, gradients, AdamW state and
 * activations resident there), with the arithmetic of its matrix products (and, on the GPU, attention).
 */
export interface ComputeDevice {
  device: 'cpu' | 'cuda';
  /**
   * 'float32' (default); 'bf16': the products' inputs rounded to bfloat16, their sums in float32,
   * float32 master weights (CPU: the matrix products only, on oneDNN's bf16 matmul where the CPU
   * has AVX512-BF16 or AMX, else rounded and multiplied at float32's rate; CUDA: tensor cores,
   * attention too); 'tf32': CUDA tensor cores only.
   */
  precision?: 'float32' | 'tf32' | 'bf16';
}

let defaultDevice: ComputeDevice = { device: 'cpu', precision: 'float32' };

/**
 * The device of every NativeModel created afterwards without its own `device` option (a process
 * setting, like the thread count): the commands set it once from --device and --precision.
 * Throws, with the reason, when the device cannot be used here.
 */
export function setComputeDevice(device: ComputeDevice): void {
  const problem = computeDeviceProblem(device);
  if (problem) throw new Error(problem);
  defaultDevice = { device: device.device, precision: device.precision ?? 'float32' };
}

export function computeDevice(): ComputeDevice {
  return { ...defaultDevice };
}

/** Why a device cannot be used here, or null when it can. */
export function computeDeviceProblem(device: ComputeDevice): string | null {
  const precision = device.precision ?? 'float32';
  if (device.device !== 'cpu' && device.device !== 'cuda') return `device must be "cpu" or "cuda", got "${String(device.device)}"`;
  if (!['float32', 'tf32', 'bf16'].includes(precision)) return `precision must be "float32", "tf32" or "bf16", got "${precision}"`;
  if (device.device === 'cpu') return precision === 'tf32' ? 'precision tf32 needs the cuda device (a tensor-core format): on the CPU, precision is float32 or bf16' : null;
  const info = native.backendInfo();
  return info.cudaAvailable ? null : `CUDA is unavailable here: ${info.cudaReason}`;
}

export interface NativeModelOptions {
  /** Seed of the initial weights (and of dropout). */
  seed?: number;
  /** Where the model lives (default: the process's, see setComputeDevice). */
  device?: ComputeDevice;
  /** Weights to load instead of the initial ones (all of them, canonical names). */
  weights?: Weights;
  /** Dropout on embeddings and residual branches while training (default 0: off). */
  dropout?: number;
  /** Only the head trains (and backward stops there). */
  linearProbe?: boolean;
}

/** The engine's description of one parameter (native/index.d.ts Engine.parameters). */
export type NativeParameter = ReturnType<Native.Engine['parameters']>[number];

/**
 * Throws unless the engine's parameter table equals config.ts's field by field: name, shape,
 * init (kind, and std or value as a float32), decay and head, entry by entry, naming the first
 * difference.
 */
export function checkParameterTable(table: NativeParameter[], specs: ParameterSpec[]): void {
  const describe = (x: unknown) => JSON.stringify(x);
  for (let i = 0; i < Math.max(table.length, specs.length); i++) {
    const native = table[i], spec = specs[i];
    if (!native || !spec)
      throw new Error(`the native parameter table has ${table.length} entries, config.ts ${specs.length}: entry ${i} (${(native ?? spec).name}) is only in ${native ? 'the engine' : 'config.ts'}`);
    const specInit = spec.init.kind === 'normal' ? { kind: 'normal', std: Math.fround(spec.init.std) } : { kind: 'constant', value: Math.fround(spec.init.value) };
    const fields: [string, unknown, unknown][] = [
      ['name', native.name, spec.name],
      ['shape', native.shape, spec.shape],
      ['init', native.init, specInit],
      ['decay', native.decay, spec.decay],
      ['head', native.head, spec.head],
    ];
    for (const [field, got, expected] of fields)
      if (describe(got) !== describe(expected))
        throw new Error(`the native parameter table disagrees with config.ts at entry ${i} (${spec.name}): ${field} is ${describe(got)} in the engine, ${describe(expected)} in config.ts`);
  }
}

export class NativeModel implements NextTokenModel {
  readonly config: ModelConfig;
  readonly specs: ParameterSpec[];
  private readonly engine: Native.Engine;
  /** The tokens whose keys and values the engine's cache holds (its first cachedPositions() of them). */
  private cachedTokens: number[] = [];

  constructor(config: ModelConfig, opts: NativeModelOptions = {}) {
    this.config = validateConfig(config);
    this.specs = parameterSpecs(config);
    const { device, precision } = opts.device ?? defaultDevice;
    this.engine = new native.Engine(config, { seed: opts.seed ?? 0, device, precision: precision ?? 'float32' });
    checkParameterTable(this.engine.parameters(), this.specs);
    if (opts.weights) this.loadWeights(opts.weights);
    if (opts.dropout !== undefined) this.setDropout(opts.dropout);
    if (opts.linearProbe) this.setLinearProbe(true);
  }

  /** "cpu", "cpu (bf16 products)", or "cuda (<GPU> (sm_XY), <precision>)". */
  deviceName(): string {
    return this.engine.deviceName();
  }

  parameterCount(): number {
    return this.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Replaces every parameter; throws naming a missing, unknown or misshapen weight. */
  loadWeights(weights: Weights): void {
    for (const name of weights.keys())
      if (!this.specs.some((s) => s.name === name)) throw new Error(`loadWeights: unknown parameter ${name}`);
    for (const spec of this.specs) {
      const data = weights.get(spec.name);
      if (!data) throw new Error(`loadWeights: missing parameter ${spec.name}`);
      this.engine.writeParameter(spec.name, data);
    }
  }

  /** A copy of every parameter, by canonical name. */
  exportWeights(): Weights {
    return new Map(this.specs.map((s) => [s.name, this.engine.readParameter(s.name)]));
  }

  /** A copy of the accumulated gradients (zeroed by each optimizer step). */
  gradients(): Weights {
    return new Map(this.specs.map((s) => [s.name, this.engine.readGradient(s.name)]));
  }

  /** The AdamW state (each parameter's moments and the step count): with exportWeights, all a resumed run needs. */
  exportOptimizerState(): OptimizerState {
    const moments = new Map(this.specs.map((s) => [s.name, this.engine.readOptimizerState(s.name)]));
    return { step: this.engine.stepsTaken(), moments };
  }

  /** Restores exportOptimizerState's result; throws naming a missing, unknown or misshapen parameter. */
  loadOptimizerState(state: OptimizerState): void {
    for (const name of state.moments.keys())
      if (!this.specs.some((s) => s.name === name)) throw new Error(`loadOptimizerState: unknown parameter ${name}`);
    for (const spec of this.specs) {
      const moments = state.moments.get(spec.name);
      if (!moments) throw new Error(`loadOptimizerState: missing parameter ${spec.name}`);
      this.engine.writeOptimizerState(spec.name, moments.m, moments.v);
    }
    this.engine.setStepsTaken(state.step);
  }

  setDropout(p: number): void {
    this.engine.setDropout(p);
  }

  setLinearProbe(on: boolean): void {
    this.engine.setLinearProbe(on);
  }

  zeroGrad(): void {
    this.engine.zeroGrad();
  }

  stepsTaken(): number {
    return this.engine.stepsTaken();
  }

  /**
   * Logits: LM [B, T, V] (logitsAt 'all') or [B, V] at each sequence's last token ('last'); classifier
   * [B, C]. training keeps the activations for backward and applies dropout.
   */
  async forward(batch: Batch, opts: { training?: boolean; logitsAt?: 'all' | 'last' } = {}): Promise<Float32Array> {
    this.checkWindow('forward', [batch]);
    return await this.engine.forward(batch, opts);
  }

  /**
   * NextTokenModel (generate.ts): logits [V] after the context, in evaluation mode. A language model
   * goes through the engine's key/value cache (Engine.decode): the longest prefix of `context` that
   * the cache holds is reused and only the rest runs, so a context grown by one token costs one
   * position; any other context (e.g. generation sliding past contextLength) reruns from its start.
   * A model limited by its sliding window (ModelConfig.slidingWindow) refuses a longer context,
   * naming the window: sliding it would not compute the model's windowed attention.
   */
  async nextTokenLogits(context: readonly number[]): Promise<Float32Array> {
    const tokens = Int32Array.from(context);
    if (this.config.head.kind !== 'lm')
      return await this.forward({ tokens, lengths: Int32Array.of(tokens.length), batch: 1, seqLen: tokens.length }, { logitsAt: 'last' });
    const window = slidingWindowProblem(this.config, tokens.length);
    if (window) throw new RangeError(`nextTokenLogits: a context of ${tokens.length} tokens is longer than ${window}`);
    if (tokens.length < 1 || tokens.length > this.config.contextLength)
      throw new RangeError(`nextTokenLogits: the context must hold 1 to contextLength (${this.config.contextLength}) tokens, got ${tokens.length}`);
    const held = Math.min(this.engine.cachedPositions(), this.cachedTokens.length);
    let start = 0;
    while (start < held && start < tokens.length - 1 && this.cachedTokens[start] === tokens[start]) start++;
    const logits = await this.engine.decode(tokens.subarray(start), start);
    this.cachedTokens = Array.from(tokens);
    return logits;
  }

  /** Accumulates the gradients of Σ dLogits·logits for the last training forward. */
  async backward(dLogits: Float32Array): Promise<void> {
    return await this.engine.backward(dLogits);
  }

  /**
   * Forward, loss and backward for every minibatch: the gradients of the step's loss are
   * accumulated (read them with gradients()); no optimizer step. The loss is the mean over all the
   * minibatches' rows (or target tokens); a classifier loss is computed once over the whole step's
   * logits, so logconf's batch quantile and positive rate are the step's, however it is split.
   * Every minibatch must carry the same loss.
   */
  async accumulate(minibatches: Minibatch[]): Promise<{ loss: number; rows: number; logits?: Float32Array }> {
    this.checkWindow('accumulate', minibatches);
    return await this.engine.accumulate(minibatches);
  }

  /**
   * The first half of a classifier step whose loss is computed outside the engine (a custom loss):
   * the training forward of every batch, their logits concatenated [rows, numClasses]. Compute the
   * step's loss over all of them, then pass its gradient to backwardStep. Memory scales with the
   * largest batch: backwardStep recomputes the forward of every batch but the last (same dropout
   * masks), one extra forward per batch.
   */
  async forwardStep(batches: Batch[]): Promise<Float32Array> {
    this.checkWindow('forwardStep', batches);
    return await this.engine.forwardStep(batches);
  }

  /** Accumulates the gradients of Σ dLogits·logits for forwardStep's batches (any other forward or backward in between is refused). */
  async backwardStep(dLogits: Float32Array): Promise<void> {
    return await this.engine.backwardStep(dLogits);
  }

  /** Clips the accumulated gradients, applies AdamW to the trainable parameters, zeroes the gradients. */
  async optimizerStep(optimizer: OptimizerOptions): Promise<{ gradNorm: number; step: number }> {
    return await this.engine.optimizerStep(optimizer);
  }

  /**
   * Refuses batches longer than the sliding window that limits the model, naming it (the engine
   * would refuse them as longer than contextLength, which does not say why).
   */
  private checkWindow(method: string, batches: readonly Batch[]): void {
    if (!Array.isArray(batches)) return; // the engine says what is wrong
    for (const [i, batch] of batches.entries()) {
      const problem = slidingWindowProblem(this.config, batch?.seqLen);
      const which = batches.length > 1 ? ` (batch ${i})` : '';
      if (problem) throw new RangeError(`${method}: seqLen ${batch.seqLen}${which} is longer than ${problem}; truncate sequences to their last ${this.config.contextLength} tokens`);
    }
  }

  /**
   * Profiling (CPU device only; a CUDA model throws: its kernels run asynchronously). `true` resets
   * the counters and starts them, `false` stops them; off by default, when the engine reads no
   * clock. While on, each device call's wall time is added to its kernel family and the model's
   * phase (forward, loss, backward, clip, optimizer), and the kernels' thread pool counts its
   * busy and idle thread-time (process-wide). Computation is unchanged: results are bit-identical.
   */
  setProfiling(on: boolean): void {
    this.engine.setProfiling(on);
  }

  /**
   * The profile since setProfiling(true): wall time of the operations (trainStep, forward, ...),
   * seconds and calls per (category, phase), 'other' (the operations' time outside device calls),
   * and the pool's totals. See native/index.d.ts EngineProfile.
   */
  profile(): Native.EngineProfile {
    return this.engine.profile();
  }

  /** Frees the native parameters, gradients, optimizer state and activations now, not at garbage collection. */
  dispose(): void {
    this.engine.dispose();
  }

  /** accumulate (the loss over the whole step), then clipping and AdamW. */
  async trainStep(minibatches: Minibatch[], optimizer: OptimizerOptions): Promise<StepResult> {
    this.checkWindow('trainStep', minibatches);
    return await this.engine.trainStep(minibatches, optimizer);
  }
}
