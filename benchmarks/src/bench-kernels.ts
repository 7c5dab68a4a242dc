// `npm run bench:kernels`: times the native kernels against the tfjs references on tfjs-backend-cpu
// and tfjs-backend-wasm, with the BLAS's sgemm and a memory copy as the machine's yardsticks, all in
// this one process run. Medians after warm-up; ratios against the yardsticks measured here.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import Table from 'cli-table3';
import { Command, InvalidArgumentError } from 'commander';
import {
  attentionBackward,
  attentionForward,
  attentionReference,
  attentionWorkspaceBytes,
  logconfLoss,
  logconfLossReference,
  backendInfo,
  copyFloat32,
  describeBackend,
  numThreads,
  productLoss,
  productLossReference,
  setNumThreads,
  sgemm,
  xentLoss,
  xentLossReference,
  tf,
  type Tensor,
} from '@w2s/kernels';

type Kernel =
  | 'attention.forward'
  | 'attention.forward+backward'
  | 'loss.xent'
  | 'loss.logconf'
  | 'loss.product'
  | 'sgemm'
  | 'memcpy';
type Impl = 'native' | 'tfjs-cpu' | 'tfjs-wasm' | 'onednn' | 'openblas' | 'blocked-gemm' | 'memcpy';

/** One row of the JSON output. */
interface Row {
  kernel: Kernel;
  impl: Impl;
  threads: number;
  shape: number[];
  ms: number;
  gflops: number | null;
  reps: number;
}

interface Options {
  json?: string;
  reps: number;
  budget: number;
  tfjsBudget: number;
  threads: number;
  quick: boolean;
}

const ATTENTION_SHAPES: [number, number, number, number][] = [
  [8, 8, 256, 64],
  [4, 8, 1024, 64],
  [1, 8, 4096, 64],
];
const LOSS_ROWS = 1_000_000;
const LOSS_CLASSES = 2;
const GEMM_SIZE = 1024;
const MEMORY_SHAPE: [number, number, number, number] = [1, 8, 4096, 64];

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

function positiveInteger(value: string): number {
  const n = positiveNumber(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer > 0');
  return n;
}

function parseOptions(): Options {
  const program = new Command()
    .name('bench:kernels')
    .description('Times the native kernels against tfjs-backend-cpu and tfjs-backend-wasm, with sgemm and memcpy yardsticks.')
    .option('--json <file>', 'also write the rows as a JSON array to this file')
    .option('--reps <n>', 'timed repetitions per measurement (after one warm-up run)', positiveInteger, 7)
    .option('--budget <seconds>', 'stop repeating a native measurement after this long (at least 3 reps)', positiveNumber, 10)
    .option('--tfjs-budget <seconds>', 'skip a tfjs measurement whose estimated time for warm-up plus 3 reps exceeds this', positiveNumber, 90)
    .option('--threads <n>', 'threads for the "all threads" rows (default: all cores)', positiveInteger, os.availableParallelism())
    .option('--quick', 'only the smallest attention shape and N = 100,000 for the losses (a smoke run)', false)
    .parse();
  return program.opts<Options>();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Warm-up (`warmups` runs, more until 0.2 s have passed), then timed runs: `reps` of them, or fewer
 * (at least 3) once `budget` s have passed.
 */
function time(run: () => void, reps: number, budgetSeconds: number, warmups = 2): { ms: number; reps: number } {
  const warmStart = performance.now();
  for (let i = 0; i < warmups || (performance.now() - warmStart < 200 && i < reps); i++) {
    run();
    if (performance.now() - warmStart > budgetSeconds * 1000) break;
  }
  const times: number[] = [];
  const start = performance.now();
  while (times.length < reps && (times.length < 3 || performance.now() - start < budgetSeconds * 1000)) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), reps: times.length };
}

function randomArray(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}

function randomDistributions(n: number, c: number): Float32Array {
  const y = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += y[i * c + j] = Math.random();
    for (let j = 0; j < c; j++) y[i * c + j] /= s;
  }
  return y;
}

