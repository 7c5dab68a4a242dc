// Sweeps: the sweep file (config.ts) planned as one graph of distinct training runs (plan.ts),
// each computed once, in dependency order, by the one scheduler (scheduler.ts) over an executor:
// this process (in-process.ts), worker processes (processes.ts), or, in @w2s/queue, workers on
// any number of machines. Then every experiment whose runs all succeeded is summarised from the
// results store.
import type { ChildProcess } from 'node:child_process';
import type { ResultsStore } from '../store.js';
import { planExperiment, runExperiment } from '../experiment.js';
import type { ModelSource } from '../models.js';
import type { RunContext } from '../runs.js';
import type { ExperimentSummary } from '../summary.js';
import type { SweepConfig } from './config.js';
import { dataSource, planSweep, type SweepPlan } from './plan.js';
import { schedule, type ScheduleOutcome, type ScheduleProgress } from './scheduler.js';
import { InProcessExecutor } from './in-process.js';
import { ProcessPoolExecutor } from './processes.js';

export * from './config.js';
export * from './plan.js';
export * from './scheduler.js';
export * from './in-process.js';
export * from './processes.js';

export interface SweepProgress extends ScheduleProgress {
  /** Called once the grid is planned: how many distinct runs there are. */
  planned?(totalRuns: number): void;
}

export interface SweepOptions {
  store: ResultsStore;
  /** 1: every run in this process; more: that many worker processes from spawnWorker. */
  workers: number;
  spawnWorker?: () => ChildProcess;
  progress?: SweepProgress;
  /** Model sources for some of the config's model names (e.g. pretrained checkpoints under a family name); the rest are resolved. */
  models?: Map<string, ModelSource>;
}

export interface SweepOutcome extends Omit<ScheduleOutcome, 'interrupted'> {
  summaries: { key: string; summary: ExperimentSummary }[];
}

/**
 * Summarises, from the store, every experiment of the grid none of whose runs is among
 * `failed` (run names); every run of those experiments must be complete in the store.
 */
export async function summariseExperiments(
  plan: SweepPlan,
  failed: Set<string>,
  opts: { store: ResultsStore; dataDir?: string; dataCache?: RunContext['dataCache'] },
): Promise<{ key: string; summary: ExperimentSummary }[]> {
  const summaries: { key: string; summary: ExperimentSummary }[] = [];
  const dataCache = opts.dataCache ?? new Map();
  for (const experiment of plan.experiments) {
    const runs = planExperiment(experiment.spec);
    if ([runs.weak, runs.ceiling, ...runs.transfers.map((t) => t.run)].some((r) => failed.has(opts.store.runName(r)))) continue;
    const ctx: RunContext = { store: opts.store, data: dataSource(experiment.dataset, opts.dataDir), models: plan.models, dataCache };
    summaries.push({ key: experiment.key, summary: await runExperiment(experiment.spec, ctx) });
  }
  return summaries;
}

/** Runs every distinct training run of the grid once, then summarises each experiment whose runs all succeeded. */
export async function runSweep(config: SweepConfig, opts: SweepOptions): Promise<SweepOutcome> {
  const plan = await planSweep(config, opts.models);
  opts.progress?.planned?.(plan.runs.length);
  const dataCache: RunContext['dataCache'] = new Map(); // keyed by DataConfig, which names its dataset
  const { store } = opts;
  let outcome: ScheduleOutcome;
  if (opts.workers <= 1 || !opts.spawnWorker) {
    outcome = await schedule(plan.runs, new InProcessExecutor({ store, models: plan.models, losses: plan.losses, dataCache }), { progress: opts.progress });
  } else {
    const workers = Array.from({ length: Math.min(opts.workers, plan.runs.length) }, () => opts.spawnWorker!());
    const executor = new ProcessPoolExecutor(workers, { models: [...plan.models], lossModules: plan.losses.map((d) => d.module!), storeRoot: store.root });
    try {
      outcome = await schedule(plan.runs, executor, { progress: opts.progress });
    } finally {
      executor.close();
    }
  }
  const { computed, reused, failed } = outcome;
  const summaries = await summariseExperiments(plan, new Set(failed.map((f) => f.name)), { store, dataCache, ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}) });
  return { computed, reused, failed, summaries };
}
