// `w2s run`: one weak-to-strong experiment. Trains (or reloads from the results store) the weak
// model, the strong ceiling and one transfer run per loss, writes DIR/summary.json atomically and
// prints the same as a table (or as JSON with --json).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import Table from 'cli-table3';
import {
  BUILTIN_LOSS_NAMES,
  EXPERIMENT_SETTINGS,
  ResultsStore,
  builtinLoss,
  checkModelsFitMemory,
  isLossModule,
  resolveLosses,
  dataConfigFor,
  distinctRuns,
  planExperiment,
  resolveModel,
  runExperiment,
  writeJson,
  type DataSource,
  type ExperimentSummary,
  type LengthPolicy,
} from '@w2s/pipeline';
import { integerOption } from '../options.js';
import { ProgressDisplay } from '../progress.js';
import { addDeviceOptions, useDevice, type DeviceFlags } from '../device.js';
import { applyThreads } from '../threads.js';
import { addTrainingOptions, lossOptionsFrom, optionFlag, trainSettingsFrom, type TrainingFlags } from '../training-options.js';

interface RunFlags extends TrainingFlags, DeviceFlags {
  dataset: string;
  textColumn?: string;
  labelColumn?: string;
  weak: string;
  strong: string;
  loss: string[];
  seed: number;
  nTrain?: number;
  nTest?: number;
  maxTokens: number;
  lengthPolicy: LengthPolicy;
  balance: boolean;
  bootstrap: string[];
  strongIterations: number;
  dataDir?: string;
  out: string;
  results?: string;
  threads?: number;
  json: boolean;
}

/** Built-in loss names and loss module files (made absolute). */
function lossList(value: string): string[] {
  const losses = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = losses.filter((l) => !isLossModule(l) && !builtinLoss(l));
  if (losses.length === 0 || unknown.length > 0)
    throw new InvalidArgumentError(`expected a comma-separated list of ${BUILTIN_LOSS_NAMES.join(', ')} or loss module files (./my-loss.mjs), got "${value}"`);
  return [...new Set(losses.map((l) => (isLossModule(l) ? resolve(l) : l)))];
}

function modelList(value: string): string[] {
  const models = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (models.length === 0) throw new InvalidArgumentError(`expected a comma-separated list of models, got "${value}"`);
  return models;
}

/** The dataset argument: a registered name, or a local table file with --text-column and --label-column. */
export function datasetRef(dataset: string, textColumn: string | undefined, labelColumn: string | undefined): DataSource['dataset'] {
  const looksLikeFile = /\.(jsonl|json|csv|tsv|parquet)$/i.test(dataset) || existsSync(dataset);
  if (!looksLikeFile) {
    if (textColumn || labelColumn) throw new InvalidArgumentError('--text-column and --label-column go with a dataset file, not a registered dataset');
    return dataset;
  }
  if (!textColumn || !labelColumn) throw new InvalidArgumentError(`${dataset} is a file: name its columns with --text-column and --label-column`);
  return { path: resolve(dataset), textColumn, labelColumn };
}

export function summaryTable(summary: ExperimentSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const table = new Table({ head: ['run', 'model', 'loss', 'accuracy', 'AUROC', 'PGR', 'agrees with weak'], style: { head: [], border: [] } });
  table.push(['weak', summary.weak.model, 'xent (ground truth)', pct(summary.weak.accuracy), summary.weak.auroc.toFixed(3), '', '']);
  table.push(['ceiling', summary.ceiling.model, 'xent (ground truth)', pct(summary.ceiling.accuracy), summary.ceiling.auroc.toFixed(3), '', '']);
  for (const t of summary.transfer)
    table.push(['transfer', summary.ceiling.model, t.loss, pct(t.accuracy), t.auroc.toFixed(3), t.pgr === null ? 'undefined' : t.pgr.toFixed(3), pct(t.agreement.overall)]);
  const { train1, train2, test, testPositives } = summary.counts;
  const data = summary.data;
  const skipped = data ? Object.entries(data.skipped).map(([reason, n]) => `${n} ${reason}`).join(', ') : '';
  const loaded = data ? `; ${data.kept} of ${data.rows} rows kept${skipped ? ` (skipped: ${skipped})` : ''}${data.balancedAway ? `, ${data.balancedAway} removed by balancing` : ''}` : '';
  return `${summary.dataset}, seed ${summary.seed}: train1 ${train1}, train2 ${train2}, test ${test}${testPositives === undefined ? '' : ` (${testPositives} labelled 1)`}${loaded}\n${table.toString()}\n` +
    (summary.ceiling.accuracy > summary.weak.accuracy ? '' : 'PGR is undefined: the strong ceiling is not above the weak model.\n');
}