/** FlashAttention FLOP count: forward 4 B H T^2 D, halved when causal; forward+backward 3.5x that. */
function attentionFlops([b, h, t, d]: number[], causal: boolean, withBackward: boolean): number {
  const forward = (4 * b * h * t * t * d) / (causal ? 2 : 1);
  return withBackward ? 3.5 * forward : forward;
}

function cpuModel(): string {
  return os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
}

// ---- peak memory of attention forward, measured in a child process ---------------------------------

interface MemoryReport {
  extraBytes: number | null;
  workspaceBytes: number;
  note: string;
}

/** Child mode: allocate inputs, reset the peak-RSS mark, run one forward, report the peak increase. */
function measureMemoryChild(shape: number[]): void {
  const [B, H, T, D] = shape;
  const make = (): Tensor => ({ data: randomArray(B * T * H * D), shape: [B, T, H, D] });
  const q = make();
  const k = make();
  const v = make();
  (globalThis as { gc?: () => void }).gc?.();
  const status = () => readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status())?.[1]) * 1024;
  let note = 'peak RSS increase during the call, less the outputs (out, lse)';
  let resetWorked = true;
  try {
    writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  } catch {
    resetWorked = false;
    note = 'could not reset the peak-RSS mark (/proc/self/clear_refs): only the computed workspace is reported';
  }
  const before = kib('VmRSS');
  const { out, lse } = attentionForward(q, k, v, { causal: true });
  const peak = kib('VmHWM');
  const outputs = out.data.byteLength + lse.data.byteLength;
  const report: MemoryReport = {
    extraBytes: resetWorked ? Math.max(0, peak - before - outputs) : null,
    workspaceBytes: attentionWorkspaceBytes(D, numThreads()).forward,
    note,
  };
  process.stdout.write(JSON.stringify(report));
}

function measureMemory(threads: number): MemoryReport {
  const self = fileURLToPath(import.meta.url);
  const output = execFileSync(process.execPath, ['--expose-gc', self, '--memory-child', String(threads), MEMORY_SHAPE.join(',')], {
    encoding: 'utf8',
  });
  return JSON.parse(output) as MemoryReport;
}

// ---- the benchmark -----------------------------------------------------------------------------------

async function useTfjs(impl: 'tfjs-cpu' | 'tfjs-wasm'): Promise<void> {
  if (impl === 'tfjs-wasm') {
    const require = createRequire(import.meta.url);
    const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    setWasmPaths(resolve(wasmDir, 'dist') + '/');
    await import('@tensorflow/tfjs-backend-wasm');
  }
  const ok = await tf.setBackend(impl === 'tfjs-cpu' ? 'cpu' : 'wasm');
  if (!ok) throw new Error(`tfjs backend ${impl} failed to initialise`);
  await tf.ready();
}

