// Scores of binary classifiers. Probabilities are p(label 1), one per example; labels are 0 or 1.
import type { Agreement, TestScores } from './summary.js';

/** Fraction of examples where (p ≥ 0.5) equals the label. */
export function accuracy(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(probs, labels);
  let right = 0;
  for (let i = 0; i < labels.length; i++) if ((probs[i] >= 0.5 ? 1 : 0) === labels[i]) right++;
  return right / labels.length;
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a random
 * negative, ties counting one half (the Mann–Whitney statistic, with average ranks for ties).
 * 0.5 when one class is absent.
 */
export function auroc(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(probs, labels);
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => probs[a] - probs[b]);
  let positives = 0;
  let rankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && probs[order[end + 1]] === probs[order[start]]) end++;
    const averageRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        rankSum += averageRank;
      }
    }
    start = end + 1;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return 0.5;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function testScores(probs: ArrayLike<number>, labels: ArrayLike<number>): TestScores {
  return { accuracy: accuracy(probs, labels), auroc: auroc(probs, labels) };
}

/**
 * Performance gap recovered: (transfer − weak) / (ceiling − weak). null when the ceiling is not
 * above the weak model (the ratio is then undefined or meaningless).
 */
export function pgr(weak: number, ceiling: number, transfer: number): number | null {
  if (!(ceiling > weak)) return null;
  return (transfer - weak) / (ceiling - weak);
}

/**
 * How often the student's hard prediction equals the supervisor's, overall and split by whether
 * the supervisor was right about the ground truth.
 */
export function agreement(student: ArrayLike<number>, supervisor: ArrayLike<number>, labels: ArrayLike<number>): Agreement {
  checkLengths(student, labels);
  checkLengths(supervisor, labels);
  const counts = { all: 0, right: 0, rightAgree: 0, wrong: 0, wrongAgree: 0 };
  for (let i = 0; i < labels.length; i++) {
    const s = student[i] >= 0.5 ? 1 : 0;
    const w = supervisor[i] >= 0.5 ? 1 : 0;
    if (s === w) counts.all++;
    if (w === labels[i]) {
      counts.right++;
      if (s === w) counts.rightAgree++;
    } else {
      counts.wrong++;
      if (s === w) counts.wrongAgree++;
    }
  }
  return {
    overall: counts.all / labels.length,
    supervisorRight: counts.right ? counts.rightAgree / counts.right : null,
    supervisorWrong: counts.wrong ? counts.wrongAgree / counts.wrong : null,
  };
}

function checkLengths(a: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (labels.length === 0) throw new RangeError('no examples to score');
  if (a.length !== labels.length) throw new RangeError(`${a.length} predictions for ${labels.length} labels`);
}
