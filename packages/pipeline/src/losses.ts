// The transfer losses, each defined once: its name, its help text, its options (defaults, bounds,
// command-line flags), its schedule over training, and how a training step computes it, either a
// native kernel of the engine (the built-in losses) or a tfjs function on the step's logits (a
// user's loss, from a module file). The CLI's flags, the sweep file's validation, the run's
// identity in the results store and the report all read these definitions. Every loss is
// computed over the optimizer step's whole batch (see trainClassifier).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClassifierLoss } from '@w2s/model';
import type { tf } from '@w2s/kernels';
import { describeOption, optionAccepts, refusal, type ChoiceOption, type NumberOption } from './options.js';

export type LossOptionValue = number | string;
export type LossOptionValues = Record<string, LossOptionValue>;

/** A loss's option: a number within bounds, or one of some choices (declared as the training settings are). */
export type LossOption = NumberOption | ChoiceOption;

/** What a tfjs loss receives besides the logits and targets. */
export interface LossContext {
  /** The tfjs-core the logits live in (a module needs no tfjs of its own). */
  tf: typeof tf;
  step: number;
  totalSteps: number;
  /** step / totalSteps, in [0, 1). */
  progress: number;
  /** The loss's options, defaults filled in. */
  options: LossOptionValues;
}

/**
 * A loss on the logits [rows, 2] of the step's whole batch and their soft targets [rows, 2]
 * (ground truth one-hot, or the supervisor's probabilities), returning a scalar: by convention the
 * mean over the rows. Its gradient comes from tfjs autodiff.
 */
export type TfjsLossFn = (logits: tf.Tensor2D, targets: tf.Tensor2D, ctx: LossContext) => tf.Scalar;

export interface LossDefinition {
  /** Names it in run configurations, tables and plots. */
  name: string;
  help: string;
  options: Readonly<Record<string, LossOption>>;
  run:
    | {
        kind: 'native';
        /** The engine's kernel and its parameters at `step` of `totalSteps` (schedules live here). */
        at(options: LossOptionValues, step: number, totalSteps: number): ClassifierLoss;
      }
    | { kind: 'tfjs'; fn: TfjsLossFn };
  /** A loss from a module file: where it was loaded from, and its content's sha256. */
  module?: { path: string; sha256: string };
}

/** What a run's configuration records of its loss, its identity in the results store. */
export interface LossConfig {
  name: string;
  /** Every option, defaults filled in. */
  options: LossOptionValues;
  /** A module's content hash: editing the file gives its runs a new identity. */
  sha256?: string;
}

/** A loss chosen for an experiment: the definition and the values of its options. */
export interface LossChoice {
  definition: LossDefinition;
  options: LossOptionValues;
}

export class LossError extends Error {
  override name = 'LossError';
}

export type AlphaSchedule = 'linear' | 'jump';

/**
 * α of the logconf loss at `step` of `totalSteps`, f = step / totalSteps:
 * 'linear' (the paper): α = alphaMax · min(1, f / warmupFrac), a ramp from 0 to alphaMax;
 * 'jump' (the reference code's behaviour, kept only as an explicit option): openai/weak-to-strong's
 * logconf_loss_fn sets `coef = 1.0 if step_frac > warmup_frac else step_frac`, so α = alphaMax·f
 * during the warm-up (reaching only warmupFrac·alphaMax) and then jumps to alphaMax.
 */
export function logconfAlpha(opts: { alphaMax: number; warmupFrac: number; schedule: AlphaSchedule }, step: number, totalSteps: number): number {
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new RangeError(`totalSteps must be a positive integer, got ${totalSteps}`);
  if (!Number.isInteger(step) || step < 0 || step >= totalSteps) throw new RangeError(`step must be an integer in [0, ${totalSteps}), got ${step}`);
  if (opts.schedule !== 'linear' && opts.schedule !== 'jump') throw new RangeError(`unknown logconf schedule ${JSON.stringify(opts.schedule)}: expected linear or jump`);
  const f = step / totalSteps;
  if (opts.warmupFrac <= 0) return opts.alphaMax;
  if (opts.schedule === 'jump') return f > opts.warmupFrac ? opts.alphaMax : opts.alphaMax * f;
  return opts.alphaMax * Math.min(1, f / opts.warmupFrac);
}

const XENT: LossDefinition = {
  name: 'xent',
  help: 'cross-entropy with the soft labels (naive finetuning)',
  options: {},
  run: { kind: 'native', at: () => ({ loss: 'xent' }) },
};

