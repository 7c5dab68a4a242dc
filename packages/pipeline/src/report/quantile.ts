// Order statistics for the reports: linear-interpolation quantiles (the definition numpy and
// torch.quantile use by default) and the spread of a sample (median, min–max, quartiles).

/**
 * The `probability`-quantile of values already sorted ascending, interpolating linearly between
 * the two nearest ranks: position (n − 1)·p.
 */
export function quantileOfSorted(sortedValues: readonly number[], probability: number): number {
  if (sortedValues.length === 0) throw new RangeError('quantileOfSorted: no values');
  if (!(probability >= 0 && probability <= 1)) {
    throw new RangeError(`quantileOfSorted: probability must be in [0, 1], got ${probability}`);
  }
  const position = (sortedValues.length - 1) * probability;
  const lowerRank = Math.floor(position);
  const upperRank = Math.min(lowerRank + 1, sortedValues.length - 1);
  const lowerValue = sortedValues[lowerRank];
  return lowerValue + (position - lowerRank) * (sortedValues[upperRank] - lowerValue);
}

/** Median, extremes and quartiles of a non-empty sample. */
export interface Spread {
  count: number;
  median: number;
  min: number;
  max: number;
  lowerQuartile: number;
  upperQuartile: number;
}

/** The spread of `values`, or undefined when there are none. */
export function spreadOf(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sortedValues = [...values].sort((a, b) => a - b);
  return {
    count: sortedValues.length,
    median: quantileOfSorted(sortedValues, 0.5),
    min: sortedValues[0],
    max: sortedValues[sortedValues.length - 1],
    lowerQuartile: quantileOfSorted(sortedValues, 0.25),
    upperQuartile: quantileOfSorted(sortedValues, 0.75),
  };
}
