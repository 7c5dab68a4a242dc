// Training a binary classifier on the native engine, and predicting with it.
//
// A step takes `batchSize` examples (epochs of seeded permutations, floor(n·epochs / batchSize)
// steps as in the reference implementation), splits them into minibatches of `minibatchSize` whose
// gradients accumulate, then clips and applies AdamW with the step's learning rate: one engine call
// per step for the built-in losses. Targets are soft labels [n, 2] (one-hot for ground truth).
// Every loss is computed over the step's whole batch, however it is split into minibatches.
import { NativeModel, type Minibatch, type OptimizerOptions, type Weights } from '@w2s/model';
import { mulberry32, shuffled } from '@w2s/random';
import { tf } from '@w2s/kernels';
import { batchOf, type EncodedExample } from './encode.js';
import { accuracy } from './metrics.js';
import type { LoadedModel } from './models.js';
import { learningRate } from './schedules.js';
import { checkTrainSettings, type TrainSettings } from './settings.js';
import type { LossChoice, TfjsLossFn } from './losses.js';

export interface HeldOut {
  items: EncodedExample[];
  /** The supervisor's hard labels (0/1) for the items: what early stopping may look at. */
  labels: Uint8Array;
}

export interface TrainInput {
  model: LoadedModel;
  items: EncodedExample[];
  /** [items.length, 2] soft targets, rows summing to 1. */
  targets: Float32Array;
  loss: LossChoice;
  settings: TrainSettings;
  seed: number;
  heldOut?: HeldOut;
  /** Receives every step's and every evaluation's record (for log.jsonl). */
  log?: (entry: Record<string, unknown>) => void;
  /** Called after every step. */
  onStep?: (step: number, totalSteps: number, loss: number) => void;
}

export interface TrainOutput {
  model: NativeModel;
  steps: number;
  /** Mean training loss of the last step. */
  finalLoss: number;
  /** Losses of every step. */
  lossCurve: number[];
  /** Held-out accuracy (against the supervisor's labels) at each evaluation. */
  evals: { step: number; accuracy: number }[];
  /** The step whose weights were kept ('best' early stopping), else the last one. */
  keptStep: number;
}

