// One training run: a model trained on one split with ground truth or with a supervisor's soft
// labels, then scored on the test split and asked for its own soft labels on train2 (which a
// later run may use as weak labels). Runs are cached in the results store by their full
// configuration; a run's supervisor is part of its configuration, so chains (weak → transfer,
// bootstrapping, strong-to-strong) are cached link by link. So is the arithmetic the run trains
// with (its precision): a run computes only in a process whose compute device has that precision.
import { computeDevice, type ComputeDevice } from '@w2s/model';
import { mulberry32, shuffled } from '@w2s/random';
import type { Example } from '@w2s/data';
import { StoreError, canonicalJson, type CompletedRun, type Predictions, type ResultsStore } from './store.js';
import { prepareData, type DataConfig, type DataSource, type PreparedData } from './data.js';
import { encodeExamples, type EncodedExample } from './encode.js';
import { testScores } from './metrics.js';
import { loadModel, type ModelSource } from './models.js';
import type { TestScores } from './summary.js';
import { predict, trainClassifier, type HeldOut } from './train.js';
import type { TrainSettings } from './settings.js';
import { findLoss, lossOptions, type LossConfig, type LossDefinition } from './losses.js';

export type RunRole = 'weak' | 'ceiling' | 'transfer';

/** The arithmetic of a run's matrix products (and, on CUDA, attention): ComputeDevice's precision. */
export type Precision = NonNullable<ComputeDevice['precision']>;

export interface RunConfig {
  role: RunRole;
  dataset: DataConfig;
  /** The model's identity (family name or checkpoint hash), its tokenizer's (spec, or file hash) and the special tokens that adds to every text. */
  model: { identity: string; tokenizer: string; specials: { bos: boolean; eos: boolean } };
  /**
   * train1 (the weak model), train2 (ceiling and transfer), or a half of train2: the links of a
   * supervision chain alternate halves, so that every model labels examples it was not trained on.
   */
  trainSplit: 'train1' | 'train2' | 'train2a' | 'train2b';
  /** Whose soft labels on trainSplit the run learns from; null: the ground truth. */
  supervisor: RunConfig | null;
  /** The loss (ground truth: xent) with its options; a module's by its content hash. */
  loss: LossConfig;
  training: TrainSettings;
  /** Fraction of the training split held out, labelled like the rest, for early stopping (0: none). */
  heldOutFrac: number;
  seed: number;
  /**
   * The arithmetic the run trains with when it is not float32: 'bf16' or 'tf32' products (see
   * ComputeDevice). ABSENT for float32, never 'float32', so that the configurations, and hence the
   * hashes and store folder names, of float32 runs are those of the stores written before this
   * field existed. A supervisor records its own (it is a RunConfig too). executeRun refuses to
   * train a run in a process whose compute device has another precision.
   */
  precision?: Exclude<Precision, 'float32'>;
}

/** The precision a run records: the field for bf16 / tf32, nothing for float32. */
export function precisionField(precision: Precision | undefined): Pick<RunConfig, 'precision'> {
  return precision === undefined || precision === 'float32' ? {} : { precision };
}

/** The arithmetic a run trains with (its configuration's precision; float32 when absent). */
export function runPrecision(config: Pick<RunConfig, 'precision'>): Precision {
  return config.precision ?? 'float32';
}

/** The precision of this process's compute device (setComputeDevice: the commands' --precision). */
export function processPrecision(): Precision {
  return computeDevice().precision ?? 'float32';
}

/**
 * A run that this process cannot train as configured: its compute device has another precision
 * than the run records. A StoreError: the store must not hold results of one arithmetic under
 * another's configuration, and a process with the run's precision (another queue worker) can
 * train it.
 */
export class PrecisionMismatchError extends StoreError {}

export interface RunMetrics {
  test: TestScores;
  steps: number;
  finalLoss: number;
  lossCurve: number[];
  evals: { step: number; accuracy: number }[];
  keptStep: number;
  examples: { train: number; heldOut: number; test: number; dropped: number; truncated: number; unlabelled: number };
  seconds: number;
}

export type RunResult = CompletedRun<RunMetrics> & { reused: boolean };

