// Planning experiments and sweeps: which runs an experiment needs, how supervisors nest into their
// students' configurations, that a grid's shared runs are computed once, and that sweep files are
// validated field by field.
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distinctRuns, planExperiment, type ExperimentSpec } from '../src/experiment.js';
import { resolveLosses } from '../src/losses.js';
import { resolveModel } from '../src/models.js';
import { parseSweepConfig } from '../src/sweep/config.js';
import { canonicalJson, runName } from '../src/store.js';
import type { RunConfig } from '../src/runs.js';
import { DEFAULT_TRAIN_SETTINGS } from '../src/settings.js';
import { needsData } from '../../../tests/support/data.js';

const data = { name: 'sciq', seed: 0, nTrain: 100, nTest: 50, balance: false, maxTokens: 64, lengthPolicy: 'truncate' as const };

async function spec(weak: string, strong: string, over: Partial<ExperimentSpec> = {}): Promise<ExperimentSpec> {
  return {
    data,
    seed: 0,
    weak: await resolveModel(weak),
    strong: await resolveModel(strong),
    losses: await resolveLosses(['xent', 'logconf']),
    training: DEFAULT_TRAIN_SETTINGS,
    heldOutFrac: 0,
    bootstrap: [],
    strongIterations: 0,
    precision: 'float32',
    ...over,
  };
}

describe('planExperiment', () => {
  it('weak on train1 ground truth; ceiling on train2 ground truth; one transfer per loss supervised by the weak run', async () => {
    const plan = planExperiment(await spec('nano', 'mini'));
    expect(plan.weak).toMatchObject({ role: 'weak', trainSplit: 'train1', supervisor: null, loss: { name: 'xent', options: {} }, model: { identity: 'nano' } });
    expect(plan.ceiling).toMatchObject({ role: 'ceiling', trainSplit: 'train2', supervisor: null, model: { identity: 'mini' } });
    expect(plan.transfers.map((t) => t.label)).toEqual(['xent', 'logconf']);
    for (const t of plan.transfers) {
      expect(t.run).toMatchObject({ role: 'transfer', trainSplit: 'train2', model: { identity: 'mini' } });
      expect(t.run.supervisor).toEqual(plan.weak);
    }
    expect(plan.transfers[1].run.loss).toEqual({ name: 'logconf', options: { alphaMax: 0.5, warmupFrac: 0.2, schedule: 'linear' } });
  });

  it('bootstrapping chains supervisors; strong-to-strong iterations relabel with the previous transfer model', async () => {
    const plan = planExperiment(await spec('nano', 'mini', { losses: await resolveLosses(['xent']), bootstrap: [await resolveModel('micro')], strongIterations: 2 }));
    expect(plan.transfers.map((t) => t.label)).toEqual(['xent', 'xent s2s#1', 'xent s2s#2', 'xent bootstrap nano→micro→mini']);
    const [direct, s2s1, s2s2, boot] = plan.transfers.map((t) => t.run);
    expect(direct).toMatchObject({ trainSplit: 'train2', supervisor: plan.weak });
    // The chain's first teacher is the strong model trained on one half of train2 with the weak labels.
    expect(s2s1.supervisor).toMatchObject({ role: 'transfer', trainSplit: 'train2a', supervisor: plan.weak, model: { identity: 'mini' } });
    expect(s2s1.trainSplit).toBe('train2b');
    expect(s2s2.supervisor).toEqual(s2s1);
    expect(s2s2.trainSplit).toBe('train2a');
    expect(boot.supervisor).toMatchObject({ model: { identity: 'micro' }, trainSplit: 'train2a', supervisor: plan.weak });
    expect(boot.trainSplit).toBe('train2b');
  });
});

/** A configuration as it was written before RunConfig had a precision: exactly the older fields, supervisors too. */
function withoutPrecision(config: RunConfig): Omit<RunConfig, 'precision'> {
  const { role, dataset, model, trainSplit, supervisor, loss, training, heldOutFrac, seed } = config;
  return { role, dataset, model, trainSplit, supervisor: supervisor && (withoutPrecision(supervisor) as RunConfig), loss, training, heldOutFrac, seed };
}

