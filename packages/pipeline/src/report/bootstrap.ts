// The percentile bootstrap over seeds, the report's one notion of an interval: resample the seeds
// (experiments) with replacement, compute the statistic on each resample, take the 2.5th and 97.5th
// percentiles of the resampled statistics. The resampling draws from mulberry32 with a fixed seed,
// so the same summaries always give the same interval.

import { mulberry32 } from '@w2s/random';
import { quantileOfSorted } from './quantile.js';

/** Resamples drawn for every interval. */
export const BOOTSTRAP_RESAMPLES = 2000;
/** The seed of the resampling generator (fixed: a report is a pure function of its summaries). */
export const BOOTSTRAP_SEED = 20231214;
/** The intervals' nominal coverage: the central 95% of the resampled statistics. */
export const CONFIDENCE_LEVEL = 0.95;
/** CONFIDENCE_LEVEL as the report writes it: "95%". */
export const CONFIDENCE_PERCENT = `${percentOf(CONFIDENCE_LEVEL)}%`;

/** A fraction as a percentage, without floating-point tails (0.025 → "2.5"). */
export function percentOf(fraction: number): string {
  return String(Number((fraction * 100).toFixed(2)));
}

/** A closed interval [low, high]. */
export interface Interval {
  low: number;
  high: number;
}

export interface BootstrapOptions {
  resamples?: number;
  seed?: number;
  level?: number;
}

/** The median of a non-empty sample (the middle value, or the mean of the two middle values). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median: no values');
  return quantileOfSorted([...values].sort((a, b) => a - b), 0.5);
}

/**
 * The percentile bootstrap interval of `statistic` over `values`: `resamples` samples of
 * values.length values drawn with replacement, the statistic of each, and the (1 − level)/2 and
 * (1 + level)/2 quantiles of those statistics (linear interpolation, as quantileOfSorted).
 * `statistic` must not depend on the order of its input (a median, a mean): the values are sorted
 * before resampling, so that the interval does not depend on the order they come in.
 */
export function bootstrapInterval(values: readonly number[], statistic: (sample: readonly number[]) => number, options: BootstrapOptions = {}): Interval {
  const { resamples = BOOTSTRAP_RESAMPLES, seed = BOOTSTRAP_SEED, level = CONFIDENCE_LEVEL } = options;
  if (values.length === 0) throw new RangeError('bootstrapInterval: no values');
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`bootstrapInterval: resamples must be a positive integer, got ${resamples}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`bootstrapInterval: level must be in (0, 1), got ${level}`);
  const sorted = [...values].sort((a, b) => a - b);
  const random = mulberry32(seed);
  const sample = new Array<number>(sorted.length);
  const statistics = new Array<number>(resamples);
  for (let resample = 0; resample < resamples; resample += 1) {
    for (let index = 0; index < sample.length; index += 1) sample[index] = sorted[Math.floor(random() * sorted.length)];
    statistics[resample] = statistic(sample);
  }
  statistics.sort((a, b) => a - b);
  return { low: quantileOfSorted(statistics, (1 - level) / 2), high: quantileOfSorted(statistics, (1 + level) / 2) };
}

/** The bootstrap interval of the median of `values`; null for fewer than two values (nothing to resample). */
export function medianInterval(values: readonly number[]): Interval | null {
  return values.length >= 2 ? bootstrapInterval(values, median) : null;
}
