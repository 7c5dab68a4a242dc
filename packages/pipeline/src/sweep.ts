// Sweeps: a grid of datasets × (weak, strong) model pairs × seeds, each experiment with every
// loss. The grid's distinct training runs are computed once each (a weak model's run is shared by
// every experiment and loss that needs it) in dependency order, in this process or in worker
// processes (one run at a time per worker), then every experiment is summarised from the store.
//
// The sweep file (JSON):
//   {
//     "datasets": ["sciq", {"path": "my.csv", "textColumn": "text", "labelColumn": "label"}],
//     "pairs": [{"weak": "nano", "strong": "mini"}]      or  "models": ["nano", "micro", "mini"]
//                                                         (every pair of a smaller and a larger one, in list order)
//     "losses": ["xent", "logconf", "./my-loss.mjs"],  "seeds": [0, 1, 2],
//                                  (built-in names, or loss module files relative to the sweep file)
//     optional: "nTrain", "nTest", "maxTokens", "lengthPolicy", "balance", "heldOutFrac",
//               "bootstrap" (model names), "strongIterations", "training" {TrainSettings fields},
//               "lossOptions" {"logconf": {"alphaMax": 0.75}, "<module's name>": {...}}, "dataDir"
//   }
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { canonicalJson, ResultsStore } from './store.js';
import { dataConfigFor, type DataSource } from './data.js';
import { distinctRuns, planExperiment, runExperiment, specLosses, type ExperimentSpec } from './experiment.js';
import { BUILTIN_LOSS_NAMES, LossError, builtinLoss, isLossModule, loadLossModule, lossOptions, resolveLosses, type LossDefinition } from './losses.js';
import type { LengthPolicy } from './encode.js';
import { resolveModel, type ModelSource } from './models.js';
import { executeRun, type RunConfig, type RunContext, type RunProgress } from './runs.js';
import type { ExperimentSummary } from './summary.js';
import { DEFAULT_TRAIN_SETTINGS, type TrainSettings } from './train.js';

export type DatasetRef = string | { path: string; textColumn: string; labelColumn: string };

export interface SweepConfig {
  datasets: DatasetRef[];
  pairs: { weak: string; strong: string }[];
  losses: string[];
  seeds: number[];
  nTrain: number | null;
  nTest: number | null;
  maxTokens: number;
  lengthPolicy: LengthPolicy;
  balance: boolean;
  heldOutFrac: number;
  bootstrap: string[];
  strongIterations: number;
  training: TrainSettings;
  /** Options of the losses, by loss name (unset options take their defaults). */
  lossOptions: Record<string, Record<string, unknown>>;
  dataDir?: string;
}

export const SWEEP_DEFAULTS = { nTrain: null, nTest: null, maxTokens: 256, lengthPolicy: 'truncate', balance: false, heldOutFrac: 0, bootstrap: [], strongIterations: 0 } as const;

export class SweepConfigError extends Error {}

/** Parses and validates a sweep file; every problem names the file and the field. */
export async function readSweepConfig(file: string): Promise<SweepConfig> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new SweepConfigError(`cannot read ${file}: ${err.message}`);
  });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SweepConfigError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseSweepConfig(raw, file);
}

