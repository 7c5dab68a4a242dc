// Declared options: what a setting of the training, or an option of a loss, takes (its kind,
// default, bounds or choices), its help and its command-line flag, written once; how a value is
// checked against its declaration, and how a refusal reads wherever the value entered:
// `<name> must be <what>, got <value>`.

interface Declared<T> {
  default: T;
  help: string;
  /** The command-line flag that sets it (`--${flag}`); none: set in sweep files and by the library only. */
  flag?: string;
}

/** A number; max Infinity (or Number.MAX_SAFE_INTEGER for an integer): no upper bound. */
export interface NumberOption extends Declared<number> {
  type: 'integer' | 'number';
  min: number;
  max: number;
}

export interface BooleanOption extends Declared<boolean> {
  type: 'boolean';
}

export interface ChoiceOption<T extends string = string> extends Declared<T> {
  type: 'choice';
  choices: readonly T[];
}

export type AnyOption = NumberOption | BooleanOption | ChoiceOption;

/** What a value of the option must be: "an integer in [1, 10000]", "a number >= 0", "one of "none", "best"", "a boolean". */
export function describeOption(option: AnyOption): string {
  if (option.type === 'boolean') return 'a boolean';
  if (option.type === 'choice') return `one of ${option.choices.map((c) => JSON.stringify(c)).join(', ')}`;
  const kind = option.type === 'integer' ? 'an integer' : 'a number';
  return option.max === Infinity || option.max === Number.MAX_SAFE_INTEGER ? `${kind} >= ${option.min}` : `${kind} in [${option.min}, ${option.max}]`;
}

/** Whether the option takes the value. */
export function optionAccepts(option: AnyOption, value: unknown): boolean {
  if (option.type === 'boolean') return typeof value === 'boolean';
  if (option.type === 'choice') return typeof value === 'string' && option.choices.includes(value);
  return typeof value === 'number' && Number.isFinite(value) && value >= option.min && value <= option.max && (option.type === 'number' || Number.isInteger(value));
}

/** The refusal of a value the option does not take, `name` as the user wrote it (a flag, a field of a file). */
export function refusal(option: AnyOption, value: unknown, name: string): string {
  return `${name} must be ${describeOption(option)}, got ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`;
}
