// The resident memory a training run of the native CPU engine needs, estimated before the model is
// built, and the check that refuses a run which would not fit in the memory available.
//
// The estimate mirrors what native/src/engine/model.cpp allocates (every allocation is 64-byte
// aligned host memory, zero-filled at once, so it is resident from the start):
//   - the parameters, their gradients and AdamW's two moments: four float32 arrays of the
//     parameter table, each parameter padded to a multiple of 16 floats (parameter_table's offsets);
//   - the activations kept for the backward pass and the backward scratch, sized by
//     Model::ensure_capacity for batch B and sequence length T (N = B·T rows): per layer the
//     residual stream, the mid-layer stream, both normalised inputs, the fused q/k/v, the attention
//     output and its log-sum-exp, the MLP's projection and activation, plus one layer's worth of
//     backward scratch and the logits (N·V for an LM head, B·C for a classifier);
//   - RoPE's cos/sin tables (contextLength × rotaryDim/2 each);
//   - the CPU device's attention scratch when the head size is not a multiple of 16 (the heads are
//     padded into 8 buffers, cpu_device.cpp);
//   - the whole-step classifier buffers (logits, their gradient and the soft targets);
//   - with bf16 products on the CPU, the rounded copies of the largest product's two inputs;
//   - an allowance per thread for the BLAS's and the kernels' own buffers (32 MiB: OpenBLAS's
//     default per-thread buffer on x86-64, and more than oneDNN's packing buffers for a GPT-2
//     step's products, about 22 MB on one thread). On one thread glibc can keep oneDNN's freed
//     buffers resident on top of it (0.5–1.0 bytes per parameter at GPT-2 sizes, benchmarks/
//     RESULTS.md), which this does not count.
// Not counted: the decode key/value cache (generation only), and the process itself (Node, the
// addon): it is already resident when the check runs, so it is not part of what is available.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import type * as Native from '@w2s/native';
import { computeDevice, type ComputeDevice } from './engine.js';
import { headDim, parameterCount, parameterSpecs, rotaryDim, type ModelConfig } from './config.js';

const native: typeof Native = createRequire(import.meta.url)('@w2s/native');

/** The shape of the largest step a run takes: B sequences of T tokens. */
export interface TrainingShape {
  batch: number;
  seqLen: number;
  /** Threads of the engine's pool (the per-thread allowance), default 1. */
  threads?: number;
  /** Rows of a whole classifier step (all its minibatches), default `batch`. */
  stepRows?: number;
  /**
   * Float32 copies of the weights (4 bytes per parameter each) the caller holds in JavaScript
   * beside the model: weights loaded from a checkpoint, or kept for early stopping. Default 0.
   */
  hostWeightCopies?: number;
  /** The matrix products' arithmetic, default the compute device's (computeDevice()). */
  precision?: ComputeDevice['precision'];
}

export interface MemoryPart {
  name: string;
  bytes: number;
}

export interface MemoryEstimate {
  /** Trainable parameters (unpadded). */
  parameters: number;
  /** What the total is made of, in the order printed. */
  parts: MemoryPart[];
  total: number;
  /** total ÷ parameters. */
  bytesPerParameter: number;
}

/** The allowance per thread for the BLAS's and the kernels' buffers (OpenBLAS's BUFFER_SIZE on x86-64, 32 MiB). */
export const THREAD_ALLOWANCE_BYTES = 32 * 2 ** 20;

/** Bytes of one engine allocation of `count` elements of `size` bytes (CpuDevice::allocate). */
function allocation(count: number, size = 4): number {
  const bytes = Math.ceil((count * size) / 64) * 64;
  return bytes === 0 ? 64 : bytes;
}

/** The engine's parameter array length: each parameter padded to 16 floats. */
export function paddedParameterCount(config: ModelConfig): number {
  return parameterSpecs(config).reduce((n, p) => n + Math.ceil(p.shape.reduce((a, b) => a * b, 1) / 16) * 16, 0);
}

/**
 * The activation and scratch buffers Model::ensure_capacity allocates for `batch` × `seqLen`
 * (native/src/engine/model.cpp), in bytes.
 */
