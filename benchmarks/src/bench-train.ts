// `npm run bench:train`: training throughput of a model at any size, in one process run:
//   the native engine on each thread count of --threads;
//   with --pytorch, PyTorch on the CPU (benchmarks/pytorch/train_step.py, run by /usr/bin/python3
//   when it has torch) training the same model, task and shape on the same thread counts, each
//   row measured right after the engine's on that thread count. PyTorch has two thread counts: its
//   own (OpenMP, torch.set_num_threads) and its BLAS's (OpenBLAS, which does the matrix products).
//   On t threads it runs with both at t; for t > 1 also with 1 own thread and the BLAS on t, which
//   was faster on 2 cores (OpenBLAS's spinning threads slow OpenMP's). Ratios are to the faster;
//   the tfjs twin on tfjs-backend-cpu and tfjs-backend-wasm (one thread; skipped with --no-tfjs or
//   when its estimated time exceeds --tfjs-budget);
//   the BLAS's sgemm 1024³ (through the engine's sgemm) on each thread count, as a yardstick
//   measured in the same run.
// --precision float32,bf16: the native and PyTorch rows at each precision of the list: bf16 is the
// engine's bf16 products (inputs rounded to bfloat16, float32 sums; everything else float32) and
// PyTorch's CPU autocast to bfloat16 (its products in bfloat16 through oneDNN, with the ops autocast
// keeps in float32). MFU of a bf16 row is against the bf16 peak (cpu-peak.ts).
// The model: a preset (packages/model/src/config.ts PRESETS: gpt2-bench, gpt2-small, gpt2-medium,
// qwen2.5-0.5b, …) or a Hugging Face folder's config.json, with random weights; the task: the LM
// loss on every position, or a 2-class head on the last token (soft-target cross-entropy). Each
// step is forward, loss, backward, global-norm clipping and AdamW. Medians of per-step times after
// warm-up; MFU against the CPU's peak FLOP rate (derived from /proc/cpuinfo and printed with its
// factors, or --peak-gflops) and, beside it, against the sgemm yardstick; the resident memory of
// each row (the process's peak RSS during the row less its RSS before it, per parameter) beside the
// estimate of packages/model/src/memory.ts, which also refuses a run that would not fit.
// --profile: after each thread count's timed steps, --profile-steps more steps on the same model
// with the engine's profiler on (CPU only), printed after the timing rows as a table of where a
// step's time goes (src/profile-table.ts) and written to --json as 'profile' rows.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import Table from 'cli-table3';
import { Command, InvalidArgumentError, Option } from 'commander';
import { backendInfo, describeBackend, setNumThreads, sgemm, tf } from '@w2s/kernels';
import {
  InsufficientMemoryError,
  NativeModel,
  PRESETS,
  TwinAdamW,
  assertTrainingFits,
  availableMemory,
  configFromHf,
  estimateTrainingMemory,
  formatBytes,
  headDim,
  lmLoss,
  parameterCount,
  twinLossAndGradients,
  withHead,
  type Minibatch,
  type ModelConfig,
} from '@w2s/model';
import { mulberry32 } from '@w2s/random';
import { cpuPeak, peakGflops, type CpuPeak, type Precision } from './cpu-peak.js';
import { printProfile, profileSteps, type ProfileRow } from './profile-table.js';

type Impl = 'native' | 'pytorch' | 'tfjs-cpu' | 'tfjs-wasm';
type Task = 'lm' | 'classifier';

interface Shape {
  model: string;
  task: Task;
  dModel: number;
  layers: number;
  heads: number;
  kvHeads: number;
  dFf: number;
  vocab: number;
  parameters: number;
}

interface Memory {
  /** The process's resident set before the row (model not yet built). */
  rssBeforeBytes: number;
  /** The process's peak resident set during the row (VmHWM, reset before it). */
  peakRssBytes: number;
  /** peakRssBytes − rssBeforeBytes. */
  rowBytes: number;
  bytesPerParameter: number;
  /** estimateTrainingMemory's total for the row's shape (native and PyTorch rows). */
  estimateBytes?: number;
  /** Resident set growth across the timed steps (native rows): after them ÷ after warm-up − 1. */
  growthAcrossSteps?: number;
}

