// When the gap ceiling − weak is too small to divide by. PGR = (transfer − weak) / (ceiling − weak)
// divides by that gap; a gap within the noise of its two scores turns noise into large ratios of
// either sign, so the report shows no PGR there. The standard errors:
//
// - Accuracy on n test examples is a binomial proportion: SE(p) = sqrt(p(1 − p)/n). The gap's
//   standard error treats the two accuracies as independent: sqrt((w(1 − w) + c(1 − c))/n). Both
//   models are scored on the same examples, so their errors are positively correlated in practice
//   and the true standard error is smaller: the rule errs towards withholding a PGR.
// - AUROC: the Hanley–McNeil (1982) standard error from the numbers of positive and negative test
//   examples, the two AUROCs again treated as independent: sqrt(SE(w)² + SE(c)²).
//
// One experiment (seed): its gap is within noise when it is not above zero or is smaller than its
// standard error. Several seeds of one pair: the median gap over the k seeds, against the standard
// error of the mean gap, sqrt(max(s², mean SE²)/k), where s² is the gaps' sample variance over the
// seeds (which holds the seed-to-seed variation and the test sampling both) and mean SE² the
// per-seed variance above, a floor for s² (two or three seeds can agree by chance). With one seed
// this is that seed's own rule.

import { median } from './bootstrap.js';

/**
 * Standard error of ceiling − weak, two independent binomial accuracies on the same number of test
 * examples: sqrt(w(1 − w)/n + c(1 − c)/n), computed as one quotient. Infinite with no test example.
 */
export function accuracyGapStandardError(weak: number, ceiling: number, testExamples: number): number {
  if (!(testExamples >= 1)) return Infinity;
  return Math.sqrt((weak * (1 - weak) + ceiling * (1 - ceiling)) / testExamples);
}

/**
 * Hanley and McNeil's standard error of an AUROC A on `positives` and `negatives` test examples:
 * SE² = (A(1 − A) + (nP − 1)(Q1 − A²) + (nN − 1)(Q2 − A²)) / (nP·nN), with Q1 = A/(2 − A) and
 * Q2 = 2A²/(1 + A). Infinite with fewer than one example of either class (no AUROC to speak of).
 */
export function aurocStandardError(auroc: number, positives: number, negatives: number): number {
  if (!(positives >= 1 && negatives >= 1)) return Infinity;
  const q1 = auroc / (2 - auroc);
  const q2 = (2 * auroc * auroc) / (1 + auroc);
  const square = auroc * auroc;
  const variance = (auroc * (1 - auroc) + (positives - 1) * (q1 - square) + (negatives - 1) * (q2 - square)) / (positives * negatives);
  return Math.sqrt(variance);
}

/** Standard error of ceiling − weak, two independent AUROCs on the same test examples. */
export function aurocGapStandardError(weak: number, ceiling: number, positives: number, negatives: number): number {
  return Math.hypot(aurocStandardError(weak, positives, negatives), aurocStandardError(ceiling, positives, negatives));
}

/** Whether `gap` is too small to divide by: not above zero, or smaller than its standard error (equal passes). */
export function isGapWithinNoise(gap: number, standardError: number): boolean {
  return !(gap > 0) || gap < standardError;
}

/** One seed's weak and ceiling scores and the standard error of their difference. */
export interface SeedGap {
  weak: number;
  ceiling: number;
  gapStandardError: number;
}

/** The gap ceiling − weak of one pair over its seeds. */
export interface PooledGap {
  /** Median over the seeds of ceiling − weak. */
  median: number;
  /** sqrt(max(s², mean per-seed SE²)/k); Infinity when a seed's is (JSON: null). */
  standardError: number;
  /** isGapWithinNoise(median, standardError). */
  withinNoise: boolean;
}

/** The median gap over `seeds` against the standard error of the mean gap (see the file's head). */
export function pooledGap(seeds: readonly SeedGap[]): PooledGap {
  if (seeds.length === 0) throw new RangeError('pooledGap: no seeds');
  const gaps = seeds.map((seed) => seed.ceiling - seed.weak);
  const count = gaps.length;
  const meanGap = gaps.reduce((sum, gap) => sum + gap, 0) / count;
  const sampleVariance = count > 1 ? gaps.reduce((sum, gap) => sum + (gap - meanGap) ** 2, 0) / (count - 1) : 0;
  const meanSeedVariance = seeds.reduce((sum, seed) => sum + seed.gapStandardError ** 2, 0) / count;
  const standardError = Math.sqrt(Math.max(sampleVariance, meanSeedVariance) / count);
  const medianGap = median(gaps);
  return { median: medianGap, standardError, withinNoise: isGapWithinNoise(medianGap, standardError) };
}
