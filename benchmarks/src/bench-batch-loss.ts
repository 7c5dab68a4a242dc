// `npm run bench:batch-loss`: what computing a classifier step's loss over its whole batch costs.
// A row-wise loss (xent) runs each minibatch's forward and backward at once; logconf, whose
// quantile and positive rate are the whole batch's, forwards every minibatch, computes the loss
// once, then runs every backward, recomputing the forward of every minibatch but the last. A
// tfjs loss takes the same path through forwardStep/backwardStep, with the loss in tfjs. Medians
// of per-step times after warm-up, as ratios against xent at the same minibatch size.
import os from 'node:os';
import Table from 'cli-table3';
import { Command, InvalidArgumentError } from 'commander';
import { describeBackend, logconfLossReference, setNumThreads, tf } from '@w2s/kernels';
import { FAMILY, NativeModel, withHead, type Minibatch } from '@w2s/model';
import { mulberry32 } from '@w2s/random';

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected an integer > 0');
  return n;
}

const opts = new Command()
  .name('bench:batch-loss')
  .description("The cost of a whole-batch loss: step times of xent (row-wise) and logconf (whole batch) at two minibatch sizes.")
  .option('--model <size>', `a family size (${Object.keys(FAMILY).join(', ')})`, 'mini')
  .option('--batch-size <n>', 'rows per optimizer step', positiveInteger, 32)
  .option('--minibatch-size <n>', 'rows per forward/backward', positiveInteger, 8)
  .option('--seq-len <n>', 'tokens per row', positiveInteger, 64)
  .option('--steps <n>', 'timed steps per case (after 2 warm-up steps)', positiveInteger, 10)
  .option('--threads <n>', 'CPU threads', positiveInteger, os.availableParallelism())
  .parse()
  .opts<{ model: string; batchSize: number; minibatchSize: number; seqLen: number; steps: number; threads: number }>();

if (!FAMILY[opts.model]) throw new InvalidArgumentError(`--model must be one of ${Object.keys(FAMILY).join(', ')}`);
setNumThreads(opts.threads);
const config = withHead(FAMILY[opts.model], { kind: 'classifier', numClasses: 2 });
const uniform = mulberry32(1);
const B = opts.batchSize, T = opts.seqLen;
const tokens = Int32Array.from({ length: B * T }, () => Math.floor(uniform() * config.vocabSize));
const lengths = Int32Array.from({ length: B }, () => T);
const targets = Float32Array.from({ length: B }, () => 0.1 + 0.8 * uniform()).reduce<number[]>((a, p) => [...a, 1 - p, p], []);
const soft = Float32Array.from(targets);

function minibatches(size: number, loss: { loss: 'xent' } | { loss: 'logconf'; alpha: number }): Minibatch[] {
  const out: Minibatch[] = [];
  for (let from = 0; from < B; from += size) {
    const to = Math.min(B, from + size);
    out.push({ tokens: tokens.slice(from * T, to * T), lengths: lengths.slice(from, to), batch: to - from, seqLen: T, softTargets: soft.slice(2 * from, 2 * to), ...loss });
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median step time of every case; the cases take turns, step by step, so that the machine's drift hits them alike. */
async function timeAll(cases: ((model: NativeModel) => Promise<unknown>)[]): Promise<number[]> {
  const models = cases.map(() => new NativeModel(config, { seed: 0 }));
  const times: number[][] = cases.map(() => []);
  for (let i = 0; i < opts.steps + 2; i++)
    for (const [c, step] of cases.entries()) {
      const started = performance.now();
      await step(models[c]);
      if (i >= 2) times[c].push(performance.now() - started);
    }
  for (const m of models) m.dispose();
  return times.map(median);
}

const optimizer = { lr: 1e-4 };
const tfjsLogconf = async (model: NativeModel, size: number) => {
  const parts = minibatches(size, { loss: 'xent' });
  const logits = await model.forwardStep(parts);
  const dLogits = tf.tidy(() => tf.grad((z: tf.Tensor) => logconfLossReference(z as tf.Tensor2D, tf.tensor2d(soft, [B, 2]), 0.5))(tf.tensor2d(logits, [B, 2])).dataSync() as Float32Array);
  await model.backwardStep(Float32Array.from(dLogits));
  await model.optimizerStep(optimizer);
};

const cases: { loss: string; minibatch: number; step: (m: NativeModel) => Promise<unknown> }[] = [];
for (const size of [B, opts.minibatchSize]) {
  cases.push({ loss: 'xent (row-wise)', minibatch: size, step: (m) => m.trainStep(minibatches(size, { loss: 'xent' }), optimizer) });
  cases.push({ loss: 'logconf (whole batch)', minibatch: size, step: (m) => m.trainStep(minibatches(size, { loss: 'logconf', alpha: 0.5 }), optimizer) });
  cases.push({ loss: 'tfjs logconf (forwardStep/backwardStep)', minibatch: size, step: (m) => tfjsLogconf(m, size) });
}
const medians = await timeAll(cases.map((c) => c.step));
const rows = cases.map((c, i) => ({ loss: c.loss, minibatch: c.minibatch, ms: medians[i] }));

console.log(`${describeBackend()}; ${opts.threads} threads; ${os.cpus()[0]?.model ?? 'unknown CPU'}`);
console.log(`model ${opts.model} classifier (d ${config.dModel}, ${config.nLayers} layers), batch ${B} × ${T} tokens, medians of ${opts.steps} steps after 2 warm-up steps`);
const table = new Table({ head: ['loss', 'minibatch', 'ms / step', '÷ xent, same minibatch'] });
for (const r of rows) {
  const xent = rows.find((x) => x.minibatch === r.minibatch && x.loss.startsWith('xent'))!;
  table.push([r.loss, r.minibatch, r.ms.toFixed(1), (r.ms / xent.ms).toFixed(3)]);
}
console.log(table.toString());
