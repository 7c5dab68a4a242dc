// The tfjs ops in training: a small tfjs attention classifier trained with the native kernels as
// tfjs ops (attentionOp, logconfLossOp, xentLossOp) follows, step by step, the same model trained
// with the pure-tfjs references, and its loss goes down.
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, expect, test } from 'vitest';
import {
  attentionOp,
  attentionReference,
  logconfLossOp,
  logconfLossReference,
  xentLossOp,
  xentLossReference,
  tf,
} from '../src/index.js';
import { mulberry32 } from '@w2s/random';
import { testSeed } from '../../../tests/support/seed.js';

const [B, T, H, HKV, D, CLASSES] = [6, 11, 4, 2, 16, 2];
const MODEL = H * D;
const STEPS = 8;
const LEARNING_RATE = 0.1;

const seed = testSeed; // fresh each run, printed, W2S_TEST_SEED replays it (tests/support/seed.ts)

interface Impl {
  attention: typeof attentionReference;
  loss: (logits: tf.Tensor2D, targets: tf.Tensor2D, step: number) => tf.Scalar;
}

const native: Impl = {
  attention: attentionOp,
  loss: (z, y, step) => (step < STEPS / 2 ? xentLossOp(z, y) : logconfLossOp(z, y, { alpha: 0.5 })),
};
const reference: Impl = {
  attention: attentionReference,
  loss: (z, y, step) => (step < STEPS / 2 ? xentLossReference(z, y) : logconfLossReference(z, y, 0.5)),
};

function train(impl: Impl) {
  const random = mulberry32(seed);
  const init = (shape: number[], scale: number) =>
    tf.variable(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => (random() * 2 - 1) * scale), shape));
  const x = tf.tensor3d(Float32Array.from({ length: B * T * MODEL }, () => random() * 2 - 1), [B, T, MODEL]);
  const weak = Float32Array.from({ length: B }, () => random());
  const targets = tf.tensor2d(Array.from(weak, (p) => [p, 1 - p]), [B, CLASSES]);
  const kvLengths = Int32Array.from({ length: B }, (_, b) => (b === 0 ? T : 1 + Math.floor(random() * T)));
  const params = {
    wq: init([MODEL, H * D], 0.3),
    wk: init([MODEL, HKV * D], 0.3),
    wv: init([MODEL, HKV * D], 0.3),
    head: init([H * D, CLASSES], 0.3),
  };
  const forward = (step: number) => {
    const flat = tf.reshape(x, [B * T, MODEL]) as tf.Tensor2D;
    const project = (w: tf.Variable, heads: number) => tf.reshape(tf.matMul(flat, w), [B, T, heads, D]) as tf.Tensor4D;
    const { out } = impl.attention(project(params.wq, H), project(params.wk, HKV), project(params.wv, HKV), { causal: true, kvLengths });
    const pooled = tf.mean(tf.reshape(out, [B, T, H * D]), 1) as tf.Tensor2D;
    return impl.loss(tf.matMul(pooled, params.head), targets, step);
  };
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const { value, grads } = tf.variableGrads(() => forward(step));
    losses.push(value.dataSync()[0]);
    for (const v of Object.values(params)) v.assign(tf.sub(v, tf.mul(grads[v.name], LEARNING_RATE)));
    tf.dispose([value, ...Object.values(grads)]);
  }
  const final = Object.fromEntries(Object.entries(params).map(([name, v]) => [name, Float32Array.from(v.dataSync())]));
  tf.dispose([x, targets, ...Object.values(params)]);
  return { losses, final };
}

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

test('training with the native tfjs ops matches training with the tfjs references', () => {
  const a = train(native);
  const b = train(reference);
  for (let i = 0; i < STEPS; i++) expect(Math.abs(a.losses[i] - b.losses[i]) / Math.abs(b.losses[i])).toBeLessThan(1e-4);
  for (const name of Object.keys(a.final)) {
    let num = 0;
    let den = 0;
    a.final[name].forEach((value, i) => {
      num = Math.max(num, Math.abs(value - b.final[name][i]));
      den = Math.max(den, Math.abs(b.final[name][i]));
    });
    expect(num / den, name).toBeLessThan(1e-4);
  }
  // Cross-entropy phase: the loss must go down under plain gradient descent.
  expect(a.losses[STEPS / 2 - 1]).toBeLessThan(a.losses[0]);
});