async function main(): Promise<void> {
  const opts = parseOptions();
  tf.env().set('PROD', true);
  const info = backendInfo();
  const rows: Row[] = [];
  const skipped: string[] = [];
  const attentionShapes = opts.quick ? ATTENTION_SHAPES.slice(0, 1) : ATTENTION_SHAPES;
  const lossRows = opts.quick ? 100_000 : LOSS_ROWS;
  const threadCounts = [...new Set([1, opts.threads])];

  console.log(`machine: ${cpuModel()}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  console.log(describeBackend({ ...info, threads: opts.threads }));
  console.log(`medians of up to ${opts.reps} runs after warm-up; "all threads" = ${opts.threads}\n`);

  const add = (row: Omit<Row, 'gflops'>, flops: number | null) => {
    const gflops = flops === null ? null : flops / (row.ms * 1e6);
    rows.push({ ...row, gflops });
    const rate = gflops === null ? '' : `  ${gflops.toFixed(1)} GFLOP/s`;
    console.log(`  ${row.kernel.padEnd(27)} ${row.impl.padEnd(12)} ${String(row.threads).padStart(2)} thr  [${row.shape.join(', ')}]  ${row.ms.toFixed(2)} ms${rate}`);
  };

  // Yardsticks: sgemm 1024^3 and a memory copy the size of a loss's inputs plus outputs.
  const gemmImpl: Impl = info.blas.startsWith('onednn') ? 'onednn' : info.blas.startsWith('openblas') ? 'openblas' : 'blocked-gemm';
  const a = randomArray(GEMM_SIZE * GEMM_SIZE);
  const b = randomArray(GEMM_SIZE * GEMM_SIZE);
  const copyFloats = lossRows * LOSS_CLASSES * 3;
  const src = randomArray(copyFloats);
  const dst = new Float32Array(copyFloats);
  // Native attention and losses.
  const attentionInputs = attentionShapes.map(([B, H, T, D]) => {
    const make = (): Tensor => ({ data: randomArray(B * T * H * D), shape: [B, T, H, D] });
    return { shape: [B, H, T, D], q: make(), k: make(), v: make(), dOut: make() };
  });
  const logits = randomArray(lossRows * LOSS_CLASSES, 3);
  const targets = randomDistributions(lossRows, LOSS_CLASSES);
  // The losses write into a reused gradient buffer, as a training loop does (and as the memcpy
  // yardstick copies into a reused destination): a fresh 8 MB array would add its page faults.
  const dLogits = new Float32Array(lossRows * LOSS_CLASSES);
  const losses = {
    'loss.xent': () => xentLoss(logits, targets, LOSS_CLASSES, { dLogits }),
    'loss.logconf': () => logconfLoss(logits, targets, LOSS_CLASSES, { alpha: 0.5, dLogits }),
    'loss.product': () => productLoss(logits, targets, LOSS_CLASSES, { alpha: 1, beta: 1, dLogits }),
  } as const;
  for (const threads of threadCounts) {
    setNumThreads(threads);
    for (const { shape, q, k, v, dOut } of attentionInputs) {
      const opts2 = { causal: true };
      const f = time(() => attentionForward(q, k, v, opts2), opts.reps, opts.budget);
      add({ kernel: 'attention.forward', impl: 'native', threads, shape, ...f }, attentionFlops(shape, true, false));
      const fb = time(() => {
        const { out, lse } = attentionForward(q, k, v, opts2);
        attentionBackward(dOut, q, k, v, out, lse, opts2);
      }, opts.reps, opts.budget);
      add({ kernel: 'attention.forward+backward', impl: 'native', threads, shape, ...fb }, attentionFlops(shape, true, true));
    }
    for (const [kernel, run] of Object.entries(losses)) {
      const t = time(run, opts.reps, opts.budget);
      add({ kernel: kernel as Kernel, impl: 'native', threads, shape: [lossRows, LOSS_CLASSES], ...t }, null);
    }
  }
  for (const threads of threadCounts) {
    setNumThreads(threads);
    const m = time(() => copyFloat32(dst, src), opts.reps, opts.budget);
    add({ kernel: 'memcpy', impl: 'memcpy', threads, shape: [copyFloats], ...m }, null);
    const g = time(() => sgemm(a, b, GEMM_SIZE, GEMM_SIZE, GEMM_SIZE), opts.reps, opts.budget);
    add({ kernel: 'sgemm', impl: gemmImpl, threads, shape: [GEMM_SIZE, GEMM_SIZE, GEMM_SIZE], ...g }, 2 * GEMM_SIZE ** 3);
    if (gemmImpl !== 'blocked-gemm') {
      // The project's own portable GEMM too: a BLAS may run an older kernel than the CPU allows
      // (OpenBLAS under OPENBLAS_CORETYPE), and then the fallback is the stronger yardstick.
      const own = time(() => sgemm(a, b, GEMM_SIZE, GEMM_SIZE, GEMM_SIZE, { impl: 'blocked' }), opts.reps, opts.budget);
      add({ kernel: 'sgemm', impl: 'blocked-gemm', threads, shape: [GEMM_SIZE, GEMM_SIZE, GEMM_SIZE], ...own }, 2 * GEMM_SIZE ** 3);
    }
  }

  setNumThreads(opts.threads);
  const memory = opts.quick ? null : measureMemory(opts.threads);

  // tfjs baselines (single-threaded by construction: tfjs-backend-cpu is plain JS, and
  // tfjs-backend-wasm runs single-threaded under Node).
  for (const impl of ['tfjs-cpu', 'tfjs-wasm'] as const) {
    await useTfjs(impl);
    // Estimated seconds per run, from the previous (smaller) shape, scaled by the FLOPs.
    let secondsPerFlop = 0;
    for (const { shape, q, k, v, dOut } of attentionInputs) {
      const [B, H, T, D] = shape;
      const t4 = (x: Tensor) => tf.tensor4d(x.data, [B, T, H, D]);
      const [tq, tk, tv, tg] = [t4(q), t4(k), t4(v), t4(dOut)];
      const forward = () => tf.tidy(() => attentionReference(tq, tk, tv, { causal: true }).out.dataSync());
      const loss = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        tf.sum(tf.mul(attentionReference(x as tf.Tensor4D, y as tf.Tensor4D, z as tf.Tensor4D, { causal: true }).out, tg));
      const both = () =>
        tf.tidy(() => {
          for (const g of tf.grads(loss)([tq, tk, tv])) g.dataSync();
        });
      for (const [kernel, run, withBackward] of [
        ['attention.forward', forward, false],
        ['attention.forward+backward', both, true],
      ] as const) {
        // The reference computes the full T x T scores (no causal saving): count its real work.
        const work = attentionFlops(shape, false, withBackward);
        const estimate = secondsPerFlop * work * 4;
        if (secondsPerFlop > 0 && estimate > opts.tfjsBudget) {
          skipped.push(`${kernel} ${impl} [${shape.join(', ')}]: estimated ${estimate.toFixed(0)} s for warm-up + 3 runs > --tfjs-budget ${opts.tfjsBudget} s`);
          continue;
        }
        const t = time(run, Math.min(opts.reps, 3), opts.tfjsBudget, 1);
        secondsPerFlop = Math.max(secondsPerFlop, t.ms / 1000 / work);
        add({ kernel, impl, threads: 1, shape, ...t }, attentionFlops(shape, true, withBackward));
      }
      tf.dispose([tq, tk, tv, tg]);
    }
    const tz = tf.tensor2d(logits, [lossRows, LOSS_CLASSES]);
    const ty = tf.tensor2d(targets, [lossRows, LOSS_CLASSES]);
    const references = {
      'loss.xent': (z: tf.Tensor) => xentLossReference(z as tf.Tensor2D, ty),
      'loss.logconf': (z: tf.Tensor) => logconfLossReference(z as tf.Tensor2D, ty, 0.5),
      'loss.product': (z: tf.Tensor) => productLossReference(z as tf.Tensor2D, ty, 1, 1),
    } as const;
    for (const [kernel, f] of Object.entries(references)) {
      const run = () =>
        tf.tidy(() => {
          const { value, grad } = tf.valueAndGrad(f)(tz);
          value.dataSync();
          grad.dataSync();
        });
      const t = time(run, Math.min(opts.reps, 5), opts.tfjsBudget, 1);
      add({ kernel: kernel as Kernel, impl, threads: 1, shape: [lossRows, LOSS_CLASSES], ...t }, null);
    }
    tf.dispose([tz, ty]);
  }

  printTable(rows);
  printTargets(rows, opts.threads, memory, gemmImpl);
  if (skipped.length) console.log(`\nskipped:\n  ${skipped.join('\n  ')}`);
  if (opts.json) {
    const path = resolve(process.env.W2S_BENCH_CWD || process.cwd(), opts.json); // the caller's directory (root package.json)
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(rows.map(({ reps: _reps, ...row }) => row), null, 2) + '\n');
    renameSync(temporary, path);
    console.log(`\nwrote ${rows.length} rows to ${path}`);
  }
}

function printTable(rows: Row[]): void {
  const table = new Table({ style: { head: [], border: [] }, head: ['kernel', 'impl', 'threads', 'shape', 'median ms', 'GFLOP/s', 'runs'] });
  for (const r of rows)
    table.push([r.kernel, r.impl, r.threads, `[${r.shape.join(', ')}]`, r.ms.toFixed(2), r.gflops === null ? '' : r.gflops.toFixed(1), r.reps]);
  console.log(`\n${table.toString()}`);
}

function printTargets(rows: Row[], threads: number, memory: MemoryReport | null, gemmImpl: Impl): void {
  const find = (kernel: Kernel, impl: Impl, t: number, shape?: number[]) =>
    rows.find((r) => r.kernel === kernel && r.impl === impl && r.threads === t && (!shape || r.shape.join() === shape.join()));
  const table = new Table({ style: { head: [], border: [] }, head: ['target', 'measured', 'goal', ''] });
  const check = (name: string, value: number | undefined, goal: string, ok: (v: number) => boolean, format: (v: number) => string) =>
    table.push([name, value === undefined ? 'not measured' : format(value), goal, value === undefined ? '' : ok(value) ? 'met' : 'MISSED']);
  const gemm = find('sgemm', gemmImpl, threads);
  const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
  const times = (v: number) => `${v.toFixed(0)}x`;
  for (const shape of ATTENTION_SHAPES) {
    const label = `[${shape.join(', ')}]`;
    const fwd = find('attention.forward', 'native', threads, shape);
    const fb = find('attention.forward+backward', 'native', threads, shape);
    if (!fwd || !fb || !gemm?.gflops) continue;
    check(`attention forward ${label} vs ${gemmImpl} sgemm GFLOP/s`, fwd.gflops! / gemm.gflops, '>= 40%', (v) => v >= 0.4, pct);
    check(`attention fwd+bwd ${label} vs ${gemmImpl} sgemm GFLOP/s`, fb.gflops! / gemm.gflops, '>= 30%', (v) => v >= 0.3, pct);
    // Where the project's own GEMM beats the BLAS (an old OpenBLAS kernel), hold attention to it too.
    const own = find('sgemm', 'blocked-gemm', threads);
    if (gemmImpl !== 'blocked-gemm' && own?.gflops && own.gflops > gemm.gflops) {
      check(`attention forward ${label} vs blocked-gemm GFLOP/s`, fwd.gflops! / own.gflops, '>= 40%', (v) => v >= 0.4, pct);
      check(`attention fwd+bwd ${label} vs blocked-gemm GFLOP/s`, fb.gflops! / own.gflops, '>= 30%', (v) => v >= 0.3, pct);
    }
    for (const [impl, goal] of [['tfjs-wasm', 50], ['tfjs-cpu', 300]] as const)
      for (const [kernel, native] of [['attention.forward', fwd], ['attention.forward+backward', fb]] as const) {
        const base = find(kernel, impl, 1, shape);
        check(`${kernel} ${label} native vs ${impl}`, base ? base.ms / native.ms : undefined, `>= ${goal}x`, (v) => v >= goal, times);
      }
  }
  const copy = find('memcpy', 'memcpy', threads);
  for (const kernel of ['loss.xent', 'loss.logconf', 'loss.product'] as const) {
    const r = find(kernel, 'native', threads);
    if (r && copy) check(`${kernel} time vs copying its inputs and outputs`, r.ms / copy.ms, '<= 3x', (v) => v <= 3, (v) => `${v.toFixed(2)}x`);
  }
  if (memory) {
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    check(`attention forward [${MEMORY_SHAPE.join(', ')}] peak extra memory`, memory.extraBytes ?? undefined, '< 64 MiB', (v) => v < 64 * 2 ** 20, mib);
    console.log(`\npeak extra memory: ${memory.note}; the kernels' own scratch is ${mib(memory.workspaceBytes)} (${threads} threads)`);
  }
  console.log(`\ntargets (ratios within this run, ${threads} threads):\n${table.toString()}`);
}

const memoryChild = process.argv.indexOf('--memory-child');
if (memoryChild >= 0) {
  setNumThreads(Number(process.argv[memoryChild + 1]));
  measureMemoryChild(process.argv[memoryChild + 2].split(',').map(Number));
} else {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
