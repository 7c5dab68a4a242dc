// How to read the report, in words: the definitions behind its numbers (pgr.ts, noise.ts,
// bootstrap.ts), written once for report.md and, shortened, for the terminal.

import { BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE_LEVEL, CONFIDENCE_PERCENT, percentOf } from './bootstrap.js';
import { GAP_WITHIN_NOISE, ONE_SEED } from './tables.js';

const LOW_PERCENTILE = `${percentOf((1 - CONFIDENCE_LEVEL) / 2)}th`;
const HIGH_PERCENTILE = `${percentOf((1 + CONFIDENCE_LEVEL) / 2)}th`;

/** The paragraphs (Markdown) that open report.md. */
export const METHOD_PARAGRAPHS: readonly string[] = [
  'A weak model, finetuned on ground truth, labels the data a strong model is then finetuned on (the transfer run); ' +
    'the strong ceiling is the strong model finetuned on ground truth. All scores are on the test split; ' +
    '"test examples" is the number of test examples each score rests on.',
  'PGR (performance gap recovered) = (transfer − weak) / (ceiling − weak), for each experiment (seed), on test ' +
    'accuracy (as in Burns et al. 2023) and on test AUROC (as in EleutherAI\'s w2s). Every row is one dataset, one ' +
    'weak → strong pair and one loss: different pairs are never pooled.',
  `**PGR median** is the median over seeds of the per-seed PGRs. **PGR ${CONFIDENCE_PERCENT} CI** is a percentile bootstrap over seeds: ` +
    `${BOOTSTRAP_RESAMPLES} resamples of the seeds with replacement (mulberry32, seed ${BOOTSTRAP_SEED}, so the same ` +
    `summaries always give the same interval), the median of each, and their ${LOW_PERCENTILE} and ${HIGH_PERCENTILE} ` +
    `percentiles; "${ONE_SEED}" when only one seed enters the median. With 2 to 5 seeds this ${CONFIDENCE_PERCENT} interval is ` +
    'the range of the seeds\' PGRs, which covers the median of the seeds\' distribution with probability ' +
    '1 − 2^(1 − k) only (75% for k = 3 seeds, 94% for 5).',
  `**${GAP_WITHIN_NOISE}**: a PGR divides by ceiling − weak, and a gap within the noise of its two scores gives ` +
    'ratios of noise of either sign. For one experiment on n test examples, the standard error (SE) of the gap is, on ' +
    'accuracy, sqrt(w(1 − w)/n + c(1 − c)/n) for weak and ceiling accuracies w and c (two independent binomial ' +
    'proportions; both models are scored on the same examples, so the true SE is smaller and the rule errs towards n/a), ' +
    'and on AUROC sqrt(SE(w)² + SE(c)²) with Hanley and McNeil\'s SE of each AUROC, from the numbers of positive and ' +
    'negative test examples (half of n each where the summary does not record them). A seed whose gap is not above ' +
    'zero or is smaller than its SE is left out of the median and counted in "seeds n/a". The row\'s PGR is n/a when no ' +
    'seed is left, or when the median gap over its k seeds is not above zero or is smaller than the SE of the mean gap, ' +
    'sqrt(max(s², mean SE²)/k), s² the gaps\' sample variance over the seeds and mean SE² the seeds\' squared SEs ' +
    '(a floor for s², which two or three seeds can make small by chance); with one seed this is that seed\'s rule. ' +
    'The pairs\' table shows each median gap and that SE.',
];

/** The lines under the terminal's tables. */
export const TERMINAL_LEGEND: readonly string[] = [
  `PGR median: median over seeds of per-seed PGR; PGR ${CONFIDENCE_PERCENT} CI: percentile bootstrap over seeds (${BOOTSTRAP_RESAMPLES} resamples).`,
  `${GAP_WITHIN_NOISE}: ceiling − weak not above zero or below its standard error (binomial on accuracy, Hanley–McNeil on AUROC);`,
  'seeds n/a: seeds left out of the median for that reason. Definitions in report.md.',
];