/** The paper's settings: α_max 0.5 (0.75 for the largest students), warm-up over 20% of training. */
const LOGCONF: LossDefinition = {
  name: 'logconf',
  help: "the paper's auxiliary confidence loss: cross-entropy with (1 − α)·weak labels + α·the student's own predictions, hardened at the batch's quantile matching the weak labels' positive rate",
  options: {
    alphaMax: { type: 'number', default: 0.5, min: 0, max: 1, flag: 'alpha-max', help: 'logconf: the final weight α of the hardened student predictions' },
    warmupFrac: { type: 'number', default: 0.2, min: 0, max: 1, flag: 'warmup-frac', help: 'logconf: fraction of training over which α ramps from 0 to alpha-max' },
    schedule: { type: 'choice', default: 'linear', choices: ['linear', 'jump'], flag: 'logconf-schedule', help: "logconf: α's 'linear' ramp (the paper) or the reference code's 'jump'" },
  },
  run: {
    kind: 'native',
    at: (o, step, totalSteps) => ({ loss: 'logconf', alpha: logconfAlpha({ alphaMax: o.alphaMax as number, warmupFrac: o.warmupFrac as number, schedule: o.schedule as AlphaSchedule }, step, totalSteps) }),
  },
};

const PRODUCT: LossDefinition = {
  name: 'product',
  help: "cross-entropy with the normalised product weak labels^alpha · the student's predictions^beta",
  options: {
    alpha: { type: 'number', default: 1, min: 0, max: 100, flag: 'product-alpha', help: 'product: exponent of the weak labels' },
    beta: { type: 'number', default: 1, min: 0, max: 100, flag: 'product-beta', help: "product: exponent of the student's predictions" },
  },
  run: { kind: 'native', at: (o) => ({ loss: 'product', alpha: o.alpha as number, beta: o.beta as number }) },
};

/** The built-in losses, in the order tables list them. */
export const BUILTIN_LOSSES: readonly LossDefinition[] = [XENT, LOGCONF, PRODUCT];

export const BUILTIN_LOSS_NAMES: readonly string[] = BUILTIN_LOSSES.map((d) => d.name);

export function builtinLoss(name: string): LossDefinition | undefined {
  return BUILTIN_LOSSES.find((d) => d.name === name);
}

/** A --loss or sweep-file entry that names a module file rather than a built-in loss. */
export function isLossModule(spec: string): boolean {
  return /\.(mjs|js|cjs)$/i.test(spec) || spec.includes('/') || spec.includes('\\');
}

export function defaultLossOptions(definition: LossDefinition): LossOptionValues {
  return Object.fromEntries(Object.entries(definition.options).map(([key, o]) => [key, o.default]));
}

/** The built-in losses' default options, by loss name. */
export const DEFAULT_LOSS_OPTIONS: Readonly<Record<string, LossOptionValues>> = Object.fromEntries(BUILTIN_LOSSES.map((d) => [d.name, defaultLossOptions(d)]));

/**
 * The definition's options with `given` overriding the defaults; throws a LossError naming
 * `${where}.${key}` for an unknown option or a value out of bounds.
 */
export function lossOptions(definition: LossDefinition, given: Record<string, unknown> = {}, where = `the ${definition.name} options`): LossOptionValues {
  const out = defaultLossOptions(definition);
  for (const [key, value] of Object.entries(given)) {
    const option = definition.options[key];
    if (!option) {
      const known = Object.keys(definition.options);
      throw new LossError(`${where}.${key} is not an option of ${definition.name} (${known.length ? `its options: ${known.join(', ')}` : 'it has none'})`);
    }
    if (!optionAccepts(option, value)) throw new LossError(refusal(option, value, `${where}.${key}`));
    out[key] = value as LossOptionValue;
  }
  return out;
}

/** The identity a run records for this loss and these options. */
export function lossConfig(choice: LossChoice): LossConfig {
  const { definition, options } = choice;
  return { name: definition.name, options, ...(definition.module ? { sha256: definition.module.sha256 } : {}) };
}

