// `npm run bench:train`: training throughput of a GPT-2-style language model (d = 256, 4 layers,
// 8 heads, T = 128, B = 32, vocabulary 8192): the native engine on 1 thread and on all threads
// against the tfjs twin on tfjs-backend-cpu and tfjs-backend-wasm, with the sgemm rate measured in
// this same run as the yardstick of model FLOP utilisation (MFU), and the resident memory of the
// native engine across its timed steps. Medians of per-step times after warm-up.
import { renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import Table from 'cli-table3';
import { Command, InvalidArgumentError } from 'commander';
import { backendInfo, describeBackend, setNumThreads, sgemm, tf } from '@w2s/kernels';
import {
  NativeModel,
  PRESETS,
  TwinAdamW,
  headDim,
  lmLoss,
  twinLossAndGradients,
  type Minibatch,
  type ModelConfig,
} from '@w2s/model';
import { mulberry32 } from '@w2s/random';

type Impl = 'native' | 'tfjs-cpu' | 'tfjs-wasm';

/** Rows of the JSON output. */
type Row =
  | { impl: Impl; threads: number; tokensPerSecond: number; msPerStep: number; mfu: number; steps: number; batch: number; seqLen: number }
  | { impl: 'sgemm'; threads: number; gflops: number; shape: number[] };

interface Options {
  json?: string;
  steps: number;
  tfjsSteps: number;
  tfjsBatch: number;
  threads: number;
  quick: boolean;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected an integer > 0');
  return n;
}

function parseOptions(): Options {
  return new Command()
    .name('bench:train')
    .description('Training tokens per second: the native engine vs the tfjs twin on tfjs-backend-cpu and -wasm.')
    .option('--json <file>', 'also write the rows as a JSON array to this file')
    .option('--steps <n>', 'timed native steps on all threads (resident memory is compared across them)', positiveInteger, 200)
    .option('--tfjs-steps <n>', 'timed tfjs steps per backend (after a short warm-up step)', positiveInteger, 1)
    .option(
      '--tfjs-batch <n>',
      'sequences per tfjs step: tfjs-backend-cpu needs ~0.4 s per token, so a full batch of 32 would take ~30 min a step; time per token is linear in the batch',
      positiveInteger,
      1,
    )
    .option('--threads <n>', 'threads for the "all threads" row (default: all cores)', positiveInteger, os.availableParallelism())
    .option('--quick', 'B = 4 and 20 steps: a smoke run', false)
    .parse()
    .opts<Options>();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Training FLOPs of one step: every matrix product counted forward and twice backward (6 per
 * weight per token, the LM head included), attention the FlashAttention way (forward
 * 4·B·H·T²·hd halved when causal, forward+backward 3.5× that).
 */
function stepFlops(c: ModelConfig, batch: number, seqLen: number): number {
  const d = c.dModel, hd = headDim(c);
  const qkv = (c.nHeads + 2 * c.nKvHeads) * hd;
  const perLayer = d * qkv + c.nHeads * hd * d + (c.architecture.mlp === 'swiglu' ? 3 : 2) * d * c.dFf;
  const weights = c.nLayers * perLayer + d * c.vocabSize;
  const tokens = batch * seqLen;
  const attention = 3.5 * ((4 * batch * c.nHeads * seqLen * seqLen * hd) / 2) * c.nLayers;
  return 6 * tokens * weights + attention;
}

function randomLmBatch(c: ModelConfig, batch: number, seqLen: number, seed: number): Minibatch {
  const uniform = mulberry32(seed);
  const stream = Int32Array.from({ length: batch * (seqLen + 1) }, () => Math.floor(uniform() * c.vocabSize));
  const tokens = new Int32Array(batch * seqLen);
  const targets = new Int32Array(batch * seqLen);
  for (let b = 0; b < batch; b++) {
    tokens.set(stream.subarray(b * (seqLen + 1), b * (seqLen + 1) + seqLen), b * seqLen);
    targets.set(stream.subarray(b * (seqLen + 1) + 1, (b + 1) * (seqLen + 1)), b * seqLen);
  }
  return { tokens, lengths: new Int32Array(batch).fill(seqLen), batch, seqLen, loss: 'token', targets };
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

function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
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

async function main(): Promise<void> {
  const opts = parseOptions();
  tf.env().set('PROD', true);
  const config = PRESETS['gpt2-bench'];
  const batch = opts.quick ? 4 : 32;
  const seqLen = config.contextLength;
  const steps = opts.quick ? Math.min(opts.steps, 20) : opts.steps;
  const tokensPerStep = batch * seqLen;
  const flops = stepFlops(config, batch, seqLen);
  const optimizer = { lr: 3e-4, weightDecay: 0.1, maxGradNorm: 1 };
  const rows: Row[] = [];
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  console.log(`machine: ${cpu}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  console.log(describeBackend({ ...backendInfo(), threads: opts.threads }));
  console.log(
    `model: gpt2 d=${config.dModel} layers=${config.nLayers} heads=${config.nHeads} vocab=${config.vocabSize}; ` +
      `batch ${batch} x ${seqLen} tokens; ${(flops / 1e9).toFixed(1)} GFLOP per training step\n`,
  );

  const sgemmByThreads = new Map<number, number>();
  for (const threads of [...new Set([1, opts.threads])]) {
    const { gflops, shape } = sgemmRate(threads);
    sgemmByThreads.set(threads, gflops);
    rows.push({ impl: 'sgemm', threads, gflops, shape });
    console.log(`  sgemm ${shape.join('x')} on ${threads} thread(s): ${gflops.toFixed(1)} GFLOP/s`);
  }

  const data = randomLmBatch(config, batch, seqLen, 1);
  let memory = { before: 0, after: 0 };
  for (const threads of [...new Set([1, opts.threads])]) {
    setNumThreads(threads);
    const model = new NativeModel(config, { seed: 1 });
    const timed = threads === opts.threads ? steps : Math.min(steps, 5);
    for (let i = 0; i < 2; i++) await model.trainStep([data], optimizer);
    if (threads === opts.threads) memory.before = rssMiB();
    const times: number[] = [];
    for (let i = 0; i < timed; i++) {
      const t0 = performance.now();
      await model.trainStep([data], optimizer);
      times.push(performance.now() - t0);
    }
    if (threads === opts.threads) memory.after = rssMiB();
    model.dispose();
    const ms = median(times);
    const mfu = flops / (ms * 1e6) / sgemmByThreads.get(threads)!;
    rows.push({ impl: 'native', threads, tokensPerSecond: tokensPerStep / (ms / 1000), msPerStep: ms, mfu, steps: timed, batch, seqLen });
    console.log(`  native on ${threads} thread(s): ${ms.toFixed(0)} ms/step over ${timed} steps`);
  }

  // The twin: tfjs autodiff for the gradients, TwinAdamW for the update (JS loops over Float32Arrays),
  // on a smaller batch of the same sequences (see --tfjs-batch); warm-up on a 16-token batch.
  const sgemm1 = sgemmByThreads.get(1)!;
  const initial = new NativeModel(config, { seed: 1 });
  const weights = initial.exportWeights();
  initial.dispose();
  const tfjsBatch = Math.min(opts.tfjsBatch, batch);
  const tfjsData = randomLmBatch(config, tfjsBatch, seqLen, 2) as Minibatch & { targets: Int32Array };
  const warmData = randomLmBatch(config, 1, 16, 3) as Minibatch & { targets: Int32Array };
  const tfjsFlops = stepFlops(config, tfjsBatch, seqLen);
  for (const impl of ['tfjs-cpu', 'tfjs-wasm'] as const) {
    await useTfjs(impl);
    const adam = new TwinAdamW(config, optimizer);
    const step = (mb: Minibatch & { targets: Int32Array }) => {
      const { gradients } = twinLossAndGradients(config, weights, mb, (logits) => lmLoss(logits, mb.targets));
      adam.step(weights, gradients);
    };
    step(warmData);
    const times: number[] = [];
    for (let i = 0; i < opts.tfjsSteps; i++) {
      const t0 = performance.now();
      step(tfjsData);
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    const tokens = tfjsBatch * seqLen;
    rows.push({ impl, threads: 1, tokensPerSecond: tokens / (ms / 1000), msPerStep: ms, mfu: tfjsFlops / (ms * 1e6) / sgemm1, steps: opts.tfjsSteps, batch: tfjsBatch, seqLen });
    console.log(`  ${impl}: ${ms.toFixed(0)} ms/step of ${tfjsBatch} x ${seqLen} tokens over ${opts.tfjsSteps} step(s)`);
  }

  printTable(rows);
  printTargets(rows, opts.threads, memory);
  if (opts.json) {
    const tmp = `${opts.json}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(rows, null, 2) + '\n');
    renameSync(tmp, opts.json);
    console.log(`\nrows written to ${opts.json}`);
  }
}

function printTable(rows: Row[]): void {
  const table = new Table({ style: { head: [], border: [] }, head: ['impl', 'threads', 'batch x T', 'tokens/s', 'ms/step', 'MFU', 'steps'] });
  for (const r of rows)
    if (r.impl !== 'sgemm')
      table.push([r.impl, r.threads, `${r.batch} x ${r.seqLen}`, r.tokensPerSecond.toFixed(1), r.msPerStep.toFixed(0), `${(100 * r.mfu).toFixed(2)}%`, r.steps]);
  console.log('\n' + table.toString());
}

function printTargets(rows: Row[], threads: number, memory: { before: number; after: number }): void {
  const find = (impl: Impl, t: number) => rows.find((r) => r.impl === impl && r.threads === t) as { tokensPerSecond: number; mfu: number } | undefined;
  const native = find('native', threads)!;
  console.log('\ntargets (native on all threads):');
  for (const [impl, goal] of [['tfjs-wasm', 30], ['tfjs-cpu', 100]] as const) {
    const other = find(impl, 1);
    if (other) {
      const ratio = native.tokensPerSecond / other.tokensPerSecond;
      console.log(`  vs ${impl}: ${ratio.toFixed(1)}x (target >= ${goal}x) ${ratio >= goal ? 'met' : 'NOT met'}`);
    }
  }
  console.log(`  MFU against sgemm on ${threads} threads: ${(100 * native.mfu).toFixed(1)}% (target >= 35%) ${native.mfu >= 0.35 ? 'met' : 'NOT met'}`);
  const growth = (memory.after - memory.before) / memory.before;
  console.log(
    `  resident memory across the timed steps: ${memory.before.toFixed(0)} -> ${memory.after.toFixed(0)} MiB ` +
      `(${(100 * growth).toFixed(1)}%, target < 5%) ${growth < 0.05 ? 'met' : 'NOT met'}`,
  );
}

await main();
