// A sweep planned: the grid's experiments, the model sources they name, and their distinct
// training runs as one dependency graph (a weak model's run is shared by every experiment and
// loss that needs it; the runs that learn from a run's labels are its dependents), which the
// scheduler (scheduler.ts) executes.
import { canonicalJson, runName } from '../store.js';
import { dataConfigFor, type DataSource } from '../data.js';
import { distinctRuns, planExperiment, specLosses, type ExperimentSpec } from '../experiment.js';
import { resolveLosses, type LossDefinition } from '../losses.js';
import { resolveModel, type ModelSource } from '../models.js';
import { processPrecision, type Precision, type RunConfig } from '../runs.js';
import type { DatasetRef, SweepConfig } from './config.js';

/** One experiment of the grid. */
export interface SweepExperiment {
  key: string;
  dataset: DatasetRef;
  spec: ExperimentSpec;
}

/**
 * The grid's experiments and its model sources (by identity). precision: the arithmetic the runs
 * train with (ExperimentSpec.precision), by default this process's compute device's: a local
 * sweep trains here, or in worker processes given the same --precision.
 */
export async function expandSweep(
  config: SweepConfig,
  known: Map<string, ModelSource> = new Map(),
  precision: Precision = processPrecision(),
): Promise<{ experiments: SweepExperiment[]; models: Map<string, ModelSource> }> {
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
          precision,
        };
        const slug = (text: string) => text.replace(/[^A-Za-z0-9._]+/g, '_');
        // A precision other than float32 in the key too: its summaries must not overwrite float32's
        // when both sweeps write to one folder (float32 keys are as before).
        const suffix = precision === 'float32' ? '' : `-${precision}`;
        experiments.push({ key: `${slug(data.name)}-${slug(pair.weak)}-${slug(pair.strong)}-seed${seed}${suffix}`, dataset, spec });
      }
    }
  }
  const models = new Map([...byName.values()].map((s) => [s.identity, s]));
  return { experiments, models };
}

export function dataSource(dataset: DatasetRef, dataDir: string | undefined): DataSource {
  return { dataset, ...(dataDir !== undefined ? { dataDir } : {}) };
}

/** A distinct run of the grid, the data it reads, and the runs that learn from its labels. */
export interface RunNode {
  /** Its name in a results store (ResultsStore.runName). */
  name: string;
  config: RunConfig;
  data: DataSource;
  dependents: RunNode[];
}

/** The grid planned: its experiments, model sources, loss modules and the graph of its distinct runs. */
export interface SweepPlan {
  experiments: SweepExperiment[];
  models: Map<string, ModelSource>;
  /** The losses loaded from module files (runs name them by content hash). */
  losses: LossDefinition[];
  /** Every distinct run, supervisors before their dependents. */
  runs: RunNode[];
  /** The runs that need no supervisor. */
  roots: RunNode[];
}

/**
 * precision: as for expandSweep, by default this process's. A queued sweep (@w2s/queue) is planned
 * by a process without --precision, so its runs are float32 ones, and a queue worker of another
 * precision refuses them (executeRun).
 */
export async function planSweep(config: SweepConfig, known?: Map<string, ModelSource>, precision: Precision = processPrecision()): Promise<SweepPlan> {
  const { experiments, models } = await expandSweep(config, known, precision);
  const datasetOf = new Map(experiments.map((e) => [canonicalJson(e.spec.data), e.dataset]));
  const byName = new Map<string, RunNode>();
  const roots: RunNode[] = [];
  for (const run of distinctRuns(experiments.map((e) => planExperiment(e.spec)))) {
    const node: RunNode = { name: runName(run), config: run, data: dataSource(datasetOf.get(canonicalJson(run.dataset))!, config.dataDir), dependents: [] };
    byName.set(node.name, node);
    if (run.supervisor) byName.get(runName(run.supervisor))!.dependents.push(node);
    else roots.push(node);
  }
  const losses = experiments.length > 0 ? specLosses(experiments[0].spec) : [];
  return { experiments, models, losses, runs: [...byName.values()], roots };
}