/** The definition a run configuration's loss names: a built-in one, or a loaded module with the same content hash. */
export function findLoss(config: LossConfig, loaded: readonly LossDefinition[] = []): LossDefinition {
  if (config.sha256 === undefined) {
    const builtIn = builtinLoss(config.name);
    if (!builtIn) throw new LossError(`unknown loss ${JSON.stringify(config.name)}: expected one of ${BUILTIN_LOSS_NAMES.join(', ')}, or a module file`);
    return builtIn;
  }
  const found = loaded.find((d) => d.module?.sha256 === config.sha256 && d.name === config.name);
  if (!found) throw new LossError(`the run needs the loss module ${JSON.stringify(config.name)} with content sha256:${config.sha256}, and no such module is loaded here`);
  return found;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Checks a definition's shape: a valid name, a help text, options whose defaults satisfy their
 * own bounds. Module files are checked with it when loaded (and the built-ins in the tests).
 */
export function checkLossDefinition(d: LossDefinition, where: string): void {
  if (typeof d.name !== 'string' || !NAME.test(d.name)) throw new LossError(`${where}: name must be letters, digits, '.', '_' or '-', got ${JSON.stringify(d.name)}`);
  if (typeof d.help !== 'string') throw new LossError(`${where}: help must be a string`);
  if (!d.options || typeof d.options !== 'object' || Array.isArray(d.options)) throw new LossError(`${where}: options must be an object of option specifications`);
  for (const [key, o] of Object.entries(d.options)) {
    const at = `${where}: options.${key}`;
    if (!o || typeof o !== 'object') throw new LossError(`${at} must be {type: "number", default, min, max, help} or {type: "choice", default, choices, help}`);
    if (o.type === 'number') {
      if (![o.min, o.max].every((x) => typeof x === 'number' && !Number.isNaN(x)) || !(o.min <= o.max)) throw new LossError(`${at}: min and max must be numbers with min <= max`);
    } else if (o.type === 'choice') {
      if (!Array.isArray(o.choices) || o.choices.length === 0 || !o.choices.every((c) => typeof c === 'string')) throw new LossError(`${at}: choices must be a non-empty array of strings`);
    } else throw new LossError(`${at}: type must be "number" or "choice", got ${JSON.stringify((o as { type?: unknown }).type)}`);
    if (!optionAccepts(o, o.default)) throw new LossError(`${at}: default must be ${describeOption(o)}, got ${JSON.stringify(o.default)}`);
    if (typeof o.help !== 'string') throw new LossError(`${at}: help must be a string`);
  }
}

/**
 * Loads a user's loss from a module file (ES module). Its default export is the loss function
 * `(logits, targets, {tf, step, totalSteps, progress, options}) => scalar`, or an object
 * `{name?, help?, options?, loss}`; the name defaults to the file's name without its extension.
 * The definition is keyed by the file's content hash, so an edited file never reuses old runs.
 */
export async function loadLossModule(path: string): Promise<LossDefinition> {
  const file = resolve(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new LossError(`cannot read the loss module ${file}: ${(err as Error).message}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let exported: unknown;
  try {
    // The hash in the URL: a module edited since an earlier import in this process is imported anew.
    exported = ((await import(`${pathToFileURL(file).href}?sha256=${sha256}`)) as { default?: unknown }).default;
  } catch (err) {
    throw new LossError(`cannot import the loss module ${file}: ${(err as Error).message}`);
  }
  const spec = (typeof exported === 'function' ? { loss: exported } : exported) as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object' || typeof spec.loss !== 'function')
    throw new LossError(`${file} must export default a loss function (logits, targets, ctx) => scalar, or an object {name?, help?, options?, loss}`);
  const definition: LossDefinition = {
    name: spec.name === undefined ? basename(file, extname(file)) : (spec.name as string),
    help: spec.help === undefined ? `custom loss from ${file}` : (spec.help as string),
    options: (spec.options ?? {}) as Record<string, LossOption>,
    run: { kind: 'tfjs', fn: spec.loss as TfjsLossFn },
    module: { path: file, sha256 },
  };
  checkLossDefinition(definition, file);
  if (builtinLoss(definition.name)) throw new LossError(`${file}: the name ${JSON.stringify(definition.name)} is a built-in loss's; give the module another name`);
  return definition;
}

/**
 * The losses of an experiment from their names or module paths (relative to `baseDir`) and the
 * options given by loss name; every module is loaded and every option checked here.
 */
export async function resolveLosses(specs: readonly string[], given: Readonly<Record<string, Record<string, unknown>>> = {}, baseDir = process.cwd(), where = 'lossOptions'): Promise<LossChoice[]> {
  const choices: LossChoice[] = [];
  for (const spec of specs) {
    const definition = isLossModule(spec) ? await loadLossModule(resolve(baseDir, spec)) : builtinLoss(spec);
    if (!definition) throw new LossError(`unknown loss ${JSON.stringify(spec)}: expected one of ${BUILTIN_LOSS_NAMES.join(', ')}, or a module file (.mjs)`);
    if (choices.some((c) => c.definition.name === definition.name)) throw new LossError(`two losses are named ${JSON.stringify(definition.name)}`);
    choices.push({ definition, options: lossOptions(definition, given[definition.name] ?? {}, `${where}.${definition.name}`) });
  }
  const unused = Object.keys(given).filter((name) => !choices.some((c) => c.definition.name === name) && !builtinLoss(name));
  if (unused.length > 0) throw new LossError(`${where} names ${unused.map((n) => JSON.stringify(n)).join(', ')}, which is not among the losses`);
  return choices;
}