describe('precision in run configurations', () => {
  const plans = async (precision: ExperimentSpec['precision']) => {
    const over = { losses: await resolveLosses(['xent', 'logconf']), bootstrap: [await resolveModel('micro')], strongIterations: 2, precision };
    return distinctRuns([planExperiment(await spec('nano', 'mini', over))]);
  };

  it('float32 runs record no precision: their names are those of the configuration without the field (stores written before it keep their runs)', async () => {
    const runs = await plans('float32');
    expect(runs.length).toBe(2 + 2 * 4 + 2 * 2); // weak, ceiling; per loss: direct, s2s#1, s2s#2, bootstrap; and the chains' hidden links
    for (const run of runs) {
      expect(runName(run)).toBe(runName(withoutPrecision(run)));
      for (let link: RunConfig | null = run; link; link = link.supervisor) expect('precision' in link).toBe(false);
    }
  });

  it('bf16 runs record it, supervisors nested in their students too, and are named apart from the float32 runs', async () => {
    const float32 = await plans('float32');
    const bf16 = await plans('bf16');
    expect(bf16.length).toBe(float32.length);
    bf16.forEach((run, i) => {
      for (let link: RunConfig | null = run; link; link = link.supervisor) expect(link.precision).toBe('bf16');
      // The same run but for its arithmetic: the rest of the configuration is the float32 run's.
      expect(withoutPrecision(run)).toEqual(withoutPrecision(float32[i]));
      expect(runName(run)).not.toBe(runName(float32[i]));
    });
    const i = bf16.findIndex((r) => r.role === 'transfer' && r.supervisor?.role === 'weak');
    expect(bf16[i].supervisor).toMatchObject({ role: 'weak', precision: 'bf16' });
    // A bf16 weak model's labels are not a float32 one's: a float32 student of the bf16 weak model is not the float32 plan's run.
    const { precision: _, ...float32Student } = bf16[i];
    expect(canonicalJson({ ...float32Student, supervisor: float32[i].supervisor })).toBe(canonicalJson(float32[i]));
    expect(runName(float32Student)).not.toBe(runName(float32[i]));
    const tf32 = await plans('tf32');
    tf32.forEach((run, i) => {
      expect(run.precision).toBe('tf32');
      expect(new Set([runName(run), runName(bf16[i]), runName(float32[i])]).size).toBe(3);
    });
  });
});

describe('distinctRuns', () => {
  it('shares the weak and ceiling runs between experiments and orders supervisors first', async () => {
    const plans = [planExperiment(await spec('nano', 'micro')), planExperiment(await spec('nano', 'mini')), planExperiment(await spec('micro', 'mini'))];
    const runs = distinctRuns(plans);
    // weak: nano, micro; ceilings: micro, mini; transfers: 2 losses × 3 pairs.
    expect(runs).toHaveLength(2 + 2 + 6);
    const index = new Map(runs.map((r, i) => [canonicalJson(r), i]));
    for (const [i, r] of runs.entries()) if (r.supervisor) expect(index.get(canonicalJson(r.supervisor))!).toBeLessThan(i);
    const seeds = distinctRuns([planExperiment(await spec('nano', 'micro', { seed: 1, data: { ...data, seed: 1 } })), plans[0]]);
    expect(seeds).toHaveLength(2 * (1 + 1 + 2));
  });
});

