// One weak-to-strong experiment: the weak model trained on ground truth (train1) labels train2;
// the strong ceiling is trained on train2's ground truth; one transfer run per loss trains the
// strong model on the weak labels; each is scored on the test split, and PGR compares them.
// Options add bootstrapping (weak → intermediate models → strong, each supervising the next) and
// strong-to-strong iterations (the transfer model relabels train2 for a fresh strong model).
import { classCounts } from '@w2s/data';
import { canonicalJson } from './store.js';
import type { DataConfig } from './data.js';
import { agreement, pgr } from './metrics.js';
import type { ModelSource } from './models.js';
import { dataFor, executeRun, precisionField, type Precision, type RunConfig, type RunContext, type RunResult } from './runs.js';
import type { ExperimentSummary, TransferResult } from './summary.js';
import { EXPERIMENT_SETTINGS, checkSetting, type TrainSettings } from './settings.js';
import { builtinLoss, lossConfig, type LossChoice, type LossConfig, type LossDefinition } from './losses.js';

export interface ExperimentSpec {
  data: DataConfig;
  seed: number;
  weak: ModelSource;
  strong: ModelSource;
  /** The transfer losses (see resolveLosses), each with its options. */
  losses: LossChoice[];
  training: TrainSettings;
  heldOutFrac: number;
  /** Intermediate models between weak and strong (bootstrapping), each trained with every loss. */
  bootstrap: ModelSource[];
  /** Strong-to-strong iterations after the weak-to-strong run (0: none). */
  strongIterations: number;
  /**
   * The arithmetic every run of the experiment trains with: the precision of the compute device
   * of the processes that train them (the commands' --precision). Recorded in each RunConfig
   * unless float32 (RunConfig.precision); executeRun refuses a run in a process of another precision.
   */
  precision: Precision;
}

export interface PlannedTransfer {
  /** What the summary calls it: the loss, plus the chain when bootstrapping or iterating. */
  label: string;
  loss: string;
  run: RunConfig;
}

export interface ExperimentPlan {
  weak: RunConfig;
  ceiling: RunConfig;
  transfers: PlannedTransfer[];
}

/** Ground truth trains the weak models and the ceilings with plain cross-entropy. */
const GROUND_TRUTH_LOSS: LossConfig = lossConfig({ definition: builtinLoss('xent')!, options: {} });

/** The module-file losses of the spec (runs find built-in losses by name, these by content hash). */
export function specLosses(spec: ExperimentSpec): LossDefinition[] {
  return spec.losses.map((c) => c.definition).filter((d) => d.module !== undefined);
}

/** Every run of the experiment, with the supervisors nested in their students' configurations. */
export function planExperiment(spec: ExperimentSpec): ExperimentPlan {
  checkSetting(EXPERIMENT_SETTINGS.strongIterations, spec.strongIterations, 'strongIterations');
  const run = (role: RunConfig['role'], model: ModelSource, trainSplit: RunConfig['trainSplit'], supervisor: RunConfig | null, loss: RunConfig['loss']): RunConfig => ({
    role,
    dataset: spec.data,
    model: { identity: model.identity, tokenizer: model.tokenizerIdentity, specials: model.tokenizerSpecials },
    trainSplit,
    supervisor,
    loss,
    training: spec.training,
    heldOutFrac: spec.heldOutFrac,
    seed: spec.seed,
    ...precisionField(spec.precision),
  });
  const weak = run('weak', spec.weak, 'train1', null, GROUND_TRUTH_LOSS);
  const ceiling = run('ceiling', spec.strong, 'train2', null, GROUND_TRUTH_LOSS);
  const transfers: PlannedTransfer[] = [];
  // Chains (strong-to-strong, bootstrapping) alternate the halves of train2, so that each link
  // labels examples it did not train on: a model's labels on its own training examples would
  // mostly repeat its supervisor's.
  const half = (i: number): RunConfig['trainSplit'] => (i % 2 === 0 ? 'train2a' : 'train2b');
  for (const choice of spec.losses) {
    const loss = choice.definition.name;
    const config = lossConfig(choice);
    transfers.push({ label: loss, loss, run: run('transfer', spec.strong, 'train2', weak, config) });
    let previous = spec.strongIterations > 0 ? run('transfer', spec.strong, half(0), weak, config) : weak;
    for (let i = 1; i <= spec.strongIterations; i++) {
      previous = run('transfer', spec.strong, half(i), previous, config);
      transfers.push({ label: `${loss} s2s#${i}`, loss, run: previous });
    }
    if (spec.bootstrap.length > 0) {
      let supervisor = weak;
      spec.bootstrap.forEach((middle, i) => (supervisor = run('transfer', middle, half(i), supervisor, config)));
      const chain = [spec.weak, ...spec.bootstrap, spec.strong].map((m) => m.spec).join('→');
      transfers.push({ label: `${loss} bootstrap ${chain}`, loss, run: run('transfer', spec.strong, half(spec.bootstrap.length), supervisor, config) });
    }
  }
  return { weak, ceiling, transfers };
}