/** Rows of the JSON output. */
type Row =
  | ({
      impl: Impl;
      threads: number;
      /** The matrix products' arithmetic (native and PyTorch rows; the twin's is float32). */
      precision: Precision;
      batch: number;
      seqLen: number;
      steps: number;
      msPerStep: number;
      tokensPerSecond: number;
      gflopPerStep: number;
      gflops: number;
      /** Against the CPU's peak on this row's cores. */
      mfu: number;
      peakGflops: number;
      /** Against the sgemm yardstick on this row's threads. */
      mfuSgemm: number;
      memory: Memory;
      /** PyTorch rows: its version and attention implementation. */
      note?: string;
      /** Native rows: each timed step's milliseconds, in order. */
      stepMs?: number[];
      /** PyTorch rows: its own (intra-op) thread count and its BLAS's; `threads` is the larger. */
      pytorchThreads?: { intraOp: number; blas: number | null };
    } & Shape)
  | { impl: 'sgemm'; threads: number; gflops: number; shape: number[] }
  | ProfileRow
  | { impl: 'machine'; cpu: string; logicalCores: number; memoryBytes: number; node: string; backend: string; loadAverage: number[]; peak: { perCoreGflops: number; physicalCores: number; derivation: string[] } };

interface Options {
  model: string;
  task: Task;
  batchSize?: number;
  seqLen?: number;
  steps: number;
  warmup: number;
  threads: number[];
  tfjs: boolean;
  tfjsSteps: number;
  tfjsBatch: number;
  tfjsBudget: number;
  pytorch: boolean;
  python: string;
  precision: Precision[];
  peakGflops?: number;
  json?: string;
  quick: boolean;
  profile: boolean;
  profileSteps: number;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected an integer > 0');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

function threadList(value: string): number[] {
  const list = value.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) throw new InvalidArgumentError('expected a comma-separated list of integers > 0, e.g. 1,2');
  return [...new Set(list)];
}

function precisionList(value: string): Precision[] {
  const list = value.split(',').map((s) => s.trim());
  if (list.length === 0 || list.some((p) => p !== 'float32' && p !== 'bf16')) throw new InvalidArgumentError('expected a comma-separated list of float32 and bf16, e.g. float32,bf16');
  return [...new Set(list)] as Precision[];
}

function parseOptions(): Options {
  return new Command()
    .name('bench:train')
    .description('Training tokens per second of a model at any size: the native engine vs PyTorch (CPU) vs the tfjs twin, MFU against the CPU peak, resident memory.')
    .option('--model <preset|dir>', `a preset (${Object.keys(PRESETS).join(', ')}) or a Hugging Face folder with config.json (random weights)`, 'gpt2-bench')
    .addOption(new Option('--task <task>', 'lm: next-token loss at every position; classifier: a 2-class head on the last token').choices(['lm', 'classifier']).default('lm'))
    .option('--batch-size <n>', 'sequences per step (default 32 for gpt2-bench, else 8)', positiveInteger)
    .option('--seq-len <n>', 'tokens per sequence (default min(128, the model\'s context))', positiveInteger)
    .option('--steps <n>', 'timed steps per row, after the warm-up', positiveInteger, 10)
    .option('--warmup <n>', 'warm-up steps per row (not timed)', positiveInteger, 2)
    .option('--threads <list>', 'thread counts, one row each (default 1 and all cores)', threadList, [...new Set([1, os.availableParallelism()])])
    .option('--no-tfjs', 'skip the tfjs twin rows')
    .option('--tfjs-steps <n>', 'timed tfjs steps per backend (after a 16-token warm-up step)', positiveInteger, 1)
    .option('--tfjs-batch <n>', 'sequences per tfjs step (time per token is linear in the batch)', positiveInteger, 1)
    .option('--tfjs-budget <s>', 'skip a tfjs backend whose estimated time exceeds this many seconds', positiveNumber, 300)
    .option('--pytorch', 'add PyTorch CPU rows (benchmarks/pytorch/train_step.py) for the same model and shape', false)
    .option('--python <path>', 'the Python with torch for --pytorch', '/usr/bin/python3')
    .option('--precision <list>', "the native and PyTorch rows' matrix products: float32, bf16 (engine: bfloat16 inputs, float32 sums; PyTorch: CPU autocast to bfloat16), or both", precisionList, ['float32'])
    .option('--peak-gflops <x>', 'the CPU\'s peak float32 GFLOP/s over all its physical cores, instead of the rate derived from /proc/cpuinfo', positiveNumber)
    .option('--json <file>', 'also write the rows as a JSON array to this file (relative to the directory npm was run from); its folder must exist')
    .option('--quick', 'batch 4 and at most 5 timed steps: a smoke run', false)
    .option('--profile', "after each thread count's timed steps, profile --profile-steps more (where a step's time goes, by kernel and phase; the pool's idle time)", false)
    .option('--profile-steps <n>', 'profiled steps per thread count (with --profile)', positiveInteger, 3)
    .parse()
    .opts<Options>();
}

