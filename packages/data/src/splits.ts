// Seeded splits and class balancing. splitExamples shuffles once by seed, takes the test split
// first, then the training split (capped at nTrain), and halves it into train1 (the weak model's
// ground truth) and train2 (what the weak model labels); the three are disjoint. Where examples
// carry their source's split, test comes only from 'test' examples (all of them by default) and
// training only from the others.
import { mulberry32, shuffled } from '@w2s/random';
import { normalisedText } from './collect.js';
import type { Example } from './types.js';

export interface Splits {
  train1: Example[];
  train2: Example[];
  test: Example[];
}

export interface SplitOptions {
  seed: number;
  /** Training examples (train1 + train2); default: everything not in test. */
  nTrain?: number;
  /** Test examples; default: testFraction of the examples. */
  nTest?: number;
  /** Used when nTest is absent; default 0.2. */
  testFraction?: number;
}

export function splitExamples(examples: readonly Example[], opts: SplitOptions): Splits {
  const official = examples.some((e) => e.split !== undefined);
  const order = shuffled(examples, mulberry32(opts.seed));
  const testPool = official ? order.filter((e) => e.split === 'test') : order;
  const n = examples.length;
  const nTest = opts.nTest ?? Math.round((official ? testPool.length : n) * (opts.testFraction ?? (official ? 1 : 0.2)));
  if (!Number.isInteger(nTest) || nTest < 1) throw new RangeError(`the test split needs at least 1 example, got ${nTest}`);
  if (nTest > testPool.length) throw new RangeError(`asked for ${nTest} test examples, but the dataset's test split has ${testPool.length}`);
  const test = testPool.slice(0, nTest);
  const trainPool = official ? order.filter((e) => e.split !== 'test') : order.slice(nTest);
  const nTrain = opts.nTrain ?? trainPool.length;
  if (!Number.isInteger(nTrain) || nTrain < 2) throw new RangeError(`the training split needs at least 2 examples (train1 and train2), got ${nTrain}`);
  if (nTrain > trainPool.length)
    throw new RangeError(official ? `asked for ${nTrain} training examples, but the dataset's training split has ${trainPool.length}` : `asked for ${nTrain} training and ${nTest} test examples, but the dataset has ${n}`);
  const train = trainPool.slice(0, nTrain);
  const half = Math.ceil(train.length / 2);
  return { train1: train.slice(0, half), train2: train.slice(half), test };
}

export function classCounts(examples: readonly Example[]): { 0: number; 1: number } {
  const counts = { 0: 0, 1: 0 };
  for (const e of examples) counts[e.label]++;
  return counts;
}

/** The minority class whole and an equal, seeded sample of the majority class, in the original order. */
export function balanceClasses(examples: readonly Example[], seed: number): Example[] {
  const counts = classCounts(examples);
  const majority: 0 | 1 = counts[1] > counts[0] ? 1 : 0;
  const keep = new Set(shuffled(examples.filter((e) => e.label === majority), mulberry32(seed)).slice(0, counts[majority === 1 ? 0 : 1]));
  return examples.filter((e) => e.label !== majority || keep.has(e));
}

/**
 * The texts of a dataset's training rows, for a pretraining corpus that never holds a test text:
 * only datasets whose rows carry their source's split qualify (a split drawn per seed could test
 * on any row).
 */
export function trainingTexts(name: string, examples: readonly Example[]): string[] {
  if (!examples.some((e) => e.split === 'test'))
    throw new RangeError(`${name} has no fixed test split, so any of its texts may be tested on; only datasets whose rows carry a fixed split (such as sst2, imdb, amazon_polarity) can give a corpus`);
  return examples.filter((e) => e.split === 'train').map((e) => e.text);
}

/**
 * A pretraining corpus of several datasets: each one's training texts, less any that is a test
 * text of another of them (compared as readers compare duplicates, normalisedText).
 */
export function corpusTexts(datasets: readonly { name: string; examples: readonly Example[] }[]): { texts: { dataset: string; text: string }[]; dropped: number } {
  const tested = new Set(datasets.flatMap(({ examples }) => examples.filter((e) => e.split === 'test').map((e) => normalisedText(e.text))));
  const texts: { dataset: string; text: string }[] = [];
  let dropped = 0;
  for (const { name, examples } of datasets)
    for (const text of trainingTexts(name, examples)) {
      if (tested.has(normalisedText(text))) dropped++;
      else texts.push({ dataset: name, text });
    }
  return { texts, dropped };
}
