// The options that configure training, shared by `w2s run` (and read from the sweep file's
// "training" and "lossOptions" fields by `w2s sweep`), and their translation into settings. The
// flags come from the declarations: the training settings' from @w2s/pipeline's settings.ts, the
// losses' from their definitions (losses.ts); names, help, defaults and bounds are written there
// once, and a flag refuses what a sweep file's field refuses.
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  BUILTIN_LOSSES,
  HELD_OUT_FRAC,
  TRAIN_SETTINGS,
  SettingError,
  checkHeldOutFrac,
  checkTrainSettings,
  describeOption,
  optionAccepts,
  type AnyOption,
  type LossOptionValue,
  type SettingName,
  type TrainSettings,
} from '@w2s/pipeline';

/** The training settings' flags (commander stores --batch-size as batchSize: the setting's own name), --held-out-frac, and the losses' flags. */
export interface TrainingFlags extends Partial<TrainSettings> {
  heldOutFrac: number;
  /** The losses' flags, by commander's attribute name (--alpha-max: alphaMax). */
  [lossFlag: string]: unknown;
}

type Flagged = AnyOption & { flag: string };
const hasFlag = (option: AnyOption): option is Flagged => option.flag !== undefined;

/** The settings that have a flag, with their keys. */
const SETTING_FLAGS = Object.entries(TRAIN_SETTINGS as Record<string, AnyOption>).flatMap(([key, setting]) => (hasFlag(setting) ? [{ key, setting }] : []));

/** A declared option's flag (`--${option.flag}`): it refuses what the declaration refuses (a number in its words; a choice as commander says). */
export function optionFlag(option: Flagged): Option {
  const { flag } = option;
  if (option.type === 'boolean') return new Option(`--${flag}`, option.help).default(option.default);
  if (option.type === 'choice') return new Option(`--${flag} <kind>`, option.help).choices(option.choices).default(option.default);
  return new Option(`--${flag} <${option.type === 'integer' ? 'n' : 'x'}>`, option.help).default(option.default).argParser((text: string) => {
    const value = text.trim() === '' ? NaN : Number(text);
    if (!optionAccepts(option, value)) throw new InvalidArgumentError(`expected ${describeOption(option)}, got "${text}"`);
    return value;
  });
}

/** Every loss option that has a flag, with the attribute commander stores its value under. */
const LOSS_FLAGS = BUILTIN_LOSSES.flatMap((definition) =>
  Object.entries(definition.options).flatMap(([key, option]) =>
    hasFlag(option) ? [{ loss: definition.name, key, option, attribute: option.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) }] : [],
  ),
);

/** Adds the training options to a command. */
export function addTrainingOptions(command: Command): Command {
  for (const { setting } of SETTING_FLAGS) command.addOption(optionFlag(setting));
  command.addOption(optionFlag(HELD_OUT_FRAC));
  for (const { option } of LOSS_FLAGS) command.addOption(optionFlag(option));
  return command.addHelpText('after', lossesHelp());
}

/** The losses' definitions, for the help text. */
function lossesHelp(): string {
  const lines = ['', 'Losses:'];
  for (const d of BUILTIN_LOSSES) {
    lines.push(`  ${d.name}: ${d.help}`);
    for (const option of Object.values(d.options))
      if (option.flag) lines.push(`    --${option.flag} (${option.type === 'choice' ? option.choices.join(' | ') : `[${option.min}, ${option.max}]`}, default ${option.default})`);
  }
  lines.push(
    '  a module file (--loss ./my-loss.mjs): `export default function (logits, targets, {tf, progress, options}) { return scalar }`,',
    '    or an object {name, help, options, loss}; its runs are keyed by the file\'s content hash (see the README)',
  );
  return lines.join('\n');
}

/** The training settings the flags give, checked together (as a sweep file's are), in the flags' names. */
export function trainSettingsFrom(flags: TrainingFlags): { training: TrainSettings; heldOutFrac: number } {
  const flagName: SettingName = (key) => `--${(key === 'heldOutFrac' ? HELD_OUT_FRAC : TRAIN_SETTINGS[key]).flag ?? key}`;
  const given = Object.fromEntries(SETTING_FLAGS.map(({ key }) => [key, flags[key]]));
  try {
    const training = checkTrainSettings(given, flagName);
    return { training, heldOutFrac: checkHeldOutFrac(flags.heldOutFrac, training, flagName) };
  } catch (err) {
    throw err instanceof SettingError ? new InvalidArgumentError(err.message) : err;
  }
}

/** The built-in losses' options from their flags, by loss name. */
export function lossOptionsFrom(flags: TrainingFlags): Record<string, Record<string, LossOptionValue>> {
  const out: Record<string, Record<string, LossOptionValue>> = {};
  for (const { loss, key, attribute } of LOSS_FLAGS) (out[loss] ??= {})[key] = flags[attribute] as LossOptionValue;
  return out;
}