/** Milliseconds for the console: whole above 100, three significant digits below. */
function ms3(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toPrecision(3);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A preset, or a Hugging Face folder's config.json, with the task's head. */
function loadModel(spec: string, task: Task): { name: string; config: ModelConfig } {
  let name = spec, config = PRESETS[spec];
  if (!config) {
    const file = join(spec, 'config.json');
    if (!existsSync(file)) throw new Error(`--model must be a preset (${Object.keys(PRESETS).join(', ')}) or a folder with a config.json, got ${spec}`);
    config = configFromHf(JSON.parse(readFileSync(file, 'utf8')), file);
    name = basename(resolve(spec));
  }
  return { name, config: withHead(config, task === 'lm' ? { kind: 'lm' } : { kind: 'classifier', numClasses: 2 }) };
}

/**
 * Training FLOPs of one step: every matrix product counted forward and twice backward (6 per
 * weight per token; the LM head for the LM task, the 2-class head on B rows for the classifier),
 * attention the FlashAttention way (forward 4·B·H·T²·hd halved when causal, forward+backward 3.5×
 * that). Implementations computing the full T×T scores are credited with the same causal count.
 */
export function stepFlops(c: ModelConfig, batch: number, seqLen: number): number {
  const d = c.dModel, hd = headDim(c);
  const qkv = (c.nHeads + 2 * c.nKvHeads) * hd;
  const perLayer = d * qkv + c.nHeads * hd * d + (c.architecture.mlp === 'swiglu' ? 3 : 2) * d * c.dFf;
  const tokens = batch * seqLen;
  const head = c.head.kind === 'lm' ? 6 * tokens * d * c.vocabSize : 6 * batch * d * c.head.numClasses;
  const attention = 3.5 * ((4 * batch * c.nHeads * seqLen * seqLen * hd) / 2) * c.nLayers;
  return 6 * tokens * c.nLayers * perLayer + head + attention;
}

function randomMinibatch(c: ModelConfig, batch: number, seqLen: number, seed: number): Minibatch {
  const uniform = mulberry32(seed);
  const stream = Int32Array.from({ length: batch * (seqLen + 1) }, () => Math.floor(uniform() * c.vocabSize));
  const tokens = new Int32Array(batch * seqLen);
  const targets = new Int32Array(batch * seqLen);
  for (let b = 0; b < batch; b++) {
    tokens.set(stream.subarray(b * (seqLen + 1), b * (seqLen + 1) + seqLen), b * seqLen);
    targets.set(stream.subarray(b * (seqLen + 1) + 1, (b + 1) * (seqLen + 1)), b * seqLen);
  }
  const base = { tokens, lengths: new Int32Array(batch).fill(seqLen), batch, seqLen };
  if (c.head.kind === 'lm') return { ...base, loss: 'token', targets };
  const softTargets = new Float32Array(batch * 2);
  for (let b = 0; b < batch; b++) {
    const p = uniform();
    softTargets[2 * b] = p;
    softTargets[2 * b + 1] = 1 - p;
  }
  return { ...base, loss: 'xent', softTargets };
}

function sgemmRate(threads: number): { gflops: number; shape: number[] } {
  setNumThreads(threads);
  const n = 1024;
  const a = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
  const b = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
  for (let i = 0; i < 3; i++) sgemm(a, b, n, n, n);
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    sgemm(a, b, n, n, n);
    times.push(performance.now() - t0);
  }
  return { gflops: (2 * n * n * n) / (median(times) * 1e6), shape: [n, n, n] };
}

/** A field of /proc/self/status in bytes (VmRSS, VmHWM), or the RSS where there is none. */
function statusBytes(name: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss;
}

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux ≥ 4.0); false where it cannot. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

