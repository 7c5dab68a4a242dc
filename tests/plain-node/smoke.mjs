// Run by src/plain-node.test.ts with bare `node` (no bundler, no tsx, no loader): the public APIs of
// @w2s/kernels, @w2s/model and @w2s/pipeline load in plain Node ESM and compute (and those of
// @w2s/data and @w2s/queue load). Prints one JSON object; the test checks the numbers against
// independent computations.
import { listDatasets } from '@w2s/data';
import { tf, xentLoss } from '@w2s/kernels';
import { ByteTokenizer, FAMILY, NativeModel, encodeBatch, twinForward, weightsToTensors, withHead } from '@w2s/model';
import { DEFAULT_TRAIN_SETTINGS, builtinLoss, encodeExamples, lossOptions, trainClassifier } from '@w2s/pipeline';
import * as queue from '@w2s/queue';

// @w2s/kernels: a native loss kernel, and a tfjs gradient (tfjs-core's gradient definitions loaded).
const kernel = xentLoss(new Float32Array([0, 0, 2, 0]), new Float32Array([1, 0, 0, 1]), 2);
const grad = tf.grad((x) => tf.sum(tf.mul(x, x)))(tf.tensor1d([1, 2, 3]));

// @w2s/model: the native engine's forward and the tfjs twin's (language-model logits), on the same
// weights and batch.
const tokenizer = new ByteTokenizer();
const lm = FAMILY.nano;
const model = new NativeModel(lm, { seed: 1 });
const texts = ['plain node', 'no bundler'];
const { tokens, lengths, batch, seqLen } = encodeBatch(tokenizer, texts, { maxLength: 32, padding: 'longest', truncation: 'right', ...tokenizer.specials });
const native = await model.forward({ tokens, lengths, batch, seqLen });
const twin = twinForward(lm, weightsToTensors(lm, model.exportWeights()), { tokens, lengths, batch, seqLen }).dataSync();

// @w2s/pipeline: encoding and two steps of classifier training with the built-in xent, and with
// the same loss written in tfjs (trained through tfjs autodiff).
const examples = Array.from({ length: 32 }, (_, i) => ({ id: `e${i}`, text: `text ${i}`, label: /** @type {0 | 1} */ (i % 2) }));
const { encoded } = encodeExamples(tokenizer, examples, { maxTokens: 16, policy: 'drop' });
const targets = new Float32Array(encoded.flatMap((e) => (e.example.label === 1 ? [0, 1] : [1, 0])));
const tfjsXent = {
  name: 'tfjs-xent',
  help: 'soft cross-entropy in tfjs',
  options: {},
  run: { kind: 'tfjs', fn: (logits, y, { tf: t }) => t.neg(t.mean(t.sum(t.mul(y, t.logSoftmax(logits)), 1))) },
};
const train = (definition) =>
  trainClassifier({
    model: { config: withHead(lm, { kind: 'classifier', numClasses: 2 }), weights: null, tokenizer },
    items: encoded,
    targets,
    loss: { definition, options: lossOptions(definition, {}) },
    settings: { ...DEFAULT_TRAIN_SETTINGS, epochs: 1, batchSize: 16, minibatchSize: 16, lr: 1e-3 },
    seed: 2,
  });
const builtin = await train(builtinLoss('xent'));
const custom = await train(tfjsXent);

process.stdout.write(
  JSON.stringify({
    kernelLoss: kernel.loss,
    grad: Array.from(grad.dataSync()),
    nativeLogits: Array.from(native),
    twinLogits: Array.from(twin),
    builtinLosses: builtin.lossCurve,
    tfjsLosses: custom.lossCurve,
    datasets: listDatasets().map((d) => d.name),
    queueExports: Object.keys(queue).length,
  }) + '\n',
);
