// The training loop on the native engine: it learns a task a tiny model can learn, the custom-loss
// hook (a tfjs loss on the logits) trains exactly like the built-in loss it reimplements, logconf's
// α follows its schedule, early stopping keeps the best weights, and the length policies count.
import { describe, expect, it } from 'vitest';
import { ByteTokenizer, FAMILY, Gpt2Tokenizer, NativeModel, parameterSpecs, withHead } from '@w2s/model';
import { mulberry32 } from '@w2s/random';
import { tf } from '@w2s/kernels';
import { batchOf, encodeExamples } from '../src/encode.js';
import { accuracy } from '../src/metrics.js';
import { predict, trainClassifier } from '../src/train.js';
import { DEFAULT_TRAIN_SETTINGS, type TrainSettings } from '../src/settings.js';
import { builtinLoss, lossOptions, type LossChoice, type LossDefinition } from '../src/losses.js';
import type { LoadedModel } from '../src/models.js';

/** A built-in loss with its default options overridden by `given`. */
function builtIn(name: string, given: Record<string, unknown> = {}): LossChoice {
  const definition = builtinLoss(name)!;
  return { definition, options: lossOptions(definition, given) };
}

/** Soft cross-entropy written as a tfjs loss. */
const tfjsXent: LossDefinition = {
  name: 'tfjs-xent',
  help: 'soft cross-entropy in tfjs',
  options: {},
  run: { kind: 'tfjs', fn: (logits, targets, { tf }) => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar },
};

const tokenizer = new ByteTokenizer();
const model = (): LoadedModel => ({ config: withHead(FAMILY.nano, { kind: 'classifier', numClasses: 2 }), weights: null, tokenizer });

/** Random letters; the label is whether the text ends in a vowel. */
function task(n: number, seed: number) {
  const uniform = mulberry32(seed);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const examples = Array.from({ length: n }, (_, i) => {
    const text = Array.from({ length: 3 + Math.floor(uniform() * 6) }, () => letters[Math.floor(uniform() * 26)]).join('');
    return { id: `ex${i}`, text, label: ('aeiou'.includes(text[text.length - 1]) ? 1 : 0) as 0 | 1 };
  });
  const { encoded } = encodeExamples(tokenizer, examples, { maxTokens: 32, policy: 'drop' });
  const targets = new Float32Array(n * 2);
  encoded.forEach((e, i) => (targets[2 * i + e.example.label] = 1));
  return { items: encoded, targets, labels: encoded.map((e) => e.example.label) };
}

const settings = (over: Partial<TrainSettings> = {}): TrainSettings => ({ ...DEFAULT_TRAIN_SETTINGS, lr: 3e-3, batchSize: 32, minibatchSize: 16, ...over });