async function useTfjs(impl: 'tfjs-cpu' | 'tfjs-wasm'): Promise<void> {
  if (impl === 'tfjs-wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(resolve(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
    await import('@tensorflow/tfjs-backend-wasm');
  }
  if (!(await tf.setBackend(impl === 'tfjs-cpu' ? 'cpu' : 'wasm'))) throw new Error(`tfjs backend ${impl} failed to initialise`);
  await tf.ready();
}

/**
 * tfjs's training rate in GFLOP/s, for estimating its time before running it: from the 2026-11-28
 * bench:train run in benchmarks/RESULTS.md (gpt2-bench, 1 × 128 tokens: tfjs-cpu 4677 ms and
 * tfjs-wasm 2305 ms for 4.14 GFLOP).
 */
const TFJS_GFLOPS = { 'tfjs-cpu': 0.89, 'tfjs-wasm': 1.8 } as const;

/** torch's version where `python` has it, else why not. */
function findTorch(python: string): { version: string } | { problem: string } {
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error) return { problem: `${python} was not found (${r.error.message})` };
  if (r.status !== 0) return { problem: `${python} has no torch (Debian: apt-get install python3-torch)` };
  return { version: r.stdout.trim() };
}

const PYTORCH_SCRIPT = fileURLToPath(new URL('../pytorch/train_step.py', import.meta.url));

/** A bad option found after parsing: the run stops before it starts, with the message. */
class UsageError extends Error {}

/**
 * --json's path, resolved against the directory `npm run bench:train` was run from (the root
 * script passes it as W2S_BENCH_CWD: the nested npm that runs the bench in benchmarks/ resets
 * INIT_CWD), its folder checked before the run so that a long run's rows are not lost at its end.
 */