export async function trainClassifier(input: TrainInput): Promise<TrainOutput> {
  const { items, targets } = input;
  const s = checkTrainSettings({ ...input.settings });
  if (items.length === 0) throw new Error('no training examples');
  if (targets.length !== items.length * 2) throw new Error(`targets hold ${targets.length} values, expected ${items.length * 2}`);
  if (s.earlyStopping === 'best' && !input.heldOut?.items.length) throw new Error("early stopping 'best' needs a held-out split");
  const model = new NativeModel(input.model.config, {
    seed: input.seed,
    ...(input.model.weights ? { weights: input.model.weights } : {}),
    dropout: s.dropout,
    linearProbe: s.linearProbe,
  });
  try {
    const padId = input.model.tokenizer.padId;
    const totalSteps = Math.max(1, Math.floor((items.length * s.epochs) / s.batchSize));
    const order = epochOrder(items.length, input.seed);
    const lossCurve: number[] = [];
    const evals: { step: number; accuracy: number }[] = [];
    let best: { accuracy: number; step: number; weights: Weights } | null = null;

    const evaluate = async (step: number) => {
      if (!input.heldOut?.items.length) return;
      const probs = await predict(model, input.heldOut.items, padId, s.evalBatchSize);
      const acc = accuracy(probs, input.heldOut.labels);
      evals.push({ step, accuracy: acc });
      input.log?.({ event: 'eval', step, heldOutAccuracy: acc });
      if (s.earlyStopping === 'best' && (!best || acc > best.accuracy)) best = { accuracy: acc, step, weights: model.exportWeights() };
    };

    for (let step = 0; step < totalSteps; step++) {
      const rows = Array.from({ length: s.batchSize }, () => order());
      const optimizer: OptimizerOptions = { lr: learningRate({ kind: s.lrSchedule, lr: s.lr, warmupFrac: s.lrWarmupFrac }, step, totalSteps), weightDecay: s.weightDecay, maxGradNorm: s.maxGradNorm };
      const chunks: number[][] = [];
      for (let i = 0; i < rows.length; i += s.minibatchSize) chunks.push(rows.slice(i, i + s.minibatchSize));
      const softTargets = (chunk: number[]) => Float32Array.from(chunk.flatMap((i) => [targets[2 * i], targets[2 * i + 1]]));
      const { definition, options } = input.loss;
      let loss: number;
      let gradNorm: number;
      let parameters: Record<string, unknown> = {};
      if (definition.run.kind === 'tfjs') {
        const context = { tf, step, totalSteps, progress: step / totalSteps, options };
        ({ loss, gradNorm } = await tfjsLossStep(model, definition.run.fn, chunks.map((c) => ({ batch: batchOf(items, c, padId), targets: softTargets(c) })), context, optimizer));
      } else {
        const native = definition.run.at(options, step, totalSteps);
        parameters = Object.fromEntries(Object.entries(native).filter(([key]) => key !== 'loss')); // logged: α at this step
        const minibatches: Minibatch[] = chunks.map((c) => ({ ...batchOf(items, c, padId), ...native, softTargets: softTargets(c) }));
        ({ loss, gradNorm } = await model.trainStep(minibatches, optimizer));
      }
      lossCurve.push(loss);
      input.log?.({ event: 'step', step, loss, gradNorm, lr: optimizer.lr, ...parameters });
      input.onStep?.(step + 1, totalSteps, loss);
      if ((s.evalEvery > 0 && (step + 1) % s.evalEvery === 0) || step === totalSteps - 1) await evaluate(step + 1);
    }
    const kept = best as { accuracy: number; step: number; weights: Weights } | null;
    if (kept) model.loadWeights(kept.weights);
    return { model, steps: totalSteps, finalLoss: lossCurve[lossCurve.length - 1], lossCurve, evals, keptStep: kept ? kept.step : totalSteps };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** p(label 1) for every item, in evaluation mode, batched by similar lengths. */
export async function predict(model: NativeModel, items: readonly EncodedExample[], padId: number, batchSize: number): Promise<Float32Array> {
  const probs = new Float32Array(items.length);
  const byLength = Array.from({ length: items.length }, (_, i) => i).sort((a, b) => items[a].tokens.length - items[b].tokens.length);
  for (let start = 0; start < byLength.length; start += batchSize) {
    const indices = byLength.slice(start, start + batchSize);
    const logits = await model.forward(batchOf(items, indices, padId));
    indices.forEach((item, b) => {
      const z0 = logits[2 * b], z1 = logits[2 * b + 1];
      probs[item] = 1 / (1 + Math.exp(z0 - z1)); // softmax(z)[1]
    });
  }
  return probs;
}

/** A stream of example indices: seeded permutations, one per epoch, back to back. */
function epochOrder(n: number, seed: number): () => number {
  const uniform = mulberry32(seed ^ 0x5eed);
  let perm: number[] = [];
  let next = 0;
  return () => {
    if (next === perm.length) {
      perm = shuffled(Array.from({ length: n }, (_, i) => i), uniform);
      next = 0;
    }
    return perm[next++];
  };
}

// A custom loss over the step's whole batch: the logits of every minibatch, the loss and its
// gradient once over all of them (tfjs autodiff), then the backward pass of every minibatch.
async function tfjsLossStep(
  model: NativeModel,
  fn: TfjsLossFn,
  minibatches: { batch: ReturnType<typeof batchOf>; targets: Float32Array }[],
  context: Parameters<TfjsLossFn>[2],
  optimizer: OptimizerOptions,
): Promise<{ loss: number; gradNorm: number }> {
  const rows = minibatches.reduce((n, m) => n + m.batch.batch, 0);
  const logits = await model.forwardStep(minibatches.map((m) => m.batch));
  const targets = new Float32Array(rows * 2);
  let offset = 0;
  for (const m of minibatches) {
    targets.set(m.targets, offset);
    offset += m.targets.length;
  }
  const { value, dLogits } = tf.tidy(() => {
    const y = tf.tensor2d(targets, [rows, 2]);
    const { value, grad } = tf.valueAndGrad((z: tf.Tensor) => fn(z as tf.Tensor2D, y, context))(tf.tensor2d(logits, [rows, 2]));
    return { value: value.dataSync()[0], dLogits: grad.dataSync() as Float32Array };
  });
  if (!Number.isFinite(value)) throw new Error(`the loss returned ${value}`);
  await model.backwardStep(Float32Array.from(dLogits));
  const { gradNorm } = await model.optimizerStep(optimizer);
  return { loss: value, gradNorm };
}