/** Follows runs as they start and step. */
export interface RunProgress {
  start?(name: string, config: RunConfig): void;
  step?(name: string, step: number, totalSteps: number, loss: number): void;
  finish?(name: string, result: RunResult): void;
}

export interface RunContext {
  store: ResultsStore;
  data: DataSource;
  /** Model sources by identity (the configurations hold identities, not paths). */
  models: Map<string, ModelSource>;
  /** Losses from module files that runs may name (by content hash); the built-in ones are always known. */
  losses?: readonly LossDefinition[];
  progress?: RunProgress;
  /** Prepared data by canonical DataConfig: loaded once per process. */
  dataCache?: Map<string, Promise<PreparedData>>;
}

export async function executeRun(config: RunConfig, ctx: RunContext): Promise<RunResult> {
  const supervisor = config.supervisor ? await executeRun(config.supervisor, ctx) : null;
  if (supervisor && !supervisor.labels)
    throw new StoreError(`${supervisor.dir} has no labels.json: its labels are needed by ${ctx.store.runName(config)}`);
  const name = ctx.store.runName(config);
  const done = await ctx.store.load<RunMetrics>(config);
  if (done) {
    const reused = { ...done, reused: true };
    ctx.progress?.finish?.(name, reused);
    return reused;
  }
  // Checked before anything is loaded: the stored configuration must name the arithmetic used.
  if (runPrecision(config) !== processPrecision())
    throw new PrecisionMismatchError(
      `${name} is configured to train in ${runPrecision(config)}, but this process computes in ${processPrecision()} (--precision): ` +
        `plan it with this process's precision, or train it where --precision ${runPrecision(config)} is set`,
    );
  // Loading and tokenizing run on the event loop; done before the run's lock is taken, so that a
  // long synchronous stretch cannot let the lock go stale while this process holds it.
  const { model, train, test, train2 } = await prepareRun(config, ctx);
  const result = await ctx.store.getOrCompute<RunMetrics>(config, async (writer) => {
    ctx.progress?.start?.(name, config);
    const started = Date.now();

    const { items, targets, unlabelled } = labelled(train.encoded, supervisor?.labels ?? null);
    const { fit, fitTargets, heldOut } = holdOut(items, targets, config.heldOutFrac, config.seed);
    writer.log({ event: 'start', role: config.role, train: fit.length, heldOut: heldOut?.items.length ?? 0, test: test.encoded.length, unlabelled, heldOutIds: heldOut?.items.map((e) => e.example.id) ?? [] });
    const definition = findLoss(config.loss, ctx.losses);
    const loss = { definition, options: lossOptions(definition, config.loss.options, `${name}: loss.options`) };
    const trained = await trainClassifier({
      model,
      items: fit,
      targets: fitTargets,
      loss,
      settings: config.training,
      seed: config.seed,
      ...(heldOut ? { heldOut } : {}),
      log: (entry) => writer.log(entry),
      onStep: (step, total, value) => ctx.progress?.step?.(name, step, total, value),
    });
    try {
      const padId = model.tokenizer.padId;
      const testProbs = await predict(trained.model, test.encoded, padId, config.training.evalBatchSize);
      const labelProbs = await predict(trained.model, train2.encoded, padId, config.training.evalBatchSize);
      const scores = testScores(testProbs, test.encoded.map((e) => e.example.label));
      writer.log({ event: 'test', ...scores });
      const metrics: RunMetrics = {
        test: scores,
        steps: trained.steps,
        finalLoss: trained.finalLoss,
        lossCurve: trained.lossCurve,
        evals: trained.evals,
        keptStep: trained.keptStep,
        examples: {
          train: fit.length,
          heldOut: heldOut?.items.length ?? 0,
          test: test.encoded.length,
          dropped: train.report.dropped + test.report.dropped,
          truncated: train.report.truncated + test.report.truncated,
          unlabelled,
        },
        seconds: (Date.now() - started) / 1000,
      };
      return { metrics, test: predictions(test.encoded, testProbs), labels: predictions(train2.encoded, labelProbs) };
    } finally {
      trained.model.dispose();
    }
  });
  ctx.progress?.finish?.(name, result);
  return result;
}