function jsonPath(file: string): string {
  const path = resolve(process.env.W2S_BENCH_CWD || process.cwd(), file);
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch {
    throw new UsageError(`--json ${file}: the folder ${dirname(path)} does not exist or is not writable`);
  }
  return path;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (opts.json) opts.json = jsonPath(opts.json);
  tf.env().set('PROD', true);
  const { name, config } = loadModel(opts.model, opts.task);
  const batch = opts.quick ? 4 : opts.batchSize ?? (name === 'gpt2-bench' ? 32 : 8);
  const seqLen = opts.seqLen ?? Math.min(128, config.contextLength);
  if (seqLen > config.contextLength) throw new Error(`--seq-len ${seqLen} exceeds ${name}'s context length ${config.contextLength}`);
  const steps = opts.quick ? Math.min(opts.steps, 5) : opts.steps;
  const tokensPerStep = batch * seqLen;
  const flops = stepFlops(config, batch, seqLen);
  const optimizer = { lr: 3e-4, weightDecay: 0.1, maxGradNorm: 1 };
  const params = parameterCount(config);
  const shape: Shape = {
    model: name,
    task: opts.task,
    dModel: config.dModel,
    layers: config.nLayers,
    heads: config.nHeads,
    kvHeads: config.nKvHeads,
    dFf: config.dFf,
    vocab: config.vocabSize,
    parameters: params,
  };
  const peak: CpuPeak = cpuPeak(opts.peakGflops);
  const rows: Row[] = [];
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const backend = describeBackend({ ...backendInfo(), threads: Math.max(...opts.threads) });
  rows.push({ impl: 'machine', cpu, logicalCores: os.availableParallelism(), memoryBytes: os.totalmem(), node: process.version, backend, loadAverage: os.loadavg(), peak });
  console.log(`machine: ${cpu}, ${os.availableParallelism()} logical cores, ${formatBytes(os.totalmem())}, Node ${process.version}`);
  console.log(`load average (1, 5, 15 min): ${os.loadavg().map((x) => x.toFixed(2)).join(', ')} on ${os.availableParallelism()} cores${os.loadavg()[0] > 0.5 ? ' (other processes are running: times are pessimistic)' : ''}`);
  console.log(backend);
  console.log('CPU peak FLOP rate:\n' + peak.derivation.map((l) => `  ${l}`).join('\n'));
  console.log(
    `model: ${name} (${config.architecture.norm}, ${config.architecture.mlp}, ${config.architecture.positions.kind} positions${config.architecture.tiedEmbeddings ? ', tied' : ''}) ` +
      `d=${config.dModel} layers=${config.nLayers} heads=${config.nHeads} kv=${config.nKvHeads} dFf=${config.dFf} vocab=${config.vocabSize}, ${(params / 1e6).toFixed(1)} M parameters; ` +
      `task ${opts.task}; batch ${batch} x ${seqLen} tokens; ${(flops / 1e9).toFixed(1)} GFLOP per training step; ${opts.warmup} warm-up + ${steps} timed steps per row\n`,
  );

  const sgemmByThreads = new Map<number, number>();
  for (const threads of opts.threads) {
    const { gflops, shape: s } = sgemmRate(threads);
    sgemmByThreads.set(threads, gflops);
    rows.push({ impl: 'sgemm', threads, gflops, shape: s });
    console.log(`  sgemm ${s.join('x')} on ${threads} thread(s): ${gflops.toFixed(1)} GFLOP/s`);
  }

  const torch = opts.pytorch ? findTorch(opts.python) : null;
  if (torch && 'problem' in torch) console.log(`  PyTorch rows skipped: ${torch.problem}`);
  const profiles: ProfileRow[] = [];
  // A timed row; `extra`: the fields only some implementations have (note, stepMs, pytorchThreads).
  const timedRow: TimedRowMaker = (impl, threads, precision, ms, b, n, memory, extra = {}) => {
    const f = stepFlops(config, b, seqLen);
    const gflops = f / (ms * 1e6);
    const p = peakGflops(peak, threads, precision);
    return {
      impl, threads, precision, batch: b, seqLen, steps: n, msPerStep: ms, tokensPerSecond: (b * seqLen) / (ms / 1000), gflopPerStep: f / 1e9, gflops,
      mfu: gflops / p, peakGflops: p, mfuSgemm: gflops / (sgemmByThreads.get(threads) ?? sgemmByThreads.get(1) ?? NaN), memory, ...extra, ...shape,
    };
  };
  const bench: Bench = { opts, config, batch, seqLen, steps, optimizer, params, data: randomMinibatch(config, batch, seqLen, 1), timedRow };

  for (const threads of opts.threads) {
    setNumThreads(threads);
    for (const precision of opts.precision) {
      assertTrainingFits(`${name} (${opts.task}, batch ${batch} x ${seqLen} tokens, ${threads} thread(s), ${precision})`, config, { batch, seqLen, threads, precision });
      const estimate = estimateTrainingMemory(config, { batch, seqLen, threads, precision });
      const { row, profile } = await measureNative(bench, threads, precision, estimate);
      rows.push(row);
      if (profile) profiles.push(profile);
      if (torch && 'version' in torch) rows.push(...measurePytorch(bench, threads, precision, estimate.total));
    }
  }

  // The twin: tfjs autodiff for the gradients, TwinAdamW for the update (JS loops over Float32Arrays),
  // on a smaller batch of the same sequences (see --tfjs-batch); warm-up on a 16-token batch.
  const tfjsBatch = Math.min(opts.tfjsBatch, batch);
  const tfjsFlops = stepFlops(config, tfjsBatch, seqLen);
  const warmSeq = Math.min(16, seqLen);
  const tfjsImpls = (['tfjs-cpu', 'tfjs-wasm'] as const).filter((impl) => {
    if (!opts.tfjs) return false;
    const seconds = ((tfjsFlops * opts.tfjsSteps + stepFlops(config, 1, warmSeq)) / 1e9 / TFJS_GFLOPS[impl]) * 1.2;
    if (seconds <= opts.tfjsBudget) return true;
    console.log(`  ${impl} skipped: estimated ${seconds.toFixed(0)} s (at ${TFJS_GFLOPS[impl]} GFLOP/s, measured on gpt2-bench) exceeds --tfjs-budget ${opts.tfjsBudget}`);
    return false;
  });
  if (tfjsImpls.length) {
    setNumThreads(1);
    const initial = new NativeModel(config, { seed: 1 });
    const weights = initial.exportWeights();
    initial.dispose();
    const tfjsData = randomMinibatch(config, tfjsBatch, seqLen, 2);
    const warmData = randomMinibatch(config, 1, warmSeq, 3);
    const lossOf = (mb: Minibatch) => (logits: tf.Tensor) => {
      if (mb.loss === 'token') return lmLoss(logits, mb.targets);
      const soft = (mb as { softTargets: Float32Array }).softTargets;
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.tensor2d(soft, [mb.batch, 2]), tf.logSoftmax(logits)), -1))) as tf.Scalar;
    };
    for (const impl of tfjsImpls) {
      await useTfjs(impl);
      global.gc?.();
      const rssBefore = statusBytes('VmRSS');
      const reset = resetPeakRss();
      const adam = new TwinAdamW(config, optimizer);
      const step = (mb: Minibatch) => {
        const { gradients } = twinLossAndGradients(config, weights, mb, lossOf(mb));
        adam.step(weights, gradients);
      };
      const times: number[] = [];
      try {
        step(warmData);
        for (let i = 0; i < opts.tfjsSteps; i++) {
          const t0 = performance.now();
          step(tfjsData);
          times.push(performance.now() - t0);
        }
      } catch (err) {
        // e.g. a kernel the backend lacks (tfjs-backend-wasm has no UnsortedSegmentSum)
        console.log(`  ${impl} failed: ${(err as Error).message}`);
        continue;
      }
      const peakRss = reset ? statusBytes('VmHWM') : statusBytes('VmRSS');
      const ms = median(times);
      rows.push(timedRow(impl, 1, 'float32', ms, tfjsBatch, opts.tfjsSteps, { rssBeforeBytes: rssBefore, peakRssBytes: peakRss, rowBytes: peakRss - rssBefore, bytesPerParameter: (peakRss - rssBefore) / params }));
      console.log(`  ${impl}: ${ms3(ms)} ms/step of ${tfjsBatch} x ${seqLen} tokens over ${opts.tfjsSteps} step(s)`);
    }
  }

  console.log(`\nload average at the end (1, 5, 15 min): ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`);
  printTable(rows);
  printRatios(rows, opts.threads, opts.precision);
  for (const profile of profiles) printProfile(profile);
  rows.push(...profiles);
  if (opts.json) {
    const tmp = `${opts.json}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(rows, null, 2) + '\n');
    renameSync(tmp, opts.json);
    console.log(`\nrows written to ${opts.json}`);
  }
}

type TimedRow = Extract<Row, { msPerStep: number }>;
type TimedRowMaker = (impl: Impl, threads: number, precision: Precision, ms: number, batch: number, steps: number, memory: Memory, extra?: Partial<TimedRow>) => Row;

/** What every native and PyTorch row of the run shares. */
interface Bench {
  opts: Options;
  config: ModelConfig;
  batch: number;
  seqLen: number;
  steps: number;
  optimizer: { lr: number; weightDecay: number; maxGradNorm: number };
  params: number;
  data: Minibatch;
  timedRow: TimedRowMaker;
}

/** The engine's row on `threads` threads at `precision` (the pool already set), and its profile with --profile. */
async function measureNative(bench: Bench, threads: number, precision: Precision, estimate: { total: number; bytesPerParameter: number }): Promise<{ row: Row; profile?: ProfileRow }> {
  const { opts, config, data, optimizer, steps, params } = bench;
  global.gc?.();
  const rssBefore = statusBytes('VmRSS');
  const reset = resetPeakRss();
  const model = new NativeModel(config, { seed: 1, device: { device: 'cpu', precision } });
  for (let i = 0; i < opts.warmup; i++) await model.trainStep([data], optimizer);
  const rssWarm = statusBytes('VmRSS');
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await model.trainStep([data], optimizer);
    times.push(performance.now() - t0);
  }
  const rssAfter = statusBytes('VmRSS');
  const peakRss = reset ? statusBytes('VmHWM') : rssAfter;
  const profile = opts.profile ? await profileSteps(model, [data], optimizer, opts.profileSteps, threads, precision) : undefined;
  model.dispose();
  const ms = median(times);
  const memory: Memory = {
    rssBeforeBytes: rssBefore, peakRssBytes: peakRss, rowBytes: peakRss - rssBefore, bytesPerParameter: (peakRss - rssBefore) / params,
    estimateBytes: estimate.total, growthAcrossSteps: rssAfter / rssWarm - 1,
  };
  console.log(`  native ${precision} on ${threads} thread(s): ${ms3(ms)} ms/step over ${steps} steps; ${formatBytes(memory.rowBytes)} resident (${memory.bytesPerParameter.toFixed(1)} bytes/parameter, estimated ${estimate.bytesPerParameter.toFixed(1)})`);
  return { row: bench.timedRow('native', threads, precision, ms, bench.batch, steps, memory, { stepMs: times }), profile };
}

/**
 * PyTorch's rows on `threads` threads at `precision`, each in its own process: its own threads and
 * its BLAS's both at `threads`, and for threads > 1 also its own at 1 (see the header).
 */
function measurePytorch(bench: Bench, threads: number, precision: Precision, estimateBytes: number): Row[] {
  const { opts, config, batch, seqLen, steps, optimizer, params } = bench;
  const available = availableMemory();
  if (estimateBytes > available.bytes) {
    console.log(`  PyTorch on ${threads} thread(s) skipped: about ${formatBytes(estimateBytes)} needed (the engine's estimate), ${formatBytes(available.bytes)} available`);
    return [];
  }
  const rows: Row[] = [];
  for (const intraOp of threads > 1 ? [threads, 1] : [1]) {
    const request = { config, task: opts.task, batch, seqLen, steps, warmup: opts.warmup, threads: intraOp, blasThreads: threads, precision, optimizer, seed: 1 };
    const what = `PyTorch ${precision} on ${intraOp} thread(s), its BLAS on ${threads}`;
    const r = spawnSync(opts.python, [PYTORCH_SCRIPT], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 26 });
    const line = r.stdout?.trim().split('\n').pop();
    if (r.status !== 0 || !line) {
      console.log(`  ${what} failed (exit ${r.status}): ${r.stderr?.trim().split('\n').slice(-3).join(' | ')}`);
      continue;
    }
    const out = JSON.parse(line) as { torch: string; attention: string; parameters: number; msPerStep: number; steps: number; rssBeforeBytes: number; peakRssBytes: number; threads: number; blasThreads: number | null; precision: string };
    if (out.parameters !== params) console.log(`  warning: PyTorch's model has ${out.parameters} parameters, the engine's ${params}`);
    if (out.blasThreads !== null && out.blasThreads !== threads) console.log(`  warning: PyTorch's OpenBLAS runs ${out.blasThreads} threads, ${threads} were asked for`);
    if (out.precision !== precision) console.log(`  warning: PyTorch ran at ${out.precision}, ${precision} was asked for`);
    const rowBytes = out.peakRssBytes - out.rssBeforeBytes;
    const memory = { rssBeforeBytes: out.rssBeforeBytes, peakRssBytes: out.peakRssBytes, rowBytes, bytesPerParameter: rowBytes / params, estimateBytes };
    const note = `torch ${out.torch}, ${out.attention}${precision === 'bf16' ? ', autocast bfloat16' : ''}`;
    rows.push(bench.timedRow('pytorch', threads, precision, out.msPerStep, batch, out.steps, memory, { note, pytorchThreads: { intraOp: out.threads, blas: out.blasThreads } }));
    console.log(`  pytorch ${out.torch} ${precision} on ${out.threads} thread(s), BLAS on ${out.blasThreads ?? 'unknown'}: ${ms3(out.msPerStep)} ms/step over ${out.steps} steps; ${formatBytes(rowBytes)} resident (${(rowBytes / params).toFixed(1)} bytes/parameter)`);
  }
  return rows;
}