export function activationBytes(config: ModelConfig, batch: number, seqLen: number): number {
  const n = batch * seqLen, nb = batch;
  const L = config.nLayers, d = config.dModel, hd = headDim(config), H = config.nHeads;
  const r = (H + 2 * config.nKvHeads) * hd, ha = H * hd;
  const f = config.dFf, p = config.architecture.mlp === 'swiglu' ? 2 * f : f;
  const classes = config.head.kind === 'classifier' ? config.head.numClasses : 0;
  const v = config.vocabSize;
  const counts = [
    // tokens, lengths, last_rows, targets (int32, the same 4 bytes)
    n, nb, nb, n,
    nb * Math.max(classes, 1), // soft_targets
    (L + 1) * n * d, // resid
    L * n * d, L * n * d, L * n * d, // mid, norm1, norm2
    L * n, L * n, L * n, L * n, // mean1, rstd1, mean2, rstd2
    L * n * r, L * n * ha, L * n * H, // qkv, attn, lse
    L * n * p, L * n * f, // pre, act
    n * d, n, n, // hidden, mean_f, rstd_f
    nb * d, // pooled
    classes > 0 ? nb * classes : n * v, // logits
    n * d, // branch
    n * d, // d_resid
    ...(config.architecture.parallelResidual ? [n * d] : []), // d_branch_out
    n * d, n * ha, n * r, n * p, n * f, // d_norm, d_attn, d_qkv, d_pre, d_act
    nb * d, nb * Math.max(classes, 1), // d_pooled, d_class_logits
    ...(classes > 0 ? [nb * d, nb * r, nb * d, nb * r] : []), // last_x, last_qkv, d_last, d_last_qkv
  ];
  return counts.reduce((sum, c) => sum + allocation(c), 0);
}

/** The CPU device's attention scratch for head sizes that are not a multiple of 16 (cpu_device.cpp). */
function attentionScratchBytes(config: ModelConfig, batch: number, seqLen: number): number {
  const hd = headDim(config);
  if (hd % 16 === 0) return 0;
  const dp = Math.ceil(hd / 16) * 16;
  const q = batch * seqLen * config.nHeads * dp, kv = batch * seqLen * config.nKvHeads * dp;
  return 4 * (4 * q + 4 * kv);
}

/**
 * Elements of the largest pair of inputs one matrix product of a training step takes: each linear
 * map (in → out, on n rows) multiplies [n, in]·[in, out] forward, [n, out]·[out, in] for the input
 * gradient and [in, n]·[n, out] for the weight gradient; the classifier head has B rows.
 */
export function largestProductInputs(config: ModelConfig, batch: number, seqLen: number): number {
  const n = batch * seqLen, d = config.dModel, hd = headDim(config);
  const f = config.dFf, up = config.architecture.mlp === 'swiglu' ? 2 * f : f;
  const maps: [number, number, number][] = [
    [n, d, (config.nHeads + 2 * config.nKvHeads) * hd],
    [n, config.nHeads * hd, d],
    [n, d, up],
    [n, f, d],
    config.head.kind === 'classifier' ? [batch, d, config.head.numClasses] : [n, d, config.vocabSize],
  ];
  return Math.max(...maps.map(([rows, input, out]) => Math.max(rows * input + input * out, rows * out + out * input, input * rows + rows * out)));
}

/** The resident memory a training run of `config` at `shape` needs (see this file's header). */
export function estimateTrainingMemory(config: ModelConfig, shape: TrainingShape): MemoryEstimate {
  for (const key of ['batch', 'seqLen'] as const)
    if (!Number.isInteger(shape[key]) || shape[key] < 1) throw new RangeError(`${key} must be a positive integer, got ${shape[key]}`);
  const count = parameterCount(config);
  const padded = allocation(paddedParameterCount(config));
  const { batch, seqLen } = shape;
  const classes = config.head.kind === 'classifier' ? config.head.numClasses : 0;
  const stepRows = shape.stepRows ?? batch;
  const half = rotaryDim(config) / 2;
  const parts: MemoryPart[] = [
    { name: 'parameters', bytes: padded },
    { name: 'gradients', bytes: padded },
    { name: 'AdamW moments', bytes: 2 * padded },
    { name: 'activations', bytes: activationBytes(config, batch, seqLen) },
    {
      name: 'other buffers',
      bytes:
        (half > 0 ? 2 * allocation(config.contextLength * half) : 0) +
        attentionScratchBytes(config, batch, seqLen) +
        (classes > 0 ? 3 * allocation(stepRows * classes) : 0),
    },
    { name: 'thread buffers (allowance)', bytes: Math.max(1, shape.threads ?? 1) * THREAD_ALLOWANCE_BYTES },
  ];
  // The CPU's bf16 products keep rounded copies of their inputs, as large as the largest product's
  // (bf16_gemm's Bf16Scratch in the model's device): floats on the fallback, counted here; oneDNN's
  // bfloat16 copies take half.
  if (computeDevice().device === 'cpu' && (shape.precision ?? computeDevice().precision) === 'bf16')
    parts.push({ name: 'bf16 rounded inputs', bytes: 4 * largestProductInputs(config, batch, seqLen) });
  if (shape.hostWeightCopies) parts.push({ name: 'weights held in JavaScript', bytes: shape.hostWeightCopies * 4 * count });
  const total = parts.reduce((s, p) => s + p.bytes, 0);
  return { parameters: count, parts, total, bytesPerParameter: total / count };
}

/** Memory a new allocation can take without swapping or being killed, and where the figure came from. */
export interface AvailableMemory {
  bytes: number;
  source: string;
}

