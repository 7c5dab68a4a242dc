// The native engine against the tfjs twin: logits, every parameter gradient and the parameters
// after several AdamW steps, on tiny configs of the gpt2 and llama presets and of every other
// feature (GPT-NeoX's exact GELU, partial rotary and parallel residual; Qwen2's q/k/v biases with
// Llama 3 RoPE scaling), with both heads, with and without padding. Weights are random everywhere (norm weights, biases and the zero-initialised
// classifier included), so that every path of the backward pass carries a gradient.
import { describe, expect, it } from 'vitest';
import { xentLossReference, tf } from '@w2s/kernels';
import { FAMILY, PRESETS, parameterSpecs, validateConfig, withArchitecture, withHead, type ModelConfig, type Weights } from '../src/config.js';
import { createRequire } from 'node:module';
import type * as Native from '@w2s/native';
import { NativeModel, checkParameterTable, type Minibatch } from '../src/engine.js';
import { mulberry32 } from '@w2s/random';
import { TwinAdamW, lmLoss, twinLossAndGradients } from '../src/tfjs/index.js';
import type { Batch } from '../src/batch.js';
import { testSeed } from '../../../tests/support/seed.js';
import { engineDropout, finiteDifferenceFailures, refLogits, to64 } from './reference64.js';
import { relativeError } from './relative-error.js';
import { lmTargets, randomBatch, randomWeights } from './random-inputs.js';

// Fresh random inputs each run; the seed is printed (tests/support/seed.ts), W2S_TEST_SEED replays it.
const seed = testSeed;
const TOLERANCE = 1e-4;


const norm = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));

/** [from, to) of the key rows within the fused qkv rows. */
function keyBiasRange(config: ModelConfig): [number, number] {
  const hd = config.dModel / config.nHeads;
  return [config.nHeads * hd, (config.nHeads + config.nKvHeads) * hd];
}

function softTargets(batch: number, classes: number, s: number): Float32Array {
  const uniform = mulberry32(s);
  const y = new Float32Array(batch * classes);
  for (let b = 0; b < batch; b++) {
    let total = 0;
    for (let c = 0; c < classes; c++) total += y[b * classes + c] = uniform() + 0.05;
    for (let c = 0; c < classes; c++) y[b * classes + c] /= total;
  }
  return y;
}

function minibatch(config: ModelConfig, batch: Batch, s: number): Minibatch {
  return config.head.kind === 'lm'
    ? { ...batch, loss: 'token', targets: lmTargets(batch) }
    : { ...batch, loss: 'xent', softTargets: softTargets(batch.batch, config.head.numClasses, s) };
}

function twinLoss(config: ModelConfig, mb: Minibatch) {
  return (logits: tf.Tensor): tf.Scalar =>
    mb.loss === 'token'
      ? lmLoss(logits, mb.targets)
      : xentLossReference(logits as tf.Tensor2D, tf.tensor2d((mb as { softTargets: Float32Array }).softTargets, [mb.batch, (config.head as { numClasses: number }).numClasses]));
}

const configs: [string, ModelConfig][] = [
  ['gpt2 lm', PRESETS['gpt2-tiny']],
  ['gpt2 classifier', withHead(PRESETS['gpt2-tiny'], { kind: 'classifier', numClasses: 2 })],
  ['llama lm', PRESETS['llama-tiny']],
  ['llama classifier', withHead(PRESETS['llama-tiny'], { kind: 'classifier', numClasses: 3 })],
  ['llama lm, tied, one KV head', { ...withArchitecture(PRESETS['llama-tiny'], { tiedEmbeddings: true }), nKvHeads: 1 }],
  ['neox lm', PRESETS['neox-tiny']],
  ['neox classifier', withHead(PRESETS['neox-tiny'], { kind: 'classifier', numClasses: 2 })],
  ['qwen2 lm, llama3 rope scaling', PRESETS['qwen2-tiny']],
];

