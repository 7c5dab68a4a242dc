// The options that configure training, shared by `w2s run` (and read from the sweep file's
// "training" and "lossOptions" fields by `w2s sweep`), and their translation into settings. The
// losses' flags come from the losses' definitions (@w2s/pipeline's losses.ts): their names, help,
// defaults and bounds are written there once.
import { Command, InvalidArgumentError, Option } from 'commander';
import { BUILTIN_LOSSES, DEFAULT_TRAIN_SETTINGS, type LossOption, type LossOptionValue, type TrainSettings } from '@w2s/pipeline';
import { integerOption, numberOption } from './options.js';

export interface TrainingFlags {
  epochs: number;
  batchSize: number;
  minibatchSize: number;
  lr: number;
  lrSchedule: TrainSettings['lrSchedule'];
  weightDecay: number;
  maxGradNorm: number;
  linearProbe: boolean;
  dropout: number;
  evalEvery: number;
  earlyStopping: TrainSettings['earlyStopping'];
  heldOutFrac: number;
  /** The losses' flags, by commander's attribute name (--alpha-max: alphaMax). */
  [lossFlag: string]: unknown;
}

const d = DEFAULT_TRAIN_SETTINGS;

/** Every loss option that has a flag, with the attribute commander stores its value under. */
const LOSS_FLAGS = BUILTIN_LOSSES.flatMap((definition) =>
  Object.entries(definition.options).flatMap(([key, option]) =>
    option.flag ? [{ loss: definition.name, key, option, flag: option.flag, attribute: option.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) }] : [],
  ),
);

function lossFlag(flag: string, option: LossOption): Option {
  const o = new Option(`--${flag} <${option.type === 'number' ? 'x' : 'kind'}>`, option.help).default(option.default);
  return option.type === 'number' ? o.argParser(numberOption(option.min, option.max)) : o.choices([...option.choices]);
}

/** Adds the training options to a command. */
export function addTrainingOptions(command: Command): Command {
  command
    .option('--epochs <n>', 'passes over the training split', integerOption(1, 10_000), d.epochs)
    .option('--batch-size <n>', 'examples per optimizer step', integerOption(1, 1_000_000), d.batchSize)
    .option('--minibatch-size <n>', 'examples per forward/backward (gradients accumulate over a batch)', integerOption(1, 1_000_000), d.minibatchSize)
    .option('--lr <x>', 'peak learning rate (AdamW)', numberOption(0, 10), d.lr)
    .addOption(new Option('--lr-schedule <kind>', 'learning-rate schedule').choices(['constant', 'cosine', 'warmup-cosine']).default(d.lrSchedule))
    .option('--weight-decay <x>', 'decoupled weight decay', numberOption(0, 10), d.weightDecay)
    .option('--max-grad-norm <x>', 'clip the global gradient norm to this (0: no clipping)', numberOption(0), d.maxGradNorm)
    .option('--linear-probe', 'train only the classification head on frozen features', d.linearProbe)
    .option('--dropout <p>', 'dropout while training', numberOption(0, 0.99), d.dropout)
    .option('--eval-every <n>', 'evaluate on the held-out split every n steps (0: at the end only)', integerOption(0), d.evalEvery)
    .addOption(new Option('--early-stopping <mode>', "'best': keep the weights that score best on the held-out split").choices(['none', 'best']).default(d.earlyStopping))
    .option('--held-out-frac <x>', 'fraction of each training split held out, labelled by its supervisor, for early stopping', numberOption(0, 0.9), 0);
  for (const { flag, option } of LOSS_FLAGS) command.addOption(lossFlag(flag, option));
  return command.addHelpText('after', lossesHelp());
}

/** The losses' definitions, for the help text. */
function lossesHelp(): string {
  const lines = ['', 'Losses:'];
  for (const d of BUILTIN_LOSSES) {
    lines.push(`  ${d.name}: ${d.help}`);
    for (const option of Object.values(d.options))
      if (option.flag) lines.push(`    --${option.flag} (${option.type === 'number' ? `[${option.min}, ${option.max}]` : option.choices.join(' | ')}, default ${option.default})`);
  }
  lines.push(
    '  a module file (--loss ./my-loss.mjs): `export default function (logits, targets, {tf, progress, options}) { return scalar }`,',
    '    or an object {name, help, options, loss}; its runs are keyed by the file\'s content hash (see the README)',
  );
  return lines.join('\n');
}

export function trainSettingsFrom(flags: TrainingFlags): TrainSettings {
  if (flags.earlyStopping === 'best' && (flags.heldOutFrac === 0 || flags.evalEvery === 0))
    throw new InvalidArgumentError('--early-stopping best needs --held-out-frac > 0 (the split it scores on) and --eval-every > 0 (how often)');
  return {
    ...DEFAULT_TRAIN_SETTINGS,
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    minibatchSize: Math.min(flags.minibatchSize, flags.batchSize),
    lr: flags.lr,
    lrSchedule: flags.lrSchedule,
    weightDecay: flags.weightDecay,
    maxGradNorm: flags.maxGradNorm,
    linearProbe: flags.linearProbe,
    dropout: flags.dropout,
    evalEvery: flags.evalEvery,
    earlyStopping: flags.earlyStopping,
  };
}

/** The built-in losses' options from their flags, by loss name. */
export function lossOptionsFrom(flags: TrainingFlags): Record<string, Record<string, LossOptionValue>> {
  const out: Record<string, Record<string, LossOptionValue>> = {};
  for (const { loss, key, attribute } of LOSS_FLAGS) (out[loss] ??= {})[key] = flags[attribute] as LossOptionValue;
  return out;
}