export function parseSweepConfig(raw: unknown, file = 'sweep config'): SweepConfig {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new SweepConfigError(`${file}: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('the top level', 'an object', raw);
  const o = raw as Record<string, unknown>;
  const known = new Set(['datasets', 'pairs', 'models', 'losses', 'seeds', 'nTrain', 'nTest', 'maxTokens', 'lengthPolicy', 'balance', 'heldOutFrac', 'bootstrap', 'strongIterations', 'training', 'lossOptions', 'dataDir']);
  for (const key of Object.keys(o)) if (!known.has(key)) fail(`"${key}"`, `one of the known fields (${[...known].join(', ')})`, key);
  const strings = (field: string, value: unknown): string[] =>
    Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && v !== '') ? (value as string[]) : fail(field, 'a non-empty array of strings', value);
  const integer = (field: string, value: unknown, min: number): number => (Number.isInteger(value) && (value as number) >= min ? (value as number) : fail(field, `an integer >= ${min}`, value));

  if (!Array.isArray(o.datasets) || o.datasets.length === 0) fail('datasets', 'a non-empty array', o.datasets);
  const datasets = (o.datasets as unknown[]).map((d, i): DatasetRef => {
    if (typeof d === 'string' && d !== '') return d;
    const t = d as Record<string, unknown> | null;
    if (t && typeof t.path === 'string' && typeof t.textColumn === 'string' && typeof t.labelColumn === 'string') return { path: t.path, textColumn: t.textColumn, labelColumn: t.labelColumn };
    return fail(`datasets[${i}]`, 'a dataset name or {path, textColumn, labelColumn}', d);
  });
  let pairs: { weak: string; strong: string }[];
  if (o.pairs !== undefined && o.models !== undefined) fail('pairs and models', 'not both', 'both');
  if (o.models !== undefined) {
    const models = strings('models', o.models);
    if (models.length < 2) fail('models', 'at least two models', models);
    pairs = models.flatMap((weak, i) => models.slice(i + 1).map((strong) => ({ weak, strong })));
  } else {
    if (!Array.isArray(o.pairs) || o.pairs.length === 0) fail('pairs (or models)', 'a non-empty array of {weak, strong}', o.pairs);
    pairs = (o.pairs as unknown[]).map((p, i) => {
      const q = p as Record<string, unknown> | null;
      return q && typeof q.weak === 'string' && typeof q.strong === 'string' ? { weak: q.weak, strong: q.strong } : fail(`pairs[${i}]`, '{weak: MODEL, strong: MODEL}', p);
    });
  }
  const losses = [...strings('losses', o.losses)];
  if (!Array.isArray(o.seeds) || o.seeds.length === 0) fail('seeds', 'a non-empty array of integers', o.seeds);
  const seeds = (o.seeds as unknown[]).map((s, i) => integer(`seeds[${i}]`, s, 0));
  const lengthPolicy = o.lengthPolicy ?? SWEEP_DEFAULTS.lengthPolicy;
  if (lengthPolicy !== 'drop' && lengthPolicy !== 'truncate') fail('lengthPolicy', '"drop" or "truncate"', lengthPolicy);
  const heldOutFrac = o.heldOutFrac ?? SWEEP_DEFAULTS.heldOutFrac;
  if (typeof heldOutFrac !== 'number' || !(heldOutFrac >= 0 && heldOutFrac < 1)) fail('heldOutFrac', 'a number in [0, 1)', heldOutFrac);
  // Built-in loss names, or module files (made absolute, relative to the sweep file).
  const base = file === 'sweep config' ? process.cwd() : dirname(resolve(file));
  for (const [i, loss] of losses.entries())
    if (isLossModule(loss)) losses[i] = resolve(base, loss);
    else if (!builtinLoss(loss)) fail(`losses[${i}]`, `a built-in loss (${BUILTIN_LOSS_NAMES.join(', ')}) or a loss module file (.mjs)`, loss);
  const training = checkFields('training', objectField(o.training, 'training', fail), DEFAULT_TRAIN_SETTINGS, TRAINING_CHOICES, fail) as unknown as TrainSettings;
  training.minibatchSize = Math.min(training.minibatchSize, training.batchSize);
  const lossOverrides = objectField(o.lossOptions, 'lossOptions', fail);
  const lossOptionsByName: Record<string, Record<string, unknown>> = {};
  for (const [name, given] of Object.entries(lossOverrides)) {
    const options = objectField(given, `lossOptions.${name}`, fail);
    const definition = builtinLoss(name);
    // A module's options are checked against its own definition once it is loaded (expandSweep).
    if (definition) {
      try {
        lossOptions(definition, options, `lossOptions.${name}`);
      } catch (err) {
        if (err instanceof LossError) throw new SweepConfigError(`${file}: ${err.message}`);
        throw err;
      }
    } else if (!losses.some(isLossModule)) fail(`lossOptions.${name}`, `the options of a built-in loss (${BUILTIN_LOSS_NAMES.join(', ')}) or of a loss module in "losses"`, name);
    lossOptionsByName[name] = options;
  }
  if (training.earlyStopping === 'best' && (training.evalEvery === 0 || heldOutFrac === 0))
    fail('training.earlyStopping', '"none" unless training.evalEvery > 0 and heldOutFrac > 0', 'best');
  if (typeof o.balance !== 'undefined' && typeof o.balance !== 'boolean') fail('balance', 'a boolean', o.balance);
  if (o.dataDir !== undefined && typeof o.dataDir !== 'string') fail('dataDir', 'a string', o.dataDir);
  return {
    datasets,
    pairs,
    losses,
    seeds,
    nTrain: o.nTrain === undefined || o.nTrain === null ? null : integer('nTrain', o.nTrain, 2),
    nTest: o.nTest === undefined || o.nTest === null ? null : integer('nTest', o.nTest, 1),
    maxTokens: o.maxTokens === undefined ? SWEEP_DEFAULTS.maxTokens : integer('maxTokens', o.maxTokens, 2),
    lengthPolicy: lengthPolicy as LengthPolicy,
    balance: (o.balance as boolean | undefined) ?? SWEEP_DEFAULTS.balance,
    heldOutFrac: heldOutFrac as number,
    bootstrap: o.bootstrap === undefined ? [] : strings('bootstrap', o.bootstrap),
    strongIterations: o.strongIterations === undefined ? 0 : integer('strongIterations', o.strongIterations, 0),
    training,
    lossOptions: lossOptionsByName,
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir as string } : {}),
  };
}

const TRAINING_CHOICES: Record<string, readonly string[]> = { lrSchedule: ['constant', 'cosine', 'warmup-cosine'], earlyStopping: ['none', 'best'] };

/**
 * Defaults overridden by the given fields, each checked against its default's type: numbers
 * finite and >= 0 (integers where the default is one of the integer settings), strings among
 * their choices, booleans boolean; unknown fields rejected.
 */
function checkFields(
  field: string,
  given: Record<string, unknown>,
  defaults: object,
  choices: Record<string, readonly string[]>,
  fail: (f: string, e: string, g: unknown) => never,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...defaults };
  const integers = new Set(['epochs', 'batchSize', 'minibatchSize', 'evalEvery', 'evalBatchSize']);
  for (const [key, value] of Object.entries(given)) {
    if (!(key in defaults)) fail(`${field}.${key}`, `one of the known fields (${Object.keys(defaults).join(', ')})`, key);
    const expected = typeof (defaults as Record<string, unknown>)[key];
    const name = `${field}.${key}`;
    if (choices[key]) {
      if (!choices[key].includes(value as string)) fail(name, `one of ${choices[key].map((c) => JSON.stringify(c)).join(', ')}`, value);
    } else if (expected === 'number') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(name, 'a finite number >= 0', value);
      if (integers.has(key) && (!Number.isInteger(value) || (value as number) < (key === 'evalEvery' ? 0 : 1))) fail(name, key === 'evalEvery' ? 'an integer >= 0' : 'an integer >= 1', value);
    } else if (typeof value !== expected) fail(name, `a ${expected}`, value);
    out[key] = value;
  }
  return out;
}

function objectField(value: unknown, field: string, fail: (f: string, e: string, g: unknown) => never): Record<string, unknown> {
  if (value === undefined) return {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) return fail(field, 'an object', value);
  return value as Record<string, unknown>;
}

/** One experiment of the grid. */
export interface SweepExperiment {
  key: string;
  dataset: DatasetRef;
  spec: ExperimentSpec;
}

/** The grid's experiments and its model sources (by identity). */
export async function expandSweep(config: SweepConfig, known: Map<string, ModelSource> = new Map()): Promise<{ experiments: SweepExperiment[]; models: Map<string, ModelSource> }> {
  const losses = await resolveLosses(config.losses, config.lossOptions);
  const byName = new Map<string, ModelSource>(known);
  const model = async (name: string) => {
    let source = byName.get(name);
    if (!source) {
      source = await resolveModel(name);
      byName.set(name, source);
    }
    return source;
  };
  const experiments: SweepExperiment[] = [];
  for (const dataset of config.datasets) {
    for (const pair of config.pairs) {
      for (const seed of config.seeds) {
        const data = await dataConfigFor(dataSource(dataset, config.dataDir), {
          seed,
          nTrain: config.nTrain,
          nTest: config.nTest,
          balance: config.balance,
          maxTokens: config.maxTokens,
          lengthPolicy: config.lengthPolicy,
        });
        const spec: ExperimentSpec = {
          data,
          seed,
          weak: await model(pair.weak),
          strong: await model(pair.strong),
          losses,
          training: config.training,
          heldOutFrac: config.heldOutFrac,
          bootstrap: await Promise.all(config.bootstrap.map(model)),
          strongIterations: config.strongIterations,
        };
        const slug = (text: string) => text.replace(/[^A-Za-z0-9._]+/g, '_');
        experiments.push({ key: `${slug(data.name)}-${slug(pair.weak)}-${slug(pair.strong)}-seed${seed}`, dataset, spec });
      }
    }
  }
  const models = new Map([...byName.values()].map((s) => [s.identity, s]));
  return { experiments, models };
}

export function dataSource(dataset: DatasetRef, dataDir: string | undefined): DataSource {
  return { dataset, ...(dataDir !== undefined ? { dataDir } : {}) };
}

/** A training run handed to a worker process. */
export interface WorkerJob {
  id: number;
  config: RunConfig;
  data: DataSource;
  models: [string, ModelSource][];
  /** The loss modules the run may need, loaded by the worker and checked against their hashes. */
  lossModules: { path: string; sha256: string }[];
  storeRoot: string;
}

export type WorkerMessage =
  | { type: 'step'; id: number; step: number; totalSteps: number; loss: number }
  | { type: 'done'; id: number; name: string; reused: boolean }
  | { type: 'error'; id: number; message: string };

export interface SweepProgress {
  /** Called once the grid is planned: how many distinct runs there are. */
  planned?(totalRuns: number): void;
  runStarted?(name: string, config: RunConfig): void;
  runStep?(name: string, step: number, totalSteps: number, loss: number): void;
  runFinished?(name: string, reused: boolean): void;
  runFailed?(name: string, message: string): void;
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

export interface SweepOutcome {
  summaries: { key: string; summary: ExperimentSummary }[];
  computed: string[];
  reused: string[];
  failed: { name: string; message: string }[];
}

/** A distinct training run of the grid and the data source it reads. */
export interface PlannedRun {
  config: RunConfig;
  data: DataSource;
}

/** The grid planned: its experiments, model sources, loss modules and distinct runs (supervisors before students). */
export interface SweepPlan {
  experiments: SweepExperiment[];
  models: Map<string, ModelSource>;
  /** The losses loaded from module files (runs name them by content hash). */
  losses: LossDefinition[];
  runs: PlannedRun[];
}

export async function planSweep(config: SweepConfig, known?: Map<string, ModelSource>): Promise<SweepPlan> {
  const { experiments, models } = await expandSweep(config, known);
  const datasetOf = new Map(experiments.map((e) => [canonicalJson(e.spec.data), e.dataset]));
  const runs = distinctRuns(experiments.map((e) => planExperiment(e.spec))).map((run) => ({
    config: run,
    data: dataSource(datasetOf.get(canonicalJson(run.dataset))!, config.dataDir),
  }));
  const losses = experiments.length > 0 ? specLosses(experiments[0].spec) : [];
  return { experiments, models, losses, runs };
}

/**
 * Summarises, from the store, every experiment of the grid none of whose runs is in `failedKeys`
 * (canonical run configurations); every run of those experiments must be complete in the store.
 */
export async function summariseExperiments(
  plan: SweepPlan,
  failedKeys: Set<string>,
  opts: { store: ResultsStore; dataDir?: string; dataCache?: RunContext['dataCache'] },
): Promise<{ key: string; summary: ExperimentSummary }[]> {
  const summaries: { key: string; summary: ExperimentSummary }[] = [];
  const dataCache = opts.dataCache ?? new Map();
  for (const experiment of plan.experiments) {
    const runs = planExperiment(experiment.spec);
    if ([runs.weak, runs.ceiling, ...runs.transfers.map((t) => t.run)].some((r) => failedKeys.has(canonicalJson(r)))) continue;
    const ctx: RunContext = { store: opts.store, data: dataSource(experiment.dataset, opts.dataDir), models: plan.models, dataCache };
    summaries.push({ key: experiment.key, summary: await runExperiment(experiment.spec, ctx) });
  }
  return summaries;
}

/** Runs every distinct training run of the grid once, then summarises each experiment whose runs all succeeded. */
export async function runSweep(config: SweepConfig, opts: SweepOptions): Promise<SweepOutcome> {
  const plan = await planSweep(config, opts.models);
  const { runs, models, losses } = plan;
  opts.progress?.planned?.(runs.length);
  const outcome: SweepOutcome = { summaries: [], computed: [], reused: [], failed: [] };
  const failedKeys = new Set<string>();
  const record = (name: string, reused: boolean) => {
    (reused ? outcome.reused : outcome.computed).push(name);
    opts.progress?.runFinished?.(name, reused);
  };
  const recordFailure = (run: RunConfig, message: string) => {
    const name = opts.store.runName(run);
    failedKeys.add(canonicalJson(run));
    outcome.failed.push({ name, message });
    opts.progress?.runFailed?.(name, message);
  };

  const dataCache: RunContext['dataCache'] = new Map(); // keyed by DataConfig, which names its dataset
  if (opts.workers <= 1 || !opts.spawnWorker) {
    for (const { config: run, data } of runs) {
      if (run.supervisor && failedKeys.has(canonicalJson(run.supervisor))) {
        recordFailure(run, 'its supervisor failed');
        continue;
      }
      try {
        const result = await executeRun(run, { store: opts.store, data, models, losses, dataCache, progress: runProgress(opts) });
        record(result.name, result.reused);
      } catch (err) {
        recordFailure(run, (err as Error).message);
      }
    }
  } else {
    await runInWorkers(runs, opts, plan, record, recordFailure, failedKeys);
  }
  outcome.summaries = await summariseExperiments(plan, failedKeys, { store: opts.store, dataCache, ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}) });
  return outcome;
}

function runProgress(opts: SweepOptions): RunProgress {
  return {
    start: (name, config) => opts.progress?.runStarted?.(name, config),
    step: (name, step, total, loss) => opts.progress?.runStep?.(name, step, total, loss),
  };
}

/** Dispatches runs whose supervisors are complete to idle workers until every run is done or failed. */
async function runInWorkers(
  runs: PlannedRun[],
  opts: SweepOptions,
  { models, losses }: Pick<SweepPlan, 'models' | 'losses'>,
  record: (name: string, reused: boolean) => void,
  recordFailure: (run: RunConfig, message: string) => void,
  failedKeys: Set<string>,
): Promise<void> {
  const done = new Set<string>();
  const pending = [...runs];
  const workers = Array.from({ length: Math.min(opts.workers, runs.length) }, () => opts.spawnWorker!());
  let nextId = 0;
  await new Promise<void>((resolve) => {
    const inFlight = new Map<ChildProcess, { id: number; run: RunConfig }>();
    const finish = (worker: ChildProcess) => {
      inFlight.delete(worker);
      dispatch();
    };
    const dispatch = () => {
      for (let i = 0; i < pending.length; i++) {
        const run = pending[i].config;
        const supervisorKey = run.supervisor ? canonicalJson(run.supervisor) : null;
        if (supervisorKey && failedKeys.has(supervisorKey)) {
          pending.splice(i--, 1);
          recordFailure(run, 'its supervisor failed');
        }
      }
      for (const worker of workers) {
        if (inFlight.has(worker) || !worker.connected) continue;
        const index = pending.findIndex(({ config: r }) => !r.supervisor || done.has(canonicalJson(r.supervisor)));
        if (index < 0) break;
        const [{ config: run, data }] = pending.splice(index, 1);
        const lossModules = losses.map((d) => d.module!);
        const job: WorkerJob = { id: nextId++, config: run, data, models: [...models], lossModules, storeRoot: opts.store.root };
        inFlight.set(worker, { id: job.id, run });
        opts.progress?.runStarted?.(opts.store.runName(run), run);
        worker.send(job);
      }
      if (inFlight.size === 0) {
        for (const { config: run } of pending.splice(0)) recordFailure(run, 'no worker left to run it');
        for (const worker of workers) if (worker.connected) worker.disconnect();
        resolve();
      }
    };
    for (const worker of workers) {
      worker.on('message', (message: WorkerMessage) => {
        const job = inFlight.get(worker);
        if (!job || message.id !== job.id) return;
        if (message.type === 'step') opts.progress?.runStep?.(opts.store.runName(job.run), message.step, message.totalSteps, message.loss);
        else if (message.type === 'done') {
          done.add(canonicalJson(job.run));
          record(message.name, message.reused);
          finish(worker);
        } else {
          recordFailure(job.run, message.message);
          finish(worker);
        }
      });
      worker.on('exit', (code, signal) => {
        const job = inFlight.get(worker);
        if (job) {
          recordFailure(job.run, `its worker process died (${signal ?? `exit code ${code}`})`);
          finish(worker);
        }
      });
    }
    dispatch();
  });
}

/** The body of a worker process: runs the jobs its parent sends, one at a time, until disconnected. */
export function serveSweepWorker(): void {
  if (!process.send) throw new Error('the sweep worker must be started by `w2s sweep` (it needs an IPC channel)');
  const send = (message: WorkerMessage) => process.send!(message);
  const dataCache: RunContext['dataCache'] = new Map();
  const loaded = new Map<string, Promise<LossDefinition>>(); // by content hash
  process.on('message', async (job: WorkerJob) => {
    try {
      const losses = await Promise.all(job.lossModules.map((m) => loadChecked(m, loaded)));
      const result = await executeRun(job.config, {
        store: new ResultsStore(job.storeRoot),
        data: job.data,
        models: new Map(job.models),
        losses,
        dataCache,
        progress: { step: (_, step, totalSteps, loss) => send({ type: 'step', id: job.id, step, totalSteps, loss }) },
      });
      send({ type: 'done', id: job.id, name: result.name, reused: result.reused });
    } catch (err) {
      send({ type: 'error', id: job.id, message: (err as Error).message });
    }
  });
}

/** A worker's copy of a loss module: the file must still have the content the sweep planned with. */
function loadChecked(module: { path: string; sha256: string }, loaded: Map<string, Promise<LossDefinition>>): Promise<LossDefinition> {
  let definition = loaded.get(module.sha256);
  if (!definition) {
    definition = loadLossModule(module.path).then((d) => {
      if (d.module!.sha256 !== module.sha256) throw new LossError(`${module.path} changed since the sweep was planned (sha256:${module.sha256}, now sha256:${d.module!.sha256})`);
      return d;
    });
    definition.catch(() => loaded.delete(module.sha256)); // a later job tries again
    loaded.set(module.sha256, definition);
  }
  return definition;
}
