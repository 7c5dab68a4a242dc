// `w2s sweep --config FILE --out DIR`: a grid of experiments (see @w2s/pipeline's sweep/config.ts for the
// file's fields). Every distinct training run is computed once, here or in --workers processes,
// or, with --queue redis://..., by `w2s worker` processes on any number of machines (see
// @w2s/queue; --precision plans the runs for the workers of that --precision); finished runs in DIR's results store are reused, so an interrupted sweep resumes
// where it stopped (a queued one goes on in the queue, and the same command attaches to it).
// Writes DIR/experiments/<dataset>-<weak>-<strong>-seed<n>.summary.json per experiment and
// DIR/sweep.json (the outcome, failed runs with their errors), then prints the PGR table
// (`w2s report DIR` draws the plots).
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { ResultsStore, buildTables, isLossModule, readSweepConfig, renderTerminal, runSweep, serveSweepWorker, writeJson, type SweepConfig, type SweepOutcome } from '@w2s/pipeline';
import { parseQueueUrl, runQueuedSweep } from '@w2s/queue';
import { integerOption } from '../options.js';
import { ProgressDisplay, QueueProgressDisplay } from '../progress.js';
import { addDeviceOptions, deviceArgs, useDevice, type DeviceFlags } from '../device.js';
import { applyThreads } from '../threads.js';

interface SweepFlags extends DeviceFlags {
  config: string;
  out: string;
  workers?: number;
  threads?: number;
  queue?: string;
  artifacts?: 'redis' | 'shared';
  attempts?: number;
  requeue?: boolean;
  json: boolean;
}

export async function runSweepCommand(flags: SweepFlags): Promise<number> {
  // A queued sweep is planned with --precision (its runs record it), and trained by the workers of
  // that precision, on whatever device each `w2s worker --device` names.
  if (flags.queue === undefined) useDevice(flags);
  else if (flags.device !== 'cpu')
    throw new Error(
      `--device belongs to a local sweep; with --queue, the workers train where \`w2s worker --device\` says (--precision ${flags.precision === 'float32' ? 'bf16|tf32' : flags.precision} plans the runs for the workers started with that --precision)`,
    );
  const config = await readSweepConfig(flags.config);
  const out = resolve(flags.out);
  const done: { outcome: SweepOutcome; queue?: { url: string; sweepId: string } } | null = flags.queue === undefined ? { outcome: await localSweep(flags, config, out) } : await queuedSweep(flags, config, out, flags.queue);
  if (done === null) return 130;
  const { outcome, queue } = done;
  for (const { key, summary } of outcome.summaries) await writeJson(resolve(out, 'experiments', `${key}.summary.json`), summary);
  const record = {
    config: resolve(flags.config),
    experiments: outcome.summaries.map((s) => s.key),
    runsComputed: outcome.computed,
    runsReused: outcome.reused,
    failed: outcome.failed,
    ...(queue ? { queue } : {}),
  };
  await writeJson(resolve(out, 'sweep.json'), record);
  if (flags.json) process.stdout.write(JSON.stringify({ ...record, summaries: outcome.summaries.map((s) => s.summary) }, null, 2) + '\n');
  else {
    if (outcome.summaries.length > 0) process.stdout.write(renderTerminal(buildTables(outcome.summaries.map((s) => s.summary))) + '\n');
    process.stdout.write(
      `${outcome.summaries.length} experiments; runs: ${outcome.computed.length} trained, ${outcome.reused.length} reused, ${outcome.failed.length} failed\n` +
        outcome.failed.map((f) => `  failed ${f.name}: ${f.message}\n`).join('') +
        `results in ${out} (plots: w2s report ${flags.out})\n`,
    );
  }
  return outcome.failed.length > 0 ? 1 : 0;
}