describe.each(configs)('native engine vs tfjs twin: %s', (_, config) => {
  for (const padded of [false, true]) {
    it(`logits and every gradient agree (${padded ? 'padded' : 'full'} sequences, seed ${seed})`, async () => {
      const weights = randomWeights(config, seed);
      const batch = randomBatch(config, 3, 11, padded, seed + 1);
      const mb = minibatch(config, batch, seed + 2);
      const model = new NativeModel(config, { weights });
      const { loss } = await model.accumulate([mb]);
      const logits = await model.forward(batch);
      const twin = twinLossAndGradients(config, weights, batch, twinLoss(config, mb));
      if (config.head.kind === 'lm') {
        // Logits at padded positions are computed but meaningless: compare the valid ones.
        const keep = (x: Float32Array) => x.filter((_, i) => Math.floor(i / config.vocabSize) % batch.seqLen < batch.lengths[Math.floor(i / config.vocabSize / batch.seqLen)]);
        expect(relativeError(keep(logits), keep(twin.logits))).toBeLessThan(TOLERANCE);
      } else {
        expect(relativeError(logits, twin.logits)).toBeLessThan(TOLERANCE);
      }
      expect(Math.abs(loss - twin.loss) / Math.abs(twin.loss)).toBeLessThan(TOLERANCE);
      const gradients = model.gradients();
      // A parameter whose gradient nearly cancels (a classifier's final-norm bias sums three rows
      // of W^T dz: seed 30695 leaves it 400 times below the norm weight's) is compared at 1e-3 of
      // the largest gradient norm, where float32 rounding in either implementation is 1e-8.
      const largest = Math.max(...parameterSpecs(config).map((spec) => norm(twin.gradients.get(spec.name)!)));
      for (const spec of parameterSpecs(config)) {
        const expected = twin.gradients.get(spec.name)!;
        const error = relativeError(gradients.get(spec.name)!, expected, 1e-3 * largest);
        expect(error, `gradient of ${spec.name}`).toBeLessThan(TOLERANCE);
      }
    });
  }

  it(`several AdamW steps give the same parameters (clipping and weight decay on, seed ${seed})`, async () => {
    const weights = randomWeights(config, seed + 3);
    const batch = randomBatch(config, 2, 9, true, seed + 4);
    const mb = minibatch(config, batch, seed + 5);
    const optimizer = { lr: 3e-3, weightDecay: 0.1, maxGradNorm: 0.5 };
    const model = new NativeModel(config, { weights });
    const adam = new TwinAdamW(config, optimizer);
    const twinWeights: Weights = new Map([...weights].map(([k, v]) => [k, v.slice()]));
    for (let step = 0; step < 3; step++) {
      const result = await model.trainStep([mb], optimizer);
      const twin = twinLossAndGradients(config, twinWeights, batch, twinLoss(config, mb));
      const twinNorm = adam.step(twinWeights, twin.gradients);
      expect(Math.abs(result.gradNorm - twinNorm) / twinNorm).toBeLessThan(TOLERANCE);
      expect(result.step).toBe(step + 1);
    }
    const native = model.exportWeights();
    for (const spec of parameterSpecs(config)) {
      // The key bias adds the same q·b to every score of a row, which softmax ignores: its true
      // gradient is zero, both implementations hold float32 noise there, and Adam's normalisation
      // turns noise into lr-sized steps of either sign. Compare it out of the check.
      const keyBias = spec.name.endsWith('attn.qkv.bias') ? keyBiasRange(config) : null;
      const strip = (w: Float32Array) => (keyBias ? Float32Array.from([...w.subarray(0, keyBias[0]), ...w.subarray(keyBias[1])]) : w);
      expect(relativeError(strip(native.get(spec.name)!), strip(twinWeights.get(spec.name)!)), spec.name).toBeLessThan(TOLERANCE);
    }
  });

  // With RoPE the key bias is rotated by each key's position: no longer a shift of the scores.
  if (config.architecture.biases.qkv && config.architecture.positions.kind === 'learned')
    it('the key bias has a zero gradient (softmax is shift-invariant), up to float32 rounding', async () => {
      const model = new NativeModel(config, { weights: randomWeights(config, seed + 6) });
      await model.accumulate([minibatch(config, randomBatch(config, 2, 9, true, seed + 7), seed + 8)]);
      const g = model.gradients().get('layers.0.attn.qkv.bias')!;
      const [from, to] = keyBiasRange(config);
      const norm = (x: Float32Array) => Math.hypot(...x);
      expect(norm(g.subarray(from, to))).toBeLessThan(1e-5 * norm(g));
    });
});

