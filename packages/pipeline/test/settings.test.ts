// The training settings' one set of bounds: the library (checkTrainSettings, which trainClassifier
// calls) and the sweep file's "training" field accept and refuse the same values, with the same
// words after the name (the CLI's flags are built from the same declarations: cli run.test.ts);
// likewise an experiment's seed, longest example and strong-to-strong iterations.
import { describe, expect, it } from 'vitest';
import { describeOption, optionAccepts, type AnyOption } from '../src/options.js';
import { DEFAULT_TRAIN_SETTINGS, EXPERIMENT_SETTINGS, HELD_OUT_FRAC, TRAIN_SETTINGS, checkHeldOutFrac, checkTrainSettings } from '../src/settings.js';
import { dataConfigFor } from '../src/data.js';
import { planExperiment, type ExperimentSpec } from '../src/experiment.js';
import { parseSweepConfig } from '../src/sweep/config.js';

const base = { datasets: ['sst2'], models: ['nano', 'micro'], losses: ['xent'], seeds: [0] };
const declared = Object.entries(TRAIN_SETTINGS as Record<string, AnyOption>);

const unbounded = (max: number) => max === Infinity || max === Number.MAX_SAFE_INTEGER;

/** Values just outside a setting's bounds, or of the wrong kind. */
function refused(setting: AnyOption): unknown[] {
  if (setting.type === 'boolean') return ['yes', 1, null];
  if (setting.type === 'choice') return ['step', 3, null];
  const out: unknown[] = [setting.min - 1, String(setting.min), null];
  if (!unbounded(setting.max)) out.push(setting.type === 'integer' ? setting.max + 1 : setting.max + 0.005);
  if (setting.type === 'integer') out.push(setting.min + 0.5);
  return out;
}

/** Values a setting takes: its default and its bounds. */
function accepted(setting: AnyOption): unknown[] {
  if (setting.type === 'boolean') return [true, false];
  if (setting.type === 'choice') return [...setting.choices];
  return [setting.default, setting.min, ...(unbounded(setting.max) ? [] : [setting.max])];
}

const shown = (value: unknown) => (typeof value === 'number' ? String(value) : JSON.stringify(value));