describe('trainClassifier', () => {
  it('learns a task the model can represent (test accuracy well above chance)', async () => {
    const train = task(640, 1);
    const test = task(300, 2);
    const { model: trained, steps, lossCurve } = await trainClassifier({ model: model(), items: train.items, targets: train.targets, loss: builtIn('xent'), settings: settings({ epochs: 3 }), seed: 3 });
    expect(steps).toBe(Math.floor((640 * 3) / 32));
    const probs = await predict(trained, test.items, tokenizer.padId, 64);
    const acc = accuracy(probs, test.labels);
    const majority = Math.max(...[0, 1].map((c) => test.labels.filter((l) => l === c).length)) / test.labels.length;
    expect(acc, `test accuracy ${acc} vs majority ${majority}`).toBeGreaterThan(Math.max(0.85, majority + 0.1));
    const early = lossCurve.slice(0, 5).reduce((a, b) => a + b) / 5;
    const late = lossCurve.slice(-5).reduce((a, b) => a + b) / 5;
    expect(late).toBeLessThan(early);
    trained.dispose();
  });

  it('a custom tfjs loss (soft cross-entropy) trains exactly as the built-in xent', async () => {
    const train = task(96, 4);
    const custom: LossChoice = { definition: tfjsXent, options: {} };
    const common = { model: model(), items: train.items, targets: train.targets, settings: settings({ epochs: 1, maxGradNorm: 0.5 }), seed: 5 };
    const a = await trainClassifier({ ...common, loss: builtIn('xent') });
    const b = await trainClassifier({ ...common, loss: custom });
    a.lossCurve.forEach((loss, i) => expect(b.lossCurve[i]).toBeCloseTo(loss, 5));
    const wa = a.model.exportWeights();
    const wb = b.model.exportWeights();
    for (const [name, w] of wa) {
      const v = wb.get(name)!;
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < w.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(w[i] - v[i]));
        maxAbs = Math.max(maxAbs, Math.abs(w[i]));
      }
      expect(maxDiff, name).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs));
    }
    a.model.dispose();
    b.model.dispose();
  });

  it('linearProbe trains the head alone: every other parameter keeps its initial value', async () => {
    const train = task(96, 11);
    const config = model().config;
    const initial = new NativeModel(config, { seed: 13 }).exportWeights(); // trainClassifier's initial weights: the same seed
    const common = { model: model(), items: train.items, targets: train.targets, loss: builtIn('xent'), seed: 13 };
    const probe = await trainClassifier({ ...common, settings: settings({ epochs: 1, linearProbe: true }) });
    const full = await trainClassifier({ ...common, settings: settings({ epochs: 1 }) });
    const [probed, tuned] = [probe.model.exportWeights(), full.model.exportWeights()];
    const changed = (w: Map<string, Float32Array>, name: string) => w.get(name)!.some((v, i) => v !== initial.get(name)![i]);
    for (const spec of parameterSpecs(config)) {
      expect(changed(probed, spec.name), `linear probe: ${spec.name}`).toBe(spec.head);
      if (spec.name !== 'classifier.weight' && !spec.head) expect(changed(tuned, spec.name), `full finetuning: ${spec.name}`).toBe(true);
    }
    probe.model.dispose();
    full.model.dispose();
  });

  it('weightDecay: with a zero gradient, each step multiplies the decayed parameters by 1 − lr·weightDecay and leaves the rest', async () => {
    // Targets (½, ½) and the zero-initialised classifier: the logits are 0, softmax is (½, ½), and
    // every gradient is exactly 0, so AdamW's update is the decoupled decay alone.
    const train = task(64, 12);
    const config = model().config;
    const initial = new NativeModel(config, { seed: 14 }).exportWeights();
    const [lr, weightDecay] = [0.01, 2];
    const { model: trained, steps, lossCurve } = await trainClassifier({
      model: model(), items: train.items, targets: new Float32Array(train.targets.length).fill(0.5), loss: builtIn('xent'),
      settings: settings({ epochs: 2, lr, lrSchedule: 'constant', weightDecay }), seed: 14,
    });
    expect(steps).toBe(4);
    lossCurve.forEach((loss) => expect(loss).toBeCloseTo(Math.log(2), 6));
    const factor = (1 - lr * weightDecay) ** steps;
    const after = trained.exportWeights();
    for (const spec of parameterSpecs(config)) {
      const [w0, w] = [initial.get(spec.name)!, after.get(spec.name)!];
      for (let i = 0; i < w.length; i++) {
        const expected = spec.decay ? w0[i] * factor : w0[i];
        // float32: a rounding of ~6e-8 relative per step
        if (!(Math.abs(w[i] - expected) <= 1e-6 * Math.abs(w0[i]))) throw new Error(`${spec.name}[${i}]: ${w[i]}, expected ${expected} (initial ${w0[i]}, decay ${spec.decay})`);
      }
    }
    expect(parameterSpecs(config).some((s) => s.decay && initial.get(s.name)!.some((v) => v !== 0))).toBe(true);
    trained.dispose();
  });

  it('logconf receives α from its schedule at every step; the log records it', async () => {
    const train = task(128, 6);
    const log: Record<string, unknown>[] = [];
    const { model: trained, steps } = await trainClassifier({
      model: model(),
      items: train.items,
      targets: train.targets,
      loss: builtIn('logconf', { alphaMax: 0.5, warmupFrac: 0.5, schedule: 'linear' }),
      settings: settings({ epochs: 2 }),
      seed: 7,
      log: (e) => log.push(e),
    });
    const alphas = log.filter((e) => e.event === 'step').map((e) => e.alpha as number);
    expect(alphas).toHaveLength(steps);
    alphas.forEach((alpha, s) => expect(alpha).toBeCloseTo(0.5 * Math.min(1, s / steps / 0.5), 12));
    trained.dispose();
  });

  // The paper's batch statistics (logconf's quantile and positive rate) are the optimizer step's:
  // minibatches of 8 and one minibatch of 32 train alike, for every loss, built in or tfjs.
  const weakish = (targets: Float32Array, seed: number) => {
    const uniform = mulberry32(seed);
    const p = Array.from({ length: targets.length / 2 }, (_, i) => 0.15 + 0.7 * (0.6 * targets[2 * i + 1] + 0.4 * uniform()));
    return Float32Array.from(p.flatMap((q) => [1 - q, q]));
  };
  const tfjsLogconf: LossDefinition = {
    name: 'tfjs-logconf',
    help: "logconf in tfjs: the batch's quantile and positive rate",
    options: {},
    run: {
      kind: 'tfjs',
      fn: (logits, targets, { tf }) =>
        tf.tidy(() => {
          const p = tf.softmax(logits);
          const rows = logits.shape[0];
          const positive = tf.mean(tf.cast(tf.argMax(targets, 1), 'float32')).dataSync()[0];
          const margin = tf.reshape(tf.sub(tf.slice(p, [0, 1], [rows, 1]), tf.slice(p, [0, 0], [rows, 1])), [rows]);
          const sorted = Array.from(margin.dataSync()).sort((a, b) => b - a);
          const threshold = sorted[Math.max(0, Math.round(positive * rows) - 1)];
          const hard = tf.oneHot(tf.cast(tf.greaterEqual(margin, threshold), 'int32'), 2);
          const target = tf.add(tf.mul(targets, 0.5), tf.mul(hard, 0.5));
          return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar;
        }),
    },
  };
  it.each([
    ['xent', builtIn('xent')],
    ['logconf', builtIn('logconf', { warmupFrac: 0.1 })],
    ['product', builtIn('product', { beta: 0.5 })],
    ['a tfjs loss with batch statistics', { definition: tfjsLogconf, options: {} }],
  ] as [string, LossChoice][])('%s: minibatches of 8 and of 32 give the same step losses and weights', async (_, loss) => {
    const train = task(128, 12);
    const targets = weakish(train.targets, 13);
    const common = { model: model(), items: train.items, targets, loss, seed: 14 };
    const a = await trainClassifier({ ...common, settings: settings({ epochs: 1, batchSize: 32, minibatchSize: 32 }) });
    const b = await trainClassifier({ ...common, settings: settings({ epochs: 1, batchSize: 32, minibatchSize: 8 }) });
    expect(b.lossCurve).toHaveLength(4);
    b.lossCurve.forEach((value, i) => expect(Math.abs(value - a.lossCurve[i]), `step ${i}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(a.lossCurve[i]))));
    const wa = a.model.exportWeights(), wb = b.model.exportWeights();
    for (const [name, w] of wa) {
      const v = wb.get(name)!;
      const diff = Math.max(...w.map((x, i) => Math.abs(x - v[i])));
      expect(diff, name).toBeLessThan(1e-4);
    }
    a.model.dispose();
    b.model.dispose();
  });

  it("early stopping 'best' keeps the weights of the best held-out evaluation", async () => {
    const train = task(256, 8);
    const held = task(64, 9);
    const { model: trained, evals, keptStep } = await trainClassifier({
      model: model(),
      items: train.items,
      targets: train.targets,
      loss: builtIn('xent'),
      settings: settings({ epochs: 2, evalEvery: 2, earlyStopping: 'best', lr: 1e-2 }),
      seed: 10,
      heldOut: { items: held.items, labels: Uint8Array.from(held.labels) },
    });
    const best = evals.reduce((b, e) => (e.accuracy > b.accuracy ? e : b));
    expect(keptStep).toBe(best.step);
    const acc = accuracy(await predict(trained, held.items, tokenizer.padId, 64), held.labels);
    expect(acc).toBeCloseTo(best.accuracy, 12);
    trained.dispose();
  });

  it('rejects bad settings and inputs by name', async () => {
    const train = task(8, 11);
    const base = { model: model(), items: train.items, targets: train.targets, loss: builtIn('xent'), seed: 1 };
    await expect(trainClassifier({ ...base, settings: settings({ batchSize: 0 }) })).rejects.toThrow('batchSize must be an integer in [1, 1000000], got 0');
    await expect(trainClassifier({ ...base, settings: settings({ dropout: 5 }) })).rejects.toThrow('dropout must be a number in [0, 0.99], got 5');
    await expect(trainClassifier({ ...base, settings: settings({ earlyStopping: 'best', evalEvery: 2 }) })).rejects.toThrow(/needs a held-out split/);
    await expect(trainClassifier({ ...base, settings: settings({ earlyStopping: 'best' }) })).rejects.toThrow(/needs evalEvery > 0/);
    await expect(trainClassifier({ ...base, targets: new Float32Array(3), settings: settings() })).rejects.toThrow(/targets hold 3 values, expected 16/);
  });

  it('takes a minibatch larger than the batch as the whole batch, as the CLI and sweep files do', async () => {
    const train = task(64, 12);
    const run = (minibatchSize: number) => trainClassifier({ model: model(), items: train.items, targets: train.targets, loss: builtIn('xent'), seed: 1, settings: settings({ minibatchSize }) });
    const [wide, whole] = [await run(64), await run(32)];
    expect(wide.lossCurve).toEqual(whole.lossCurve);
    expect(wide.steps).toBe(whole.steps);
    wide.model.dispose();
    whole.model.dispose();
  });
});

describe('encodeExamples', () => {
  it("drops or left-truncates long examples (keeping BOS and the end), and counts them", () => {
    const examples = [
      { id: 'short', text: 'abc', label: 1 as const },
      { id: 'long', text: 'abcdefghij', label: 0 as const },
    ];
    const dropped = encodeExamples(tokenizer, examples, { maxTokens: 6, policy: 'drop' });
    expect(dropped.report).toEqual({ kept: 1, dropped: 1, truncated: 0 });
    expect(dropped.encoded.map((e) => e.example.id)).toEqual(['short']);
    const cut = encodeExamples(tokenizer, examples, { maxTokens: 6, policy: 'truncate' });
    expect(cut.report).toEqual({ kept: 2, dropped: 0, truncated: 1 });
    expect(Array.from(cut.encoded[1].tokens)).toEqual([tokenizer.bosId!, ...tokenizer.encode('fghij')]);
    expect(Array.from(cut.encoded[0].tokens)).toEqual(tokenizer.encode('abc', { bos: true }));
  });

  it("adds no BOS where the tokenizer adds none (GPT-2, as transformers), and batches pad with its padId (GPT-2's EOS)", async () => {
    const gpt2 = await Gpt2Tokenizer.load();
    const examples = [
      { id: 'cat', text: 'Hello world, the cat', label: 1 as const },
      { id: 'hi', text: 'Hello', label: 0 as const },
    ];
    // The ids of ../shared/data/tokenizers/README.md's sentence: no 50256 (<|endoftext|>) in front.
    const { encoded } = encodeExamples(gpt2, examples, { maxTokens: 8, policy: 'drop' });
    expect(Array.from(encoded[0].tokens)).toEqual([15496, 995, 11, 262, 3797]);
    const cut = encodeExamples(gpt2, examples, { maxTokens: 3, policy: 'truncate' });
    expect(Array.from(cut.encoded[0].tokens)).toEqual([11, 262, 3797]);
    const batch = batchOf(encoded, [0, 1], gpt2.padId);
    expect(Array.from(batch.tokens.subarray(5))).toEqual([15496, 50256, 50256, 50256, 50256]);
    expect(Array.from(batch.lengths)).toEqual([5, 1]);
  });
});