describe.each(configs)('native engine dropout vs the float64 reference: %s', (_, config) => {
  it('the training forward and its backward match the float64 reference with the same masks; evaluation applies none', async () => {
    const p = 0.3;
    const modelSeed = seed + 32;
    const weights = randomWeights(config, seed + 30);
    const batch = randomBatch(config, 2, 8, true, seed + 31);
    const model = new NativeModel(config, { weights, dropout: p, seed: modelSeed });
    const w64 = to64(weights);
    // Forward 1, evaluation: no dropout.
    const evalLogits = await model.forward(batch);
    expect(relativeError(evalLogits, Float32Array.from(refLogits(config, w64, batch)))).toBeLessThan(TOLERANCE);
    // Forward 2, training: the reference with the masks regenerated from the engine's documented
    // counter hash (reference64.ts), not read from the engine.
    const masks = engineDropout(config, batch, p, modelSeed, 2);
    const kept = masks.embedding.reduce((k, m) => k + (m > 0 ? 1 : 0), 0) / masks.embedding.length;
    expect(Math.abs(kept - (1 - p)), `kept fraction ${kept}`).toBeLessThan(0.1);
    const trainLogits = await model.forward(batch, { training: true });
    expect(relativeError(trainLogits, Float32Array.from(refLogits(config, w64, batch, masks)))).toBeLessThan(TOLERANCE);
    expect(relativeError(trainLogits, evalLogits)).toBeGreaterThan(1e-3);

    // Backward of L = Σ r·logits for random r: the engine's gradients against central finite
    // differences of the float64 reference's L under the same masks.
    const random = mulberry32(seed + 33);
    const r = Float32Array.from({ length: trainLogits.length }, () => 2 * random() - 1);
    await model.backward(r);
    const gradients = model.gradients();
    const loss = (w: Map<string, Float64Array>) => refLogits(config, w, batch, masks).reduce((s, z, i) => s + r[i] * z, 0);
    const failures = finiteDifferenceFailures(parameterSpecs(config).map((spec) => spec.name), gradients, w64, loss, random, 'engine');
    expect(failures).toEqual([]);

    // With dropout off again, training and evaluation agree exactly.
    model.setDropout(0);
    expect(await model.forward(batch, { training: true })).toEqual(evalLogits);
  });
});

