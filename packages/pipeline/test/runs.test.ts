// The wiring of an experiment's runs: the transfer run learns exactly the weak model's labels on
// its training examples, the ceiling the ground truth, early stopping holds out part of the
// training split (never test), chains label examples they did not train on, and a supervisor
// without stored labels is an error rather than a silent fall-back to the ground truth.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerDataset, type Example } from '@w2s/data';
import { tf } from '@w2s/kernels';
import { planExperiment, runExperiment, type ExperimentSpec } from '../src/experiment.js';
import { resolveLosses, type LossDefinition } from '../src/losses.js';
import { resolveModel } from '../src/models.js';
import { PrecisionMismatchError, executeRun, type RunContext } from '../src/runs.js';
import { planSweep } from '../src/sweep/plan.js';
import { parseSweepConfig } from '../src/sweep/config.js';
import { ResultsStore } from '../src/store.js';
import { DEFAULT_TRAIN_SETTINGS } from '../src/settings.js';
import { dataFor, trainingExamples } from '../src/runs.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-runs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const examples: Example[] = Array.from({ length: 96 }, (_, i) => ({ id: `w/${i}`, text: `item ${i} ${'aeiou'[i % 5]}${'xyz'[i % 3]}`, label: (i % 3 === 0 ? 1 : 0) as 0 | 1 }));
registerDataset({ name: 'wiring_test', description: 'test', license: 'test', needsDataDir: false, load: async () => ({ name: 'wiring_test', examples, report: { files: [], rows: 96, kept: 96, skipped: {} } }) });

/** Records the soft targets every call of the loss sees (as p(label 1)), and returns xent. */
const seen: number[][] = [];
const recorder: LossDefinition = {
  name: 'recorder',
  help: 'xent that records its targets',
  options: {},
  run: {
    kind: 'tfjs',
    fn: (logits: tf.Tensor2D, targets: tf.Tensor2D) => {
      seen[seen.length - 1].push(...Array.from(targets.dataSync()).filter((_, i) => i % 2 === 1));
      return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar;
    },
  },
  module: { path: '(in this test)', sha256: 'recorder' },
};

