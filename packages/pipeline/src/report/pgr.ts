// PGR over the seeds of one (dataset, weak, strong, loss), on one score (accuracy or AUROC).
//
// The statistic: the median over seeds of the per-seed PGR, (transfer − weak) / (ceiling − weak)
// of each experiment. A median rather than a mean because a ratio's tail is heavy: one seed whose
// gap is barely clear of noise can give a PGR of ±10, which would move a mean of five seeds by 2.
// Per seed, a PGR whose gap is within noise (noise.ts) is no number: that seed is left out of the
// median and counted apart. The row has no PGR (n/a) when no seed is left, or when the pair's
// median gap over all its seeds is within the noise of the mean gap (noise.ts: pooledGap).
//
// The interval: the percentile bootstrap of that median (bootstrap.ts), resampling the seeds
// that enter it. With one such seed there is nothing to resample and no interval. With two to five
// seeds the 95% interval is the range of their PGRs (the resampled median falls on the smallest
// value with probability above 2.5%), which covers the median of the seeds' distribution with
// probability 1 − 2^(1 − k) only (75% for k = 3): few seeds give wide intervals that are still
// too narrow.
//
// PGR is recomputed here from the scores, never taken from the summaries' `transfer[].pgr`, so
// that accuracy and AUROC follow one definition (metrics.ts: pgr).

import { pgr } from '../metrics.js';
import { median, medianInterval, type Interval } from './bootstrap.js';
import { isGapWithinNoise, pooledGap, type PooledGap, type SeedGap } from './noise.js';

/** One experiment (seed) on one score: the weak, ceiling and transfer scores, and the gap's noise. */
export interface SeedScores extends SeedGap {
  transfer: number;
}

/** The PGR of one row of the report on one score. */
export interface PgrEstimate {
  /** Median of the per-seed PGRs whose gap is clear of noise; null when n/a (gap within noise). */
  median: number | null;
  /** Bootstrap 95% interval of that median; null when n/a or when only one seed enters it. */
  interval: Interval | null;
  /** Seeds (experiments) of the row. */
  seeds: number;
  /** Seeds whose own gap is within noise, left out of the median. */
  seedsWithinNoise: number;
  /** The gap ceiling − weak over all the row's seeds. */
  gap: PooledGap;
}

/** One seed's PGR; null when its gap ceiling − weak is within noise. */
export function seedPgr(seed: SeedScores): number | null {
  if (isGapWithinNoise(seed.ceiling - seed.weak, seed.gapStandardError)) return null;
  return pgr(seed.weak, seed.ceiling, seed.transfer);
}

/** The median PGR over `seeds`, its bootstrap interval, and what was left out (see the file's head). */
export function estimatePgr(seeds: readonly SeedScores[]): PgrEstimate {
  if (seeds.length === 0) throw new RangeError('estimatePgr: no seeds');
  const gap = pooledGap(seeds);
  const pgrs = seeds.flatMap((seed) => {
    const value = seedPgr(seed);
    return value === null ? [] : [value];
  });
  const counts = { seeds: seeds.length, seedsWithinNoise: seeds.length - pgrs.length, gap };
  if (gap.withinNoise || pgrs.length === 0) return { median: null, interval: null, ...counts };
  return { median: median(pgrs), interval: medianInterval(pgrs), ...counts };
}