/** The first number of a file, or null (cgroup files hold "max" when unlimited). */
function readNumber(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/**
 * MemAvailable from /proc/meminfo (else os.freemem()), lowered to the cgroup v2 limit's headroom
 * (memory.max − memory.current) where a limit is set.
 */
export function availableMemory(): AvailableMemory {
  let result: AvailableMemory = { bytes: os.freemem(), source: 'os.freemem()' };
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) result = { bytes: Number(m[1]) * 1024, source: 'MemAvailable in /proc/meminfo' };
  } catch {
    // not Linux: os.freemem()
  }
  const max = readNumber('/sys/fs/cgroup/memory.max'), current = readNumber('/sys/fs/cgroup/memory.current');
  if (max !== null && current !== null && max - current < result.bytes)
    result = { bytes: Math.max(0, max - current), source: 'the cgroup limit /sys/fs/cgroup/memory.max less memory.current' };
  return result;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(bytes) >= 1024 && i < units.length - 1) {
    bytes /= 1024;
    i++;
  }
  return `${bytes.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A run refused because its estimate exceeds the memory available. */
export class InsufficientMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InsufficientMemoryError';
  }
}

export interface MemoryCheckOptions {
  /** What is available (default: availableMemory()); tests pass a fake one. */
  available?: AvailableMemory;
  /**
   * The estimate at the smallest shape the run may take, where `estimate` is an upper bound (its
   * sequences may be shorter): a run whose upper bound exceeds what is available but whose lower
   * bound fits is warned about instead of refused.
   */
  lowerBound?: MemoryEstimate;
  /** Where warnings go (default: console.warn). */
  warn?: (message: string) => void;
  /** W2S_MEMORY_CHECK's value (default: the environment's): "warn" turns a refusal into a warning, "off" skips the check. */
  mode?: string;
}

export type MemoryCheckResult = 'fits' | 'warned' | 'skipped';

function describe(what: string, estimate: MemoryEstimate): string {
  const parts = estimate.parts.map((p) => `${p.name} ${formatBytes(p.bytes)}`).join(', ');
  return (
    `${what} needs about ${formatBytes(estimate.total)} of memory ` +
    `(${(estimate.parameters / 1e6).toFixed(1)} M parameters, ${estimate.bytesPerParameter.toFixed(1)} bytes per parameter: ${parts})`
  );
}

/**
 * Compares `estimate` with the memory available. Returns 'fits'; or warns and returns 'warned'
 * when only the upper bound exceeds it; or throws InsufficientMemoryError naming `what` (the
 * model and shape), the estimate and what is available.
 */
export function checkTrainingMemory(what: string, estimate: MemoryEstimate, opts: MemoryCheckOptions = {}): MemoryCheckResult {
  const mode = (opts.mode ?? process.env.W2S_MEMORY_CHECK ?? '').toLowerCase();
  if (mode === 'off') return 'skipped';
  const available = opts.available ?? availableMemory();
  if (estimate.total <= available.bytes) return 'fits';
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const have = `${formatBytes(available.bytes)} is available (${available.source})`;
  if (opts.lowerBound && opts.lowerBound.total <= available.bytes) {
    warn(
      `warning: ${describe(what, estimate)} at its longest sequences, and ${have}; it fits only if its sequences stay ` +
        `shorter (about ${formatBytes(opts.lowerBound.total)} at the shortest). It may be killed for lack of memory.`,
    );
    return 'warned';
  }
  const message =
    `not enough memory: ${describe(what, estimate)}, and ${have}. ` +
    `Use a smaller batch or shorter sequences, or free memory (W2S_MEMORY_CHECK=warn runs it anyway).`;
  if (mode === 'warn') {
    warn(`warning: ${message}`);
    return 'warned';
  }
  throw new InsufficientMemoryError(message);
}

/**
 * The check before a run builds its model on the CPU (a model on the GPU keeps its parameters and
 * activations in the card's memory, which this does not estimate: skipped). `shape.threads`
 * defaults to the native pool's thread count; `opts.minSeqLen`, where the run's sequences may be
 * shorter than `shape.seqLen`, gives the lower bound (see MemoryCheckOptions.lowerBound).
 */
export function assertTrainingFits(what: string, config: ModelConfig, shape: TrainingShape, opts: MemoryCheckOptions & { minSeqLen?: number } = {}): MemoryCheckResult {
  if (computeDevice().device !== 'cpu') return 'skipped';
  const full = { ...shape, threads: shape.threads ?? native.backendInfo().threads };
  const estimate = estimateTrainingMemory(config, full);
  const lowerBound = opts.minSeqLen !== undefined && opts.minSeqLen < shape.seqLen ? estimateTrainingMemory(config, { ...full, seqLen: opts.minSeqLen }) : undefined;
  return checkTrainingMemory(what, estimate, { ...opts, ...(lowerBound ? { lowerBound } : {}) });
}