async function setup(over: Partial<ExperimentSpec> = {}) {
  const spec: ExperimentSpec = {
    data: { name: 'wiring_test', seed: 0, nTrain: 64, nTest: 32, balance: false, maxTokens: 32, lengthPolicy: 'truncate' },
    seed: 0,
    weak: await resolveModel('nano'),
    strong: await resolveModel('micro'),
    losses: [{ definition: recorder, options: {} }],
    training: { ...DEFAULT_TRAIN_SETTINGS, epochs: 1, batchSize: 8, minibatchSize: 8, lr: 1e-3 },
    heldOutFrac: 0,
    bootstrap: [],
    strongIterations: 0,
    precision: 'float32',
    ...over,
  };
  const ctx: RunContext = {
    store: new ResultsStore(join(scratch, `store-${seen.length}-${Math.random()}`)),
    data: { dataset: 'wiring_test' },
    models: new Map([spec.weak, spec.strong].map((m) => [m.identity, m])),
    losses: [recorder],
  };
  return { spec, ctx };
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

describe('experiment wiring', () => {
  it('the transfer run trains on the weak labels of train2; the weak model on train1, labelling all of train2', async () => {
    const { spec, ctx } = await setup();
    const plan = planExperiment(spec);
    seen.push([]);
    const weak = await executeRun(plan.weak, ctx);
    const { splits } = await dataFor(spec.data, ctx);
    expect(sorted(weak.labels!.ids.map((id) => Number(id.slice(2))))).toEqual(sorted(splits.train2.map((e) => Number(e.id.slice(2)))));
    seen.push([]);
    await executeRun(plan.transfers[0].run, ctx);
    const byId = new Map(weak.labels!.ids.map((id, i) => [id, weak.labels!.probs[i]]));
    // One epoch of batches of 8 over 32 examples: every train2 example's weak label once.
    const expected = sorted(splits.train2.map((e) => byId.get(e.id)!));
    const got = sorted(seen[seen.length - 1]);
    expect(got).toHaveLength(expected.length);
    got.forEach((p, i) => expect(p).toBeCloseTo(expected[i], 5)); // float32 targets vs labels stored to 1e-6
    const summary = await runExperiment(spec, ctx);
    expect(summary.counts).toEqual({ train1: 32, train2: 32, test: 32, testPositives: splits.test.filter((e) => e.label === 1).length });
    expect(summary.data).toEqual({ rows: 96, kept: 96, skipped: {}, balancedAway: 0 });
  });

  it("refuses a run whose tokenizer no longer adds the special tokens its configuration records (a changed encoding is another run)", async () => {
    const { spec, ctx } = await setup();
    const plan = planExperiment(spec);
    expect(plan.weak.model.specials).toEqual({ bos: true, eos: false });
    const stale = { ...plan.weak, model: { ...plan.weak.model, specials: { bos: false, eos: false } } };
    await expect(executeRun(stale, ctx)).rejects.toThrow(/adds \{"bos":true,"eos":false\} to every text here, but the run was configured with \{"bos":false,"eos":false\}/);
  });

  it('early stopping holds out part of the training split, never the test split', async () => {
    const { spec, ctx } = await setup({ heldOutFrac: 0.25, training: { ...DEFAULT_TRAIN_SETTINGS, epochs: 1, batchSize: 8, minibatchSize: 8, lr: 1e-3, evalEvery: 1, earlyStopping: 'best' } });
    const plan = planExperiment(spec);
    seen.push([]);
    const ceiling = await executeRun(plan.ceiling, ctx);
    const start = JSON.parse(readFileSync(join(ceiling.dir, 'log.jsonl'), 'utf8').split('\n')[0]);
    const { splits } = await dataFor(spec.data, ctx);
    expect(start.heldOut).toBe(8);
    const train2 = new Set(splits.train2.map((e) => e.id));
    const test = new Set(splits.test.map((e) => e.id));
    for (const id of start.heldOutIds) {
      expect(train2.has(id)).toBe(true);
      expect(test.has(id)).toBe(false);
    }
    expect(ceiling.metrics.examples.train + ceiling.metrics.examples.heldOut).toBe(32);
  });

  it('chains alternate the halves of train2, so every link labels examples it did not train on', async () => {
    const { spec } = await setup({ losses: await resolveLosses(['xent']), strongIterations: 2, bootstrap: [await resolveModel('nano'), await resolveModel('micro')] });
    const plan = planExperiment(spec);
    for (const t of plan.transfers.slice(1)) {
      expect(['train2a', 'train2b']).toContain(t.run.trainSplit);
      const supervisor = t.run.supervisor!;
      if (supervisor.role === 'transfer') expect(supervisor.trainSplit).not.toBe(t.run.trainSplit);
    }
    const { ctx } = await setup();
    const { splits } = await dataFor(spec.data, ctx);
    const a = trainingExamples(splits, 'train2a').map((e) => e.id);
    const b = trainingExamples(splits, 'train2b').map((e) => e.id);
    expect([...a, ...b]).toEqual(splits.train2.map((e) => e.id));
  });

  it('a supervisor whose labels.json is gone is an error naming it, not a fall-back to the ground truth', async () => {
    const { spec, ctx } = await setup();
    const plan = planExperiment(spec);
    seen.push([]);
    const weak = await executeRun(plan.weak, ctx);
    rmSync(join(weak.dir, 'labels.json'));
    expect(existsSync(join(weak.dir, 'metrics.json'))).toBe(true);
    await expect(executeRun(plan.transfers[0].run, ctx)).rejects.toThrow(`${weak.dir} has no labels.json`);
  });

  it("a run of another precision is not the float32 run's result, and this (float32) process refuses to train it", async () => {
    const { spec, ctx } = await setup();
    seen.push([]);
    const weak = await executeRun(planExperiment(spec).weak, ctx);
    const bf16 = planExperiment({ ...spec, precision: 'bf16' });
    expect(ctx.store.runName(bf16.weak)).not.toBe(weak.name);
    expect(await ctx.store.load(bf16.weak)).toBeNull();
    await expect(executeRun(bf16.weak, ctx)).rejects.toThrow(PrecisionMismatchError);
    await expect(executeRun(bf16.weak, ctx)).rejects.toThrow(/configured to train in bf16, but this process computes in float32/);
    // Nothing was stored under the bf16 run's name; its student fails on its supervisor the same way.
    expect(existsSync(ctx.store.runDir(bf16.weak))).toBe(false);
    await expect(executeRun(bf16.transfers[0].run, ctx)).rejects.toThrow(new RegExp(`${ctx.store.runName(bf16.weak)} is configured to train in bf16`));
  });

  it('a sweep plans its runs with the precision it is given, by default this process\'s (float32: none recorded)', async () => {
    const config = parseSweepConfig({ datasets: ['wiring_test'], pairs: [{ weak: 'nano', strong: 'micro' }], losses: ['xent'], seeds: [0], nTrain: 64, nTest: 32, maxTokens: 32 });
    const float32 = await planSweep(config);
    const bf16 = await planSweep(config, undefined, 'bf16');
    expect(float32.runs.map((r) => r.config.precision)).toEqual([undefined, undefined, undefined]);
    expect(bf16.runs.map((r) => r.config.precision)).toEqual(['bf16', 'bf16', 'bf16']);
    expect(bf16.runs.find((r) => r.config.supervisor)!.config.supervisor!.precision).toBe('bf16');
    expect(bf16.experiments[0].spec.precision).toBe('bf16');
    // Its experiments' keys (the summaries' file names) too, so that one folder can hold both.
    expect(float32.experiments.map((e) => e.key)).toEqual(['wiring_test-nano-micro-seed0']);
    expect(bf16.experiments.map((e) => e.key)).toEqual(['wiring_test-nano-micro-seed0-bf16']);
    expect(new Set([...float32.runs, ...bf16.runs].map((r) => r.name)).size).toBe(6);
  });

  it("a bf16 run's exported files import into another store under its configuration, never under the float32 run's", async () => {
    const { spec } = await setup();
    const float32 = planExperiment(spec).weak;
    const bf16 = planExperiment({ ...spec, precision: 'bf16' }).weak;
    const source = new ResultsStore(join(scratch, `export-${Math.random()}`));
    // (Stored as a bf16 process would store it: this test process computes in float32.)
    await source.getOrCompute(bf16, async () => ({ metrics: { steps: 1 }, test: { ids: ['w/0'], probs: [0.5] }, labels: { ids: ['w/1'], probs: [0.25] } }));
    const artifact = await source.exportRun(bf16);
    expect(JSON.parse(artifact.files['config.json'])).toMatchObject({ precision: 'bf16' });
    const target = new ResultsStore(join(scratch, `import-${Math.random()}`));
    await expect(target.importRun(float32, artifact)).rejects.toThrow(/is named/);
    await expect(target.importRun(float32, { ...artifact, name: target.runName(float32) })).rejects.toThrow(/config\.json holds another configuration/);
    expect(await target.importRun(bf16, artifact)).toBe(true);
    expect(await target.load(float32)).toBeNull();
    expect((await target.load(bf16))!.labels).toEqual({ ids: ['w/1'], probs: [0.25] });
  });
});
