// The sweep file: a grid of datasets × (weak, strong) model pairs × seeds, each experiment with
// every loss, read and checked here (every problem names the file and the field).
//
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
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { BUILTIN_LOSS_NAMES, LossError, builtinLoss, isLossModule, lossOptions } from '../losses.js';
import type { LengthPolicy } from '../encode.js';
import type { AnyOption } from '../options.js';
import { EXPERIMENT_SETTINGS, HELD_OUT_FRAC, SettingError, checkHeldOutFrac, checkSetting, checkTrainSettings, type SettingName, type TrainSettings } from '../settings.js';

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

export const SWEEP_DEFAULTS = { nTrain: null, nTest: null, lengthPolicy: 'truncate', balance: false, bootstrap: [] } as const;

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
  const lengthPolicy = o.lengthPolicy ?? SWEEP_DEFAULTS.lengthPolicy;
  if (lengthPolicy !== 'drop' && lengthPolicy !== 'truncate') fail('lengthPolicy', '"drop" or "truncate"', lengthPolicy);
  // Built-in loss names, or module files (made absolute, relative to the sweep file).
  const base = file === 'sweep config' ? process.cwd() : dirname(resolve(file));
  for (const [i, loss] of losses.entries())
    if (isLossModule(loss)) losses[i] = resolve(base, loss);
    else if (!builtinLoss(loss)) fail(`losses[${i}]`, `a built-in loss (${BUILTIN_LOSS_NAMES.join(', ')}) or a loss module file (.mjs)`, loss);
  const settingName: SettingName = (key) => (key === 'heldOutFrac' ? key : `training.${key}`);
  const { seed, maxTokens, strongIterations } = EXPERIMENT_SETTINGS;
  let training: TrainSettings, heldOutFrac: number, seeds: number[], experiment: { maxTokens: number; strongIterations: number };
  try {
    training = checkTrainSettings(objectField(o.training, 'training', fail), settingName);
    // An absent field takes its default; null is refused like any other value not declared.
    const given = (field: string, option: AnyOption) => (o[field] === undefined ? option.default : o[field]);
    heldOutFrac = checkHeldOutFrac(given('heldOutFrac', HELD_OUT_FRAC), training, settingName);
    seeds = (o.seeds as unknown[]).map((s, i) => checkSetting(seed, s, `seeds[${i}]`) as number);
    experiment = {
      maxTokens: checkSetting(maxTokens, given('maxTokens', maxTokens), 'maxTokens') as number,
      strongIterations: checkSetting(strongIterations, given('strongIterations', strongIterations), 'strongIterations') as number,
    };
  } catch (err) {
    if (err instanceof SettingError) throw new SweepConfigError(`${file}: ${err.message}`);
    throw err;
  }
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
  if (typeof o.balance !== 'undefined' && typeof o.balance !== 'boolean') fail('balance', 'a boolean', o.balance);
  if (o.dataDir !== undefined && typeof o.dataDir !== 'string') fail('dataDir', 'a string', o.dataDir);
  return {
    datasets,
    pairs,
    losses,
    seeds,
    nTrain: o.nTrain === undefined || o.nTrain === null ? null : integer('nTrain', o.nTrain, 2),
    nTest: o.nTest === undefined || o.nTest === null ? null : integer('nTest', o.nTest, 1),
    maxTokens: experiment.maxTokens,
    lengthPolicy: lengthPolicy as LengthPolicy,
    balance: (o.balance as boolean | undefined) ?? SWEEP_DEFAULTS.balance,
    heldOutFrac,
    bootstrap: o.bootstrap === undefined ? [] : strings('bootstrap', o.bootstrap),
    strongIterations: experiment.strongIterations,
    training,
    lossOptions: lossOptionsByName,
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir as string } : {}),
  };
}

function objectField(value: unknown, field: string, fail: (f: string, e: string, g: unknown) => never): Record<string, unknown> {
  if (value === undefined) return {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) return fail(field, 'an object', value);
  return value as Record<string, unknown>;
}