async function localSweep(flags: SweepFlags, config: SweepConfig, out: string): Promise<SweepOutcome> {
  if (flags.artifacts !== undefined || flags.attempts !== undefined || flags.requeue !== undefined)
    throw new Error('--artifacts, --attempts and --requeue belong to a sweep on a queue: give --queue redis://HOST:PORT too');
  const workers = flags.workers ?? 1;
  const threads = flags.threads ?? (workers > 1 ? 1 : undefined);
  applyThreads(threads);
  const display = new ProgressDisplay();
  const entry = process.argv[1];
  try {
    return await runSweep(config, {
      store: new ResultsStore(out),
      workers,
      spawnWorker: () =>
        fork(entry, ['_sweep-worker', ...(threads !== undefined ? ['--threads', String(threads)] : []), ...deviceArgs(flags)], {
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        }),
      progress: display,
    });
  } finally {
    display.stop();
  }
}

/** Enqueues (or attaches to) the sweep and follows it; null when interrupted (the sweep goes on in the queue). */
async function queuedSweep(flags: SweepFlags, config: SweepConfig, out: string, url: string): Promise<{ outcome: SweepOutcome; queue: { url: string; sweepId: string } } | null> {
  if (flags.workers !== undefined || flags.threads !== undefined)
    throw new Error('--workers and --threads belong to a local sweep; with --queue, start `w2s worker --queue URL [--concurrency N] [--threads N]` on the machines that train');
  const modules = config.losses.filter(isLossModule);
  if (modules.length > 0)
    throw new Error(`loss modules (${modules.join(', ')}) run in local sweeps only: \`w2s worker\` processes on other machines cannot load them`);
  const address = parseQueueUrl(url, process.env.W2S_REDIS_PASSWORD);
  const display = new QueueProgressDisplay();
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const outcome = await runQueuedSweep(config, {
      address,
      store: new ResultsStore(out),
      artifacts: flags.artifacts ?? 'redis',
      attempts: flags.attempts ?? 3,
      requeue: flags.requeue ?? false,
      precision: flags.precision,
      progress: display,
      signal: interrupt.signal,
    });
    if (!outcome.interrupted) return { outcome, queue: { url: address.display, sweepId: outcome.sweepId } };
    display.log(
      outcome.enqueued
        ? `stopped following sweep ${outcome.sweepId}: it goes on in the queue at ${address.display}; the same command attaches to it again`
        : `interrupted before sweep ${outcome.sweepId} was enqueued: nothing is in the queue`,
    );
    return null;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    display.stop();
  }
}

export function sweepCommand(): Command {
  const command = new Command('sweep')
    .description('a grid of weak-to-strong experiments (datasets x model pairs x losses x seeds), each training run done once')
    .requiredOption('--config <file>', 'the sweep file (JSON: datasets, pairs or models, losses, seeds, ...)')
    .requiredOption('--out <dir>', 'results folder: the store of runs, the experiment summaries and sweep.json')
    .option('--workers <n>', 'worker processes running trainings in parallel (default 1)', integerOption(1, 256))
    .option('--threads <n>', 'CPU threads per process (default: all cores with one worker, 1 with several)', integerOption(1, 4096))
    .option('--queue <url>', 'enqueue the runs on a Redis queue, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], for `w2s worker` processes to train; follow until done (rerun to attach)')
    .addOption(new Option('--artifacts <where>', 'with --queue: how runs reach this machine: through Redis (default), or written by the workers into --out, a folder they all mount at the same path').choices(['redis', 'shared']))
    .option('--attempts <n>', "with --queue: tries of a run that fails for its worker's reasons (default 3; a run's own error fails at once)", integerOption(1, 100))
    .option('--requeue', 'with --queue: replace a finished sweep of the same runs in the queue, retrying its failed runs (finished runs are reused)')
    .option('--json', 'print the outcome and the summaries as JSON', false);
  return addDeviceOptions(command).action(async (flags: SweepFlags) => {
    process.exitCode = await runSweepCommand(flags);
  });
}

/** The hidden command a sweep forks for each worker process. */
export function sweepWorkerCommand(): Command {
  const command = new Command('_sweep-worker')
    .description('(internal) a worker process of `w2s sweep --workers N`')
    .option('--threads <n>', 'CPU threads', integerOption(1, 4096));
  return addDeviceOptions(command).action((flags: { threads?: number } & DeviceFlags) => {
    applyThreads(flags.threads);
    useDevice(flags);
    serveSweepWorker();
  });
}