describe('native engine: accumulation, linear probe, errors', () => {
  const config = withHead(PRESETS['gpt2-tiny'], { kind: 'classifier', numClasses: 2 });

  it('gradients accumulated over minibatches equal those of the concatenated batch', async () => {
    const weights = randomWeights(config, seed + 10);
    const whole = randomBatch(config, 4, 7, true, seed + 11);
    const y = softTargets(4, 2, seed + 12);
    const part = (from: number, to: number): Minibatch => ({
      tokens: whole.tokens.slice(from * 7, to * 7), lengths: whole.lengths.slice(from, to), batch: to - from, seqLen: 7,
      loss: 'xent', softTargets: y.slice(from * 2, to * 2),
    });
    const a = new NativeModel(config, { weights });
    const b = new NativeModel(config, { weights });
    const lossWhole = await a.accumulate([part(0, 4)]);
    const lossParts = await b.accumulate([part(0, 1), part(1, 4)]);
    expect(Math.abs(lossWhole.loss - lossParts.loss)).toBeLessThan(1e-6);
    const ga = a.gradients(), gb = b.gradients();
    for (const spec of parameterSpecs(config)) expect(relativeError(gb.get(spec.name)!, ga.get(spec.name)!)).toBeLessThan(1e-5);
  });

  it('the engine\'s parameter table equals config.ts\'s on every field, and a difference in any field is named', () => {
    const native: typeof Native = createRequire(import.meta.url)('@w2s/native');
    // Every preset and family size, and every layer count to 48 (the residual projections' std
    // 0.02/sqrt(2L) must be the engine's float32 value exactly).
    const layerCounts = Array.from({ length: 48 }, (_, i) => ({ ...PRESETS['llama-tiny'], nLayers: i + 1 }));
    const small = Object.entries(PRESETS).filter(([name]) => name.endsWith('-tiny')).map(([, c]) => c);
    for (const c of [config, ...small, ...Object.values(FAMILY), ...layerCounts]) {
      const engine = new native.Engine(c, { seed: 0 });
      const table = engine.parameters();
      engine.dispose();
      const specs = parameterSpecs(c);
      expect(() => checkParameterTable(table, specs)).not.toThrow();
    }
    const table = new native.Engine(config, { seed: 0 }).parameters();
    const specs = parameterSpecs(config);
    const changed = (i: number, change: Partial<(typeof specs)[number]>) => specs.map((s, k) => (k === i ? { ...s, ...change } : s));
    const last = specs.length - 1;
    expect(() => checkParameterTable(table, changed(0, { init: { kind: 'normal', std: 0.03 } }))).toThrow(/entry 0 \(tokenEmbedding.weight\): init is \{"kind":"normal","std":0.0199\d*\} in the engine/);
    expect(() => checkParameterTable(table, changed(1, { decay: !specs[1].decay }))).toThrow(/entry 1 \(.*\): decay is/);
    expect(() => checkParameterTable(table, changed(last, { head: false }))).toThrow(/entry \d+ \(classifier.weight\): head is true in the engine, false in config.ts/);
    expect(() => checkParameterTable(table, changed(2, { shape: [1] }))).toThrow(/: shape is/);
    expect(() => checkParameterTable(table, changed(2, { name: 'x' }))).toThrow(/: name is/);
    expect(() => checkParameterTable(table, changed(2, { init: { kind: 'constant', value: 0 } }))).toThrow(/: init is/);
    expect(() => checkParameterTable(table, specs.slice(0, last))).toThrow(/has \d+ entries, config.ts \d+: entry \d+ \(classifier.weight\) is only in the engine/);
  });

  it('an architecture record with a bad field is refused, naming the field, by config.ts and by the engine', () => {
    const native: typeof Native = createRequire(import.meta.url)('@w2s/native');
    const rope = PRESETS['qwen2-tiny'];
    const unchecked = (features: Partial<ModelConfig['architecture']>): ModelConfig => ({ ...rope, architecture: { ...rope.architecture, ...features } });
    const scaling = { kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 128 } as const;
    const bad: [string, ModelConfig, RegExp, RegExp][] = [
      ['norm', unchecked({ norm: 'batchNorm' as 'rmsNorm' }), /architecture.norm must be one of "layerNorm", "rmsNorm"/, /config.architecture.norm must be one of "layerNorm", "rmsNorm", got "batchNorm"/],
      ['mlp', unchecked({ mlp: 'relu' as 'swiglu' }), /architecture.mlp must be one of/, /config.architecture.mlp must be one of/],
      ['rotary fraction (2 of 8 dims is fine, 1 is not)', unchecked({ positions: { kind: 'rope', theta: 10000, rotaryFraction: 0.125, scaling: null } }), /architecture.positions.rotaryFraction must be such that floor\(headDim · rotaryFraction\) is even and >= 2 \(headDim 8\)/, /config.architecture.positions.rotaryFraction must be such that/],
      ['theta', unchecked({ positions: { kind: 'rope', theta: 1, rotaryFraction: 1, scaling: null } }), /architecture.positions.theta must be a finite number > 1/, /config.architecture.positions.theta must be a finite number > 1/],
      ['scaling kind', unchecked({ positions: { kind: 'rope', theta: 10000, rotaryFraction: 1, scaling: { ...scaling, kind: 'yarn' as 'llama3' } } }), /architecture.positions.scaling.kind must be one of "llama3", got "yarn"/, /config.architecture.positions.scaling.kind must be one of "llama3", got "yarn"/],
      ['scaling frequencies', unchecked({ positions: { kind: 'rope', theta: 10000, rotaryFraction: 1, scaling: { ...scaling, highFreqFactor: 1 } } }), /architecture.positions.scaling.highFreqFactor must be a finite number > lowFreqFactor \(1\)/, /config.architecture.positions.scaling.highFreqFactor must be finite and > lowFreqFactor > 0/],
      ['biases', unchecked({ biases: { qkv: true, attnOut: 1 as unknown as boolean, mlp: false } }), /architecture.biases.attnOut must be a boolean/, /config.architecture.biases.attnOut must be a boolean/],
      ['parallel residual', unchecked({ parallelResidual: undefined as unknown as boolean }), /architecture.parallelResidual must be a boolean/, /config.architecture.parallelResidual must be a boolean/],
    ];
    for (const [label, config, tsMessage, nativeMessage] of bad) {
      expect(() => validateConfig(config), label).toThrow(tsMessage);
      expect(() => new native.Engine(config, { seed: 0 }), label).toThrow(nativeMessage);
    }
  });

  it('linear probe trains the classifier only, with the twin\'s head gradient', async () => {
    const weights = randomWeights(config, seed + 20);
    const batch = randomBatch(config, 3, 6, true, seed + 21);
    const mb = minibatch(config, batch, seed + 22);
    const model = new NativeModel(config, { weights, linearProbe: true });
    await model.accumulate([mb]);
    const twin = twinLossAndGradients(config, weights, batch, twinLoss(config, mb), { linearProbe: true });
    expect(relativeError(model.gradients().get('classifier.weight')!, twin.gradients.get('classifier.weight')!)).toBeLessThan(TOLERANCE);
    await model.optimizerStep({ lr: 0.1 });
    const after = model.exportWeights();
    for (const spec of parameterSpecs(config)) {
      const changed = relativeError(after.get(spec.name)!, weights.get(spec.name)!) > 0;
      expect(changed, spec.name).toBe(spec.head);
    }
  });

  it('custom losses: backward from dLogits gives the gradients the built-in loss gives', async () => {
    const weights = randomWeights(config, seed + 40);
    const batch = randomBatch(config, 3, 5, true, seed + 41);
    const mb = minibatch(config, batch, seed + 42) as Minibatch & { softTargets: Float32Array };
    const builtIn = new NativeModel(config, { weights });
    await builtIn.accumulate([mb]);
    const custom = new NativeModel(config, { weights });
    const logits = await custom.forward(batch, { training: true });
    const dLogits = tf.tidy(() => {
      const y = tf.tensor2d(mb.softTargets, [3, 2]);
      const g = tf.grad((z: tf.Tensor) => xentLossReference(z as tf.Tensor2D, y))(tf.tensor2d(logits, [3, 2]));
      return g.dataSync<'float32'>().slice();
    });
    await custom.backward(dLogits);
    const a = builtIn.gradients(), b = custom.gradients();
    for (const spec of parameterSpecs(config)) expect(relativeError(b.get(spec.name)!, a.get(spec.name)!)).toBeLessThan(1e-5);
  });

  it('rejects bad input with errors that name the argument, and stays usable', async () => {
    const model = new NativeModel(config, { seed: 1 });
    const batch = randomBatch(config, 2, 4, false, 1);
    const weightsBefore = model.exportWeights();
    const logitsBefore = await model.forward(batch);
    await expect(model.forward({ ...batch, tokens: Int32Array.of(1, 2, 3) })).rejects.toThrow(/batch.tokens must hold batch \* seqLen = 8/);
    await expect(model.forward({ ...batch, lengths: Int32Array.of(0, 4) })).rejects.toThrow(/batch.lengths\[0\] must be in \[1, seqLen = 4\]/);
    await expect(model.forward({ ...batch, tokens: new Int32Array(8).fill(97) })).rejects.toThrow(/batch.tokens\[0\] must be in \[0, 97\)/);
    await expect(model.forward({ ...batch, seqLen: 65, batch: 1, tokens: new Int32Array(65), lengths: Int32Array.of(65) })).rejects.toThrow(/contextLength 64/);
    await expect(model.trainStep([{ ...batch, loss: 'token', targets: new Int32Array(8) }], { lr: 1 })).rejects.toThrow(/needs a language-model head/);
    await expect(model.trainStep([{ ...batch, loss: 'xent', softTargets: new Float32Array(3) }], { lr: 1 })).rejects.toThrow(/softTargets must hold batch \* numClasses = 4/);
    await expect(model.trainStep([{ ...batch, loss: 'xent', softTargets: new Float32Array(4).fill(0.5) }], { lr: -1 })).rejects.toThrow(/optimizer.lr must be >= 0/);
    await expect(model.backward(new Float32Array(4))).rejects.toThrow(/backward needs a training forward/);
    // Usable, and unchanged by the refused calls: the same weights (none of the refused steps moved
    // them), the same logits, and a step trains exactly as a fresh model's from the same weights
    // (no gradient or optimizer state left behind).
    const weightsAfter = model.exportWeights();
    for (const spec of parameterSpecs(config)) expect(Array.from(weightsAfter.get(spec.name)!), spec.name).toEqual(Array.from(weightsBefore.get(spec.name)!));
    expect(await model.forward(batch)).toEqual(logitsBefore);
    const fresh = new NativeModel(config, { weights: weightsBefore });
    const step: Minibatch = { ...batch, loss: 'xent', softTargets: Float32Array.of(1, 0, 0, 1) };
    await model.trainStep([step], { lr: 0.01 });
    await fresh.trainStep([step], { lr: 0.01 });
    const [stepped, expected] = [model.exportWeights(), fresh.exportWeights()];
    expect(Array.from(stepped.get('classifier.weight')!)).not.toEqual(Array.from(weightsBefore.get('classifier.weight')!));
    for (const spec of parameterSpecs(config)) expect(Array.from(stepped.get(spec.name)!), spec.name).toEqual(Array.from(expected.get(spec.name)!));
    const busy = model.forward(batch);
    expect(() => model.exportWeights()).toThrow(/busy/);
    await busy;
    expect(() => new NativeModel({ ...config, nHeads: 3 })).toThrow(/dModel must be a multiple of nHeads/);
    expect(() => new NativeModel(PRESETS['gpt2-tiny'], { linearProbe: true })).toThrow(/linear probe needs a classifier head/);
    const weights = model.exportWeights();
    weights.delete('finalNorm.bias');
    expect(() => model.loadWeights(weights)).toThrow(/missing parameter finalNorm.bias/);
  });

  it('exported AdamW state resumes training exactly: two steps, save, two more equal four uninterrupted', async () => {
    const data = (k: number): Minibatch => ({ ...randomBatch(config, 3, 6, true, seed + 40 + k), loss: 'xent', softTargets: softTargets(3, 2, seed + 50 + k) });
    const optimizer = { lr: 3e-3, weightDecay: 0.1, maxGradNorm: 0.5 };
    const through = new NativeModel(config, { seed: 4 });
    for (let k = 0; k < 4; k++) await through.trainStep([data(k)], optimizer);
    const first = new NativeModel(config, { seed: 4 });
    for (let k = 0; k < 2; k++) await first.trainStep([data(k)], optimizer);
    const resumed = new NativeModel(config, { weights: first.exportWeights() });
    resumed.loadOptimizerState(first.exportOptimizerState());
    expect(resumed.stepsTaken()).toBe(2);
    for (let k = 2; k < 4; k++) await resumed.trainStep([data(k)], optimizer);
    const a = through.exportWeights(), b = resumed.exportWeights();
    for (const spec of parameterSpecs(config)) expect(Array.from(b.get(spec.name)!)).toEqual(Array.from(a.get(spec.name)!));
    const state = first.exportOptimizerState();
    const [name, moments] = [...state.moments][0];
    expect(() => resumed.loadOptimizerState({ step: 1, moments: new Map([...state.moments].slice(1)) })).toThrow(`missing parameter ${name}`);
    const negative = new Map(state.moments).set(name, { m: moments.m, v: moments.v.map(() => -1) });
    expect(() => resumed.loadOptimizerState({ step: 1, moments: negative })).toThrow(`v for ${name} holds a negative or non-finite value at index 0`);
    expect(() => resumed.loadOptimizerState({ step: -1, moments: state.moments })).toThrow(/steps must be an integer >= 0|steps must be >= 0/);
  });

  it('dispose frees the model: not while a call is in flight, idempotent, later calls throw', async () => {
    const model = new NativeModel(config, { seed: 1 });
    const batch = randomBatch(config, 2, 4, false, 1);
    const busy = model.forward(batch);
    expect(() => model.dispose()).toThrow(/busy/);
    await busy;
    model.dispose();
    model.dispose();
    expect(() => model.exportWeights()).toThrow(/disposed/);
    await expect(model.forward(batch)).rejects.toThrow(/disposed/);
  });
});