describe('training settings', () => {
  it('the defaults are the declarations’ and within their own bounds', () => {
    for (const [key, setting] of [...declared, ['heldOutFrac', HELD_OUT_FRAC] as const]) expect(optionAccepts(setting, setting.default), key).toBe(true);
    expect(DEFAULT_TRAIN_SETTINGS).toEqual(Object.fromEntries(declared.map(([key, s]) => [key, s.default])));
    expect(checkTrainSettings({})).toEqual(DEFAULT_TRAIN_SETTINGS);
  });

  it('the library and the sweep file refuse the same values of every setting, in the same words', () => {
    for (const [key, setting] of declared)
      for (const value of refused(setting)) {
        const what = `must be ${describeOption(setting)}, got ${shown(value)}`;
        expect(() => checkTrainSettings({ [key]: value }), `${key} = ${shown(value)}`).toThrow(`${key} ${what}`);
        expect(() => parseSweepConfig({ ...base, training: { [key]: value } }, 'f.json'), `${key} = ${shown(value)}`).toThrow(`f.json: training.${key} ${what}`);
      }
  });

  it('and accept the same values', () => {
    for (const [key, setting] of declared)
      for (const value of accepted(setting)) {
        const given = key === 'earlyStopping' && value === 'best' ? { [key]: value, evalEvery: 1 } : { [key]: value };
        const library = checkTrainSettings(given);
        const sweep = parseSweepConfig({ ...base, training: given, heldOutFrac: 0.2 }, 'f.json').training;
        expect(sweep, `${key} = ${shown(value)}`).toEqual(library);
        expect(library[key as keyof typeof library], `${key} = ${shown(value)}`).toBe(key === 'minibatchSize' ? Math.min(value as number, library.batchSize) : value);
      }
  });

  it('dropout 5: refused where it enters, naming the field (it used to pass a sweep file and fail in the engine)', () => {
    expect(() => parseSweepConfig({ ...base, training: { dropout: 5 } }, 'f.json')).toThrow('f.json: training.dropout must be a number in [0, 0.99], got 5');
    expect(() => checkTrainSettings({ dropout: 5 })).toThrow('dropout must be a number in [0, 0.99], got 5');
    expect(() => checkTrainSettings({ dropout: 0.99 })).not.toThrow();
  });

  it('the rules between settings: a minibatch at most the batch, early stopping with evaluations and a held-out split', () => {
    expect(checkTrainSettings({ batchSize: 4, minibatchSize: 8 })).toMatchObject({ batchSize: 4, minibatchSize: 4 });
    expect(parseSweepConfig({ ...base, training: { batchSize: 4, minibatchSize: 8 } }).training).toMatchObject({ batchSize: 4, minibatchSize: 4 });
    expect(() => checkTrainSettings({ earlyStopping: 'best' })).toThrow('earlyStopping "best" needs evalEvery > 0 (with evaluations only at the end, it would keep the last weights)');
    expect(() => parseSweepConfig({ ...base, training: { earlyStopping: 'best' }, heldOutFrac: 0.2 }, 'f.json')).toThrow('f.json: training.earlyStopping "best" needs training.evalEvery > 0');
    const best = checkTrainSettings({ earlyStopping: 'best', evalEvery: 5 });
    expect(() => checkHeldOutFrac(0, best)).toThrow('earlyStopping "best" needs heldOutFrac > 0 (the split it scores on)');
    expect(() => parseSweepConfig({ ...base, training: { earlyStopping: 'best', evalEvery: 5 } }, 'f.json')).toThrow('f.json: training.earlyStopping "best" needs heldOutFrac > 0 (the split it scores on)');
    expect(checkHeldOutFrac(0.9, best)).toBe(0.9);
    expect(() => checkHeldOutFrac(0.95, DEFAULT_TRAIN_SETTINGS)).toThrow('heldOutFrac must be a number in [0, 0.9], got 0.95');
    expect(() => parseSweepConfig({ ...base, heldOutFrac: 0.95 }, 'f.json')).toThrow('f.json: heldOutFrac must be a number in [0, 0.9], got 0.95');
  });

  it('an unknown setting is refused, naming the known ones', () => {
    expect(() => checkTrainSettings({ learningRate: 1 })).toThrow(`learningRate must be one of the training settings (${Object.keys(TRAIN_SETTINGS).join(', ')})`);
    expect(() => parseSweepConfig({ ...base, training: { learningRate: 1 } }, 'f.json')).toThrow('f.json: training.learningRate must be one of the training settings (');
  });

  it("an experiment's seed, longest example and strong-to-strong iterations: the sweep file and the library refuse the same values, in the same words", async () => {
    const table = { dataset: { path: '/not/read.csv', textColumn: 'text', labelColumn: 'label' } };
    const data = { seed: 0, nTrain: null, nTest: null, balance: false, maxTokens: 256, lengthPolicy: 'truncate' as const };
    const library: Record<keyof typeof EXPERIMENT_SETTINGS, (value: unknown) => Promise<unknown>> = {
      seed: async (seed) => dataConfigFor(table, { ...data, seed: seed as number }),
      maxTokens: async (maxTokens) => dataConfigFor(table, { ...data, maxTokens: maxTokens as number }),
      strongIterations: async (strongIterations) => planExperiment({ strongIterations } as unknown as ExperimentSpec),
    };
    const sweep: Record<keyof typeof EXPERIMENT_SETTINGS, (value: unknown) => unknown> = {
      seed: (seed) => parseSweepConfig({ ...base, seeds: [seed] }, 'f.json'),
      maxTokens: (maxTokens) => parseSweepConfig({ ...base, maxTokens }, 'f.json'),
      strongIterations: (strongIterations) => parseSweepConfig({ ...base, strongIterations }, 'f.json'),
    };
    for (const [key, setting] of Object.entries(EXPERIMENT_SETTINGS) as [keyof typeof EXPERIMENT_SETTINGS, AnyOption][]) {
      expect(optionAccepts(setting, setting.default), key).toBe(true);
      for (const value of refused(setting)) {
        const what = `must be ${describeOption(setting)}, got ${shown(value)}`;
        await expect(library[key](value), `${key} = ${shown(value)}`).rejects.toThrow(`${key} ${what}`);
        expect(() => sweep[key](value), `${key} = ${shown(value)}`).toThrow(`f.json: ${key === 'seed' ? 'seeds[0]' : key} ${what}`);
      }
    }
    expect(parseSweepConfig(base)).toMatchObject({ seeds: [0], maxTokens: 256, strongIterations: 0 });
    expect(parseSweepConfig({ ...base, seeds: [2 ** 31 - 1], maxTokens: 1_000_000, strongIterations: 100 })).toMatchObject({ seeds: [2 ** 31 - 1], maxTokens: 1_000_000, strongIterations: 100 });
  });
});