function printTable(rows: Row[]): void {
  const table = new Table({
    style: { head: [], border: [] },
    head: ['impl', 'threads', 'batch x T', 'ms/step', 'tokens/s', 'GFLOP/s', 'MFU (peak)', 'vs sgemm', 'resident', 'bytes/param', 'estimate', 'steps'],
  });
  for (const r of rows)
    if ('msPerStep' in r)
      table.push([
        implLabel(r), r.threads, `${r.batch} x ${r.seqLen}`, ms3(r.msPerStep), r.tokensPerSecond.toFixed(1), r.gflops.toFixed(1),
        `${(100 * r.mfu).toFixed(1)}% of ${r.peakGflops.toFixed(0)}`, `${(100 * r.mfuSgemm).toFixed(0)}%`, formatBytes(r.memory.rowBytes),
        r.memory.bytesPerParameter.toFixed(1), r.memory.estimateBytes ? (r.memory.estimateBytes / r.parameters).toFixed(1) : '', r.steps,
      ]);
  console.log('\n' + table.toString());
  console.log(
    "resident: the process's peak RSS during the row less its RSS before it (PyTorch: in its own process, after importing torch); " +
      'a later native row may reuse memory the allocator kept from an earlier one, so the first is the cleanest. ' +
      "estimate: packages/model/src/memory.ts per parameter (the engine's allocation with a 32 MiB per-thread allowance; shown beside PyTorch for comparison)",
  );
}