describe('parseSweepConfig', () => {
  const base = { datasets: ['sciq'], models: ['nano', 'micro', 'mini'], losses: ['xent'], seeds: [0, 1] };

  it('expands models into every smaller-larger pair and fills the defaults', () => {
    const config = parseSweepConfig(base);
    expect(config.pairs).toEqual([{ weak: 'nano', strong: 'micro' }, { weak: 'nano', strong: 'mini' }, { weak: 'micro', strong: 'mini' }]);
    expect(config.training).toEqual(DEFAULT_TRAIN_SETTINGS);
    expect(config.lossOptions).toEqual({});
    expect(parseSweepConfig({ ...base, training: { lr: 0.01 }, lossOptions: { logconf: { alphaMax: 0.75 } } })).toMatchObject({
      training: { lr: 0.01, epochs: DEFAULT_TRAIN_SETTINGS.epochs },
      lossOptions: { logconf: { alphaMax: 0.75 } },
    });
  });

  it('names the field and what it accepts', () => {
    expect(() => parseSweepConfig({ ...base, seeds: [0, -1] }, 'f.json')).toThrow('f.json: seeds[1] must be an integer in [0, 2147483647], got -1');
    expect(() => parseSweepConfig({ ...base, datasets: [] }, 'f.json')).toThrow('f.json: datasets must be a non-empty array, got []');
    expect(() => parseSweepConfig({ ...base, datasets: [{ path: 'x.csv' }] }, 'f.json')).toThrow(/datasets\[0\] must be a dataset name or \{path, textColumn, labelColumn\}/);
    expect(() => parseSweepConfig({ ...base, lengthPolicy: 'cut' }, 'f.json')).toThrow(/lengthPolicy must be "drop" or "truncate"/);
    expect(() => parseSweepConfig({ ...base, training: { learningRate: 1 } }, 'f.json')).toThrow(/training.learningRate must be one of/);
    expect(() => parseSweepConfig({ ...base, pairs: [] }, 'f.json')).toThrow(/pairs and models must be not both/);
    expect(() => parseSweepConfig([], 'f.json')).toThrow(/the top level must be an object/);
    // Loss options are checked against the losses' own definitions (the bounds the CLI's flags use).
    expect(() => parseSweepConfig({ ...base, lossOptions: { logconf: { alphaMax: 5 } } }, 'f.json')).toThrow('f.json: lossOptions.logconf.alphaMax must be a number in [0, 1], got 5');
    expect(() => parseSweepConfig({ ...base, lossOptions: { logconf: { alpha: 0.5 } } }, 'f.json')).toThrow('f.json: lossOptions.logconf.alpha is not an option of logconf (its options: alphaMax, warmupFrac, schedule)');
    expect(() => parseSweepConfig({ ...base, lossOptions: { logconf: { schedule: 'step' } } }, 'f.json')).toThrow('f.json: lossOptions.logconf.schedule must be one of "linear", "jump", got "step"');
    expect(() => parseSweepConfig({ ...base, losses: ['xent', 'auxconf'] }, 'f.json')).toThrow(/losses\[1\] must be a built-in loss \(xent, logconf, product\) or a loss module file/);
    expect(() => parseSweepConfig({ ...base, lossOptions: { focal: {} } }, 'f.json')).toThrow(/lossOptions.focal must be the options of a built-in loss/);
  });
});

describe('resolveModel', () => {
  const storiesData = needsData('the checkpoint identity test', 'stories260K/stories260K.bin', 'stories260K/tok512.bin');
  const [stories] = storiesData.paths;

  it('a family size is its name, with the byte tokenizer', async () => {
    // The byte tokenizer starts every text with BOS; GPT-2's BPE adds nothing (as transformers).
    expect(await resolveModel('mini')).toMatchObject({ identity: 'mini', tokenizerSpec: 'byte', tokenizerIdentity: 'byte', tokenizerSpecials: { bos: true, eos: false }, checkpoint: null });
    expect((await resolveModel('mini', 'gpt2')).tokenizerSpecials).toEqual({ bos: false, eos: false });
  });

  storiesData.it('a checkpoint and its tokenizer file are identified by content, not by path', async () => {
    const source = await resolveModel(stories);
    expect(source.identity).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(source.tokenizerSpec).toBe(join(dirname(stories), 'tok512.bin'));
    expect(source.tokenizerIdentity).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(source.tokenizerIdentity).not.toBe(source.identity);
  });
});