export async function runRun(flags: RunFlags): Promise<void> {
  applyThreads(flags.threads);
  useDevice(flags);
  const training = trainSettingsFrom(flags);
  const out = resolve(flags.out);
  const store = new ResultsStore(resolve(flags.results ?? out));
  const data: DataSource = { dataset: datasetRef(flags.dataset, flags.textColumn, flags.labelColumn), ...(flags.dataDir ? { dataDir: flags.dataDir } : {}) };
  const weak = await resolveModel(flags.weak);
  const strong = await resolveModel(flags.strong);
  const bootstrap = await Promise.all(flags.bootstrap.map((m) => resolveModel(m)));
  checkModelsFitMemory([weak, strong, ...bootstrap], training.training, flags.maxTokens);
  const models = new Map([weak, strong, ...bootstrap].map((m) => [m.identity, m]));
  const spec = {
    data: await dataConfigFor(data, {
      seed: flags.seed,
      nTrain: flags.nTrain ?? null,
      nTest: flags.nTest ?? null,
      balance: flags.balance,
      maxTokens: flags.maxTokens,
      lengthPolicy: flags.lengthPolicy,
    }),
    seed: flags.seed,
    weak,
    strong,
    losses: await resolveLosses(flags.loss, lossOptionsFrom(flags), process.cwd(), 'the loss flags'),
    ...training,
    bootstrap,
    strongIterations: flags.strongIterations,
    precision: flags.precision,
  };
  const display = new ProgressDisplay();
  display.planned(distinctRuns([planExperiment(spec)]).length);
  let summary: ExperimentSummary;
  try {
    summary = await runExperiment(spec, {
      store,
      data,
      models,
      progress: {
        start: (name, config) => display.runStarted(name, config),
        step: (name, step, total, loss) => display.runStep(name, step, total, loss),
        finish: (name, result) => display.runFinished(name, result.reused),
      },
    });
  } finally {
    display.stop();
  }
  await writeJson(resolve(out, 'summary.json'), summary);
  if (flags.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else process.stdout.write(summaryTable(summary) + `summary written to ${resolve(out, 'summary.json')}\n`);
}

export function runCommand(): Command {
  const command = new Command('run')
    .description('one weak-to-strong experiment: weak model, strong ceiling, and a transfer run per loss, with PGR')
    .requiredOption('--dataset <name|file>', 'a registered dataset (see `w2s data list`) or a JSONL/CSV/TSV/Parquet file')
    .option('--text-column <name>', 'text column of a dataset file')
    .option('--label-column <name>', 'label column of a dataset file (0/1 or true/false)')
    .requiredOption('--weak <model>', 'the supervisor: a named size (nano, micro, mini, small, base) or a checkpoint path')
    .requiredOption('--strong <model>', 'the student: a named size or a checkpoint path')
    .requiredOption('--loss <list>', `transfer losses, comma-separated: ${BUILTIN_LOSS_NAMES.join(', ')} (see below), or loss module files (./my-loss.mjs)`, lossList)
    .addOption(optionFlag(EXPERIMENT_SETTINGS.seed))
    .option('--n-train <n>', 'training examples (halved into train1 and train2; default: all but the test split)', integerOption(2))
    .option('--n-test <n>', 'test examples (default: 20% of the dataset)', integerOption(1))
    .addOption(optionFlag(EXPERIMENT_SETTINGS.maxTokens))
    .addOption(new Option('--length-policy <policy>', "longer examples: 'truncate' (keep the last tokens) or 'drop'").choices(['truncate', 'drop']).default('truncate'))
    .option('--balance', 'downsample the majority class before splitting', false)
    .option('--bootstrap <models>', 'also bootstrap through these intermediate models (comma-separated, weak to strong)', modelList, [])
    .addOption(optionFlag(EXPERIMENT_SETTINGS.strongIterations))
    .option('--data-dir <dir>', 'where the datasets are (default: $W2S_DATA_DIR)')
    .requiredOption('--out <dir>', 'folder of summary.json (and of the results store unless --results is given)')
    .option('--results <dir>', 'results store to reuse finished runs from (default: --out)')
    .option('--threads <n>', 'CPU threads (default: all cores)', integerOption(1, 4096))
    .option('--json', 'print the summary as JSON instead of a table', false);
  return addDeviceOptions(addTrainingOptions(command)).action(async (flags: RunFlags) => runRun(flags));
}