/** A timed row's implementation; PyTorch's with its own and its BLAS's thread counts. */
function implLabel(r: TimedRow): string {
  const impl = r.precision === 'float32' ? r.impl : `${r.impl} ${r.precision}`;
  return r.pytorchThreads ? `${impl} (${r.pytorchThreads.intraOp} + BLAS ${r.pytorchThreads.blas ?? '?'})` : impl;
}

function printRatios(rows: Row[], threads: number[], precisions: Precision[]): void {
  // The fastest row of an implementation on t threads (PyTorch has one per thread configuration),
  // at one precision or at any.
  const find = (impl: Impl, t: number, precision?: Precision) =>
    rows
      .filter((r): r is TimedRow => 'msPerStep' in r && r.impl === impl && r.threads === t && (precision === undefined || r.precision === precision))
      .reduce<TimedRow | undefined>((best, r) => (best && best.msPerStep <= r.msPerStep ? best : r), undefined);
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const target = (t: number, ratio: number) => (t >= 2 ? ` (issue 19 target >= 2.0x at 2 threads) ${verdict(ratio >= 2)}` : ' (issue 19 target for GPT-2 small at 1 thread >= 1.3x)');
  console.log('\nratios within this run (tokens/s):');
  for (const t of threads) {
    for (const precision of precisions) {
      const native = find('native', t, precision), torch = find('pytorch', t, precision);
      if (native && torch) {
        const ratio = native.tokensPerSecond / torch.tokensPerSecond;
        console.log(`  ${implLabel(native)} / ${implLabel(torch)}, the fastest PyTorch ${precision} on ${t} thread(s): ${ratio.toFixed(2)}x${target(t, ratio)}`);
      }
    }
    const native = find('native', t), torch = find('pytorch', t);
    if (precisions.length > 1 && native && torch) {
      const ratio = native.tokensPerSecond / torch.tokensPerSecond;
      console.log(`  the fastest native (${implLabel(native)}) / the fastest PyTorch at any precision (${implLabel(torch)}) on ${t} thread(s): ${ratio.toFixed(2)}x`);
    }
  }
  for (const precision of precisions) {
    const one = find('native', 1, precision), most = find('native', Math.max(...threads), precision);
    if (!most) continue;
    const label = implLabel(most);
    if (one && most !== one) {
      const ratio = most.tokensPerSecond / one.tokensPerSecond;
      console.log(`  ${label} ${most.threads} threads / 1 thread: ${ratio.toFixed(2)}x (target >= 1.8x on 2 threads) ${verdict(ratio >= 1.8)}`);
    }
    for (const [impl, goal] of [['tfjs-wasm', 30], ['tfjs-cpu', 100]] as const) {
      const other = find(impl, 1);
      if (other) {
        const ratio = most.tokensPerSecond / other.tokensPerSecond;
        console.log(`  ${label} on ${most.threads} threads / ${impl}: ${ratio.toFixed(1)}x (target >= ${goal}x) ${verdict(ratio >= goal)}`);
      }
    }
    console.log(`  ${label} MFU on ${most.threads} threads: ${(100 * most.mfu).toFixed(1)}% of the ${most.peakGflops.toFixed(0)} GFLOP/s ${precision} peak (issue 19 target on GPT-2 medium >= 60%); ${(100 * most.mfuSgemm).toFixed(0)}% of sgemm's rate`);
    const g = most.memory.growthAcrossSteps ?? 0;
    console.log(`  ${label} resident memory growth across the timed steps: ${(100 * g).toFixed(1)}% (target < 5%) ${verdict(g < 0.05)}`);
  }
}

try {
  await main();
} catch (err) {
  if (!(err instanceof InsufficientMemoryError || err instanceof UsageError)) throw err;
  console.error(`bench:train: ${err.message}`);
  process.exit(2);
}
