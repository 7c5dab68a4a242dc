// `w2s sweep --config FILE --out DIR`: a grid of experiments (see @w2s/pipeline's sweep.ts for the
// file's fields). Every distinct training run is computed once, here or in --workers processes;
// finished runs in DIR's results store are reused, so an interrupted sweep resumes where it
// stopped. Writes DIR/experiments/<dataset>-<weak>-<strong>-seed<n>.summary.json per experiment
// and DIR/sweep.json (the outcome), then prints the PGR table (`w2s report DIR` draws the plots).
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { ResultsStore, buildTables, readSweepConfig, renderTerminal, runSweep, serveSweepWorker, writeJson } from '@w2s/pipeline';
import { integerOption } from '../options.js';
import { ProgressDisplay } from '../progress.js';
import { applyThreads } from '../threads.js';

interface SweepFlags {
  config: string;
  out: string;
  workers: number;
  threads?: number;
  json: boolean;
}

export async function runSweepCommand(flags: SweepFlags): Promise<number> {
  const config = await readSweepConfig(flags.config);
  const out = resolve(flags.out);
  const threads = flags.threads ?? (flags.workers > 1 ? 1 : undefined);
  applyThreads(threads);
  const store = new ResultsStore(out);
  const display = new ProgressDisplay();
  const entry = process.argv[1];
  let outcome;
  try {
    outcome = await runSweep(config, {
      store,
      workers: flags.workers,
      spawnWorker: () => fork(entry, ['_sweep-worker', ...(threads !== undefined ? ['--threads', String(threads)] : [])], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }),
      progress: display,
    });
  } finally {
    display.stop();
  }
  for (const { key, summary } of outcome.summaries) await writeJson(resolve(out, 'experiments', `${key}.summary.json`), summary);
  const record = {
    config: resolve(flags.config),
    experiments: outcome.summaries.map((s) => s.key),
    runsComputed: outcome.computed,
    runsReused: outcome.reused,
    failed: outcome.failed,
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

export function sweepCommand(): Command {
  return new Command('sweep')
    .description('a grid of weak-to-strong experiments (datasets x model pairs x losses x seeds), each training run done once')
    .requiredOption('--config <file>', 'the sweep file (JSON: datasets, pairs or models, losses, seeds, ...)')
    .requiredOption('--out <dir>', 'results folder: the store of runs, the experiment summaries and sweep.json')
    .option('--workers <n>', 'worker processes running trainings in parallel', integerOption(1, 256), 1)
    .option('--threads <n>', 'CPU threads per process (default: all cores with one worker, 1 with several)', integerOption(1, 4096))
    .option('--json', 'print the outcome and the summaries as JSON', false)
    .action(async (flags: SweepFlags) => {
      process.exitCode = await runSweepCommand(flags);
    });
}

/** The hidden command a sweep forks for each worker process. */
export function sweepWorkerCommand(): Command {
  return new Command('_sweep-worker')
    .description('(internal) a worker process of `w2s sweep --workers N`')
    .option('--threads <n>', 'CPU threads', integerOption(1, 4096))
    .action((flags: { threads?: number }) => {
      applyThreads(flags.threads);
      serveSweepWorker();
    });
}
