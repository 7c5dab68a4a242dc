// The training settings, declared once (options.ts): each one's default, bounds (or choices), help
// and command-line flag. Values are checked against these declarations once, where they enter: the
// CLI's flags (their parsers and help are built from them), the sweep file's "training" field, and
// trainClassifier for callers of the library. Every refusal reads `<name> must be <what>, got
// <value>`, the name as the caller's user writes it (--dropout, training.dropout, dropout).
import { optionAccepts, refusal, type AnyOption, type BooleanOption, type ChoiceOption, type NumberOption } from './options.js';
import type { LrSchedule } from './schedules.js';

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  /** At most batchSize (a larger value is taken as batchSize). */
  minibatchSize: number;
  lr: number;
  lrSchedule: LrSchedule;
  /** Warm-up fraction of 'warmup-cosine'. */
  lrWarmupFrac: number;
  weightDecay: number;
  /** 0: no clipping. */
  maxGradNorm: number;
  /** Only the classification head trains. */
  linearProbe: boolean;
  dropout: number;
  /** Evaluate on the held-out split every this many steps (and after the last step); 0: only at the end. */
  evalEvery: number;
  /** 'best': keep the weights that scored best on the held-out split (needs one, and evalEvery > 0). */
  earlyStopping: 'none' | 'best';
  evalBatchSize: number;
}

/** The declaration of a setting whose values are T. */
export type Setting<T> = [T] extends [number] ? NumberOption : [T] extends [boolean] ? BooleanOption : [T] extends [string] ? ChoiceOption<T> : never;

export const TRAIN_SETTINGS: { readonly [K in keyof TrainSettings]: Setting<TrainSettings[K]> } = {
  epochs: { type: 'integer', min: 1, max: 10_000, default: 2, flag: 'epochs', help: 'passes over the training split' },
  batchSize: { type: 'integer', min: 1, max: 1_000_000, default: 32, flag: 'batch-size', help: 'examples per optimizer step' },
  minibatchSize: { type: 'integer', min: 1, max: 1_000_000, default: 8, flag: 'minibatch-size', help: 'examples per forward/backward (gradients accumulate over a batch)' },
  lr: { type: 'number', min: 0, max: 10, default: 1e-4, flag: 'lr', help: 'peak learning rate (AdamW)' },
  lrSchedule: { type: 'choice', choices: ['constant', 'cosine', 'warmup-cosine'], default: 'cosine', flag: 'lr-schedule', help: 'learning-rate schedule' },
  lrWarmupFrac: { type: 'number', min: 0, max: 1, default: 0.1, help: "fraction of the steps that 'warmup-cosine' ramps up over" },
  weightDecay: { type: 'number', min: 0, max: 10, default: 0, flag: 'weight-decay', help: 'decoupled weight decay' },
  maxGradNorm: { type: 'number', min: 0, max: Infinity, default: 1, flag: 'max-grad-norm', help: 'clip the global gradient norm to this (0: no clipping)' },
  linearProbe: { type: 'boolean', default: false, flag: 'linear-probe', help: 'train only the classification head on frozen features' },
  dropout: { type: 'number', min: 0, max: 0.99, default: 0, flag: 'dropout', help: 'dropout while training' },
  evalEvery: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: 0, flag: 'eval-every', help: 'evaluate on the held-out split every n steps (0: at the end only)' },
  earlyStopping: { type: 'choice', choices: ['none', 'best'], default: 'none', flag: 'early-stopping', help: "'best': keep the weights that score best on the held-out split" },
  evalBatchSize: { type: 'integer', min: 1, max: 1_000_000, default: 32, help: 'examples per forward pass when evaluating and predicting' },
};

/**
 * An experiment's settings beside its training whose bounds the CLI and sweep files once
 * differed on: its seed, the longest example, the strong-to-strong iterations. `w2s run`'s flags,
 * a sweep file's fields and the library (dataConfigFor, planExperiment) check them here.
 */
export const EXPERIMENT_SETTINGS = {
  seed: { type: 'integer', min: 0, max: 2 ** 31 - 1, default: 0, flag: 'seed', help: 'seed of the splits, initialisation and data order' },
  maxTokens: { type: 'integer', min: 2, max: 1_000_000, default: 256, flag: 'max-tokens', help: 'longest tokenized example' },
  strongIterations: { type: 'integer', min: 0, max: 100, default: 0, flag: 'strong-iterations', help: 'also run this many strong-to-strong iterations after each transfer run' },
} as const satisfies Record<string, NumberOption>;

/** The fraction of each training split held out, labelled like the rest, for early stopping (a run's setting beside its TrainSettings). */
export const HELD_OUT_FRAC = { type: 'number', min: 0, max: 0.9, default: 0, flag: 'held-out-frac', help: 'fraction of each training split held out, labelled by its supervisor, for early stopping' } as const satisfies NumberOption;

export const DEFAULT_TRAIN_SETTINGS: TrainSettings = Object.fromEntries(Object.entries(TRAIN_SETTINGS).map(([key, s]) => [key, s.default])) as unknown as TrainSettings;

export class SettingError extends RangeError {}

/** The value, if the setting takes it; else a SettingError naming it. */
export function checkSetting(setting: AnyOption, value: unknown, name: string): unknown {
  if (!optionAccepts(setting, value)) throw new SettingError(refusal(setting, value, name));
  return value;
}

/** How the caller's user writes a setting (a flag, a field of a file). */
export type SettingName = (key: keyof TrainSettings | 'heldOutFrac') => string;

/**
 * The defaults overridden by `given`, each checked against its declaration; unknown fields are
 * refused, a minibatchSize above batchSize is taken as batchSize, and early stopping 'best'
 * needs evaluations (evalEvery > 0).
 */
export function checkTrainSettings(given: Record<string, unknown>, name: SettingName = (key) => key): TrainSettings {
  const settings: Record<string, unknown> = { ...DEFAULT_TRAIN_SETTINGS };
  for (const [key, value] of Object.entries(given)) {
    const setting = (TRAIN_SETTINGS as Record<string, AnyOption>)[key];
    if (!setting) throw new SettingError(`${name(key as keyof TrainSettings)} must be one of the training settings (${Object.keys(TRAIN_SETTINGS).join(', ')})`);
    if (value !== undefined) settings[key] = checkSetting(setting, value, name(key as keyof TrainSettings));
  }
  const s = settings as unknown as TrainSettings;
  s.minibatchSize = Math.min(s.minibatchSize, s.batchSize);
  if (s.earlyStopping === 'best' && s.evalEvery === 0)
    throw new SettingError(`${name('earlyStopping')} "best" needs ${name('evalEvery')} > 0 (with evaluations only at the end, it would keep the last weights)`);
  return s;
}

/** A run's held-out fraction, checked against its declaration, and above 0 where early stopping 'best' scores on it. */
export function checkHeldOutFrac(value: unknown, settings: TrainSettings, name: SettingName = (key) => key): number {
  const frac = checkSetting(HELD_OUT_FRAC, value, name('heldOutFrac')) as number;
  if (settings.earlyStopping === 'best' && frac === 0) throw new SettingError(`${name('earlyStopping')} "best" needs ${name('heldOutFrac')} > 0 (the split it scores on)`);
  return frac;
}