/** The examples the run trains on: train1, train2, or one half of train2 (the links of supervision chains). */
export function trainingExamples(splits: PreparedData['splits'], split: RunConfig['trainSplit']): Example[] {
  if (split === 'train1' || split === 'train2') return splits[split];
  const half = Math.ceil(splits.train2.length / 2);
  return split === 'train2a' ? splits.train2.slice(0, half) : splits.train2.slice(half);
}

/** The model and the tokenized splits of a run. */
async function prepareRun(config: RunConfig, ctx: RunContext) {
  const source = ctx.models.get(config.model.identity);
  if (!source) throw new Error(`no model source for ${config.model.identity}`);
  const model = await loadModel(source, 2);
  const { bos, eos } = model.tokenizer.specials;
  if (bos !== config.model.specials.bos || eos !== config.model.specials.eos)
    throw new Error(
      `the tokenizer ${source.tokenizerSpec} adds ${JSON.stringify({ bos, eos })} to every text here, but the run was configured with ${JSON.stringify(config.model.specials)}`,
    );
  const { splits } = await dataFor(config.dataset, ctx);
  const lengthOpts = { maxTokens: config.dataset.maxTokens, policy: config.dataset.lengthPolicy };
  const train = encodeExamples(model.tokenizer, trainingExamples(splits, config.trainSplit), lengthOpts);
  const test = encodeExamples(model.tokenizer, splits.test, lengthOpts);
  const train2 = config.trainSplit === 'train2' ? train : encodeExamples(model.tokenizer, splits.train2, lengthOpts);
  return { model, train, test, train2 };
}

/** The prepared data of a config, loaded once per context. */
export function dataFor(config: DataConfig, ctx: RunContext): Promise<PreparedData> {
  ctx.dataCache ??= new Map();
  const key = canonicalJson(config);
  let prepared = ctx.dataCache.get(key);
  if (!prepared) {
    prepared = prepareData(config, ctx.data);
    ctx.dataCache.set(key, prepared);
  }
  return prepared;
}

/** Targets [n, 2]: one-hot ground truth, or the supervisor's soft labels joined by example id. */
function labelled(encoded: EncodedExample[], labels: Predictions | null): { items: EncodedExample[]; targets: Float32Array; unlabelled: number } {
  if (!labels) {
    const targets = new Float32Array(encoded.length * 2);
    encoded.forEach((e, i) => (targets[2 * i + e.example.label] = 1));
    return { items: encoded, targets, unlabelled: 0 };
  }
  const byId = new Map(labels.ids.map((id, i) => [id, labels.probs[i]]));
  const items = encoded.filter((e) => byId.has(e.example.id));
  const targets = new Float32Array(items.length * 2);
  items.forEach((e, i) => {
    const p1 = byId.get(e.example.id)!;
    targets[2 * i] = 1 - p1;
    targets[2 * i + 1] = p1;
  });
  return { items, targets, unlabelled: encoded.length - items.length };
}

/** Splits a seeded fraction off the training items, labelled with the argmax of their targets. */
function holdOut(items: EncodedExample[], targets: Float32Array, frac: number, seed: number): { fit: EncodedExample[]; fitTargets: Float32Array; heldOut: HeldOut | null } {
  const n = Math.round(items.length * frac);
  if (n === 0) return { fit: items, fitTargets: targets, heldOut: null };
  if (n >= items.length) throw new RangeError(`heldOutFrac ${frac} leaves no training examples`);
  const uniform = mulberry32(seed ^ 0x4e1d);
  const order = shuffled(Array.from({ length: items.length }, (_, i) => i), uniform);
  const held = order.slice(0, n).sort((a, b) => a - b);
  const fit = order.slice(n).sort((a, b) => a - b);
  return {
    fit: fit.map((i) => items[i]),
    fitTargets: Float32Array.from(fit.flatMap((i) => [targets[2 * i], targets[2 * i + 1]])),
    heldOut: { items: held.map((i) => items[i]), labels: Uint8Array.from(held, (i) => (targets[2 * i + 1] > targets[2 * i] ? 1 : 0)) },
  };
}

function predictions(encoded: EncodedExample[], probs: Float32Array): Predictions {
  return { ids: encoded.map((e) => e.example.id), probs: Array.from(probs, (p) => Math.round(p * 1e6) / 1e6) };
}