/** Every distinct run of the plans (deduplicated by configuration), supervisors before students. */
export function distinctRuns(plans: ExperimentPlan[]): RunConfig[] {
  const seen = new Set<string>();
  const ordered: RunConfig[] = [];
  const visit = (config: RunConfig) => {
    if (config.supervisor) visit(config.supervisor);
    const key = canonicalJson(config);
    if (seen.has(key)) return;
    seen.add(key);
    ordered.push(config);
  };
  for (const plan of plans) {
    visit(plan.weak);
    visit(plan.ceiling);
    for (const t of plan.transfers) visit(t.run);
  }
  return ordered;
}

/** Runs (or reloads) every run of the plan and summarises the experiment. */
export async function runExperiment(spec: ExperimentSpec, given: RunContext): Promise<ExperimentSummary> {
  const ctx: RunContext = { ...given, losses: [...(given.losses ?? []), ...specLosses(spec)] };
  const plan = planExperiment(spec);
  const weak = await executeRun(plan.weak, ctx);
  const ceiling = await executeRun(plan.ceiling, ctx);
  const transfers: { planned: PlannedTransfer; result: RunResult }[] = [];
  for (const planned of plan.transfers) transfers.push({ planned, result: await executeRun(planned.run, ctx) });
  return summarise(spec, ctx, weak, ceiling, transfers);
}

async function summarise(
  spec: ExperimentSpec,
  ctx: RunContext,
  weak: RunResult,
  ceiling: RunResult,
  transfers: { planned: PlannedTransfer; result: RunResult }[],
): Promise<ExperimentSummary> {
  const { splits, report, balancedAway } = await dataFor(spec.data, ctx);
  const truth = new Map(splits.test.map((e) => [e.id, e.label as number]));
  const counts = { train1: splits.train1.length, train2: splits.train2.length, test: splits.test.length, testPositives: classCounts(splits.test)[1] };
  const relative = (dir: string) => dir.slice(ctx.store.root.length).replace(/^[/\\]+/, '');
  const transfer: TransferResult[] = [];
  for (const { planned, result } of transfers) {
    // Agreement with the run's own supervisor (the weak model, or the previous link of a chain).
    const supervisor = await executeRun(planned.run.supervisor!, ctx);
    const supervisorById = new Map(supervisor.test.ids.map((id, i) => [id, supervisor.test.probs[i]]));
    const studentById = new Map(result.test.ids.map((id, i) => [id, result.test.probs[i]]));
    const ids = result.test.ids.filter((id) => supervisorById.has(id) && truth.has(id));
    const student = ids.map((id) => studentById.get(id)!);
    transfer.push({
      loss: planned.label,
      accuracy: result.metrics.test.accuracy,
      auroc: result.metrics.test.auroc,
      pgr: pgr(weak.metrics.test.accuracy, ceiling.metrics.test.accuracy, result.metrics.test.accuracy),
      agreement: ids.length
        ? agreement(student, ids.map((id) => supervisorById.get(id)!), ids.map((id) => truth.get(id)!))
        : { overall: 0, supervisorRight: null, supervisorWrong: null },
      run: relative(result.dir),
    });
  }
  return {
    dataset: spec.data.name,
    seed: spec.seed,
    weak: { model: spec.weak.spec, ...weak.metrics.test, run: relative(weak.dir) },
    ceiling: { model: spec.strong.spec, ...ceiling.metrics.test, run: relative(ceiling.dir) },
    transfer,
    counts,
    data: { rows: report.rows, kept: report.kept, skipped: report.skipped, balancedAway },
  };
}

