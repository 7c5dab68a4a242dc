// The two test scores the report computes PGR on: accuracy, as the paper does (Burns et al. 2023),
// and AUROC, as EleutherAI's w2s does. Both are read from the summaries' weak, ceiling and
// transfer entries; this file says, for each, how to name it and how noisy one experiment's gap is.

import type { ExperimentSummary, TestScores } from '../summary.js';
import { accuracyGapStandardError, aurocGapStandardError, type SeedGap } from './noise.js';

export type ScoreName = keyof TestScores;

/** In the order the report shows them. */
export const SCORE_NAMES: readonly ScoreName[] = ['accuracy', 'auroc'];

export const SCORE_LABELS: Record<ScoreName, string> = { accuracy: 'accuracy', auroc: 'AUROC' };
/** As a column-title prefix. */
export const SCORE_SHORT_LABELS: Record<ScoreName, string> = { accuracy: 'acc.', auroc: 'AUROC' };

/**
 * The positive test examples of a summary: as recorded, or half of the test split when the
 * summary does not record them (then the AUROC's standard error is that of a balanced split).
 */
export function testPositivesOf(counts: ExperimentSummary['counts']): number {
  return counts.testPositives ?? counts.test / 2;
}

/** Standard error of ceiling − weak on one experiment's test split (see noise.ts). */
export function gapStandardError(score: ScoreName, weak: number, ceiling: number, counts: ExperimentSummary['counts']): number {
  if (score === 'accuracy') return accuracyGapStandardError(weak, ceiling, counts.test);
  const positives = testPositivesOf(counts);
  return aurocGapStandardError(weak, ceiling, positives, counts.test - positives);
}

/** One experiment's weak and ceiling score and the standard error of their gap. */
export function seedGapOf(summary: ExperimentSummary, score: ScoreName): SeedGap {
  const weak = summary.weak[score];
  const ceiling = summary.ceiling[score];
  return { weak, ceiling, gapStandardError: gapStandardError(score, weak, ceiling, summary.counts) };
}
