// The report's tables as plain text cells: PGR per (dataset, weak, strong, loss) on accuracy and
// on AUROC, each with its bootstrap interval over seeds, and the pairs' scores and gaps with their
// standard errors. Rendered by terminal.ts and markdown.ts; the numbers behind them travel along
// (`aggregates`) for machine-readable output.

import type { ExperimentSummary } from '../summary.js';
import { CONFIDENCE_PERCENT } from './bootstrap.js';
import { aggregateSummaries, type CountRange, type DatasetAggregate } from './aggregate.js';
import type { PooledGap } from './noise.js';
import type { PgrEstimate } from './pgr.js';
import { SCORE_NAMES, SCORE_SHORT_LABELS, type ScoreName } from './scores.js';

/** A table as text: a header row and body rows of the same width. */
export interface TableData {
  head: string[];
  rows: string[][];
}

export interface ReportTables {
  /** PGR per (dataset, weak, strong, loss), one table per score. */
  pgr: Record<ScoreName, TableData>;
  /** Weak and ceiling scores per (dataset, weak, strong), with the gap and its standard error. */
  scores: TableData;
  /** The numbers the tables show, unrounded (a standard error that is infinite is null in JSON). */
  aggregates: DatasetAggregate[];
}

/** Shown in a cell that has no value (the interval of a PGR that is n/a). */
const NO_VALUE = '—';
/** Shown instead of a PGR whose gap ceiling − weak is within noise (noise.ts). */
export const GAP_WITHIN_NOISE = 'n/a (gap within noise)';
/** Shown instead of an interval when only one seed enters the PGR. */
export const ONE_SEED = 'n/a (1 seed)';
/** Shown instead of an AUROC standard error when the test split lacks a class. */
const ONE_CLASS = 'n/a (one class)';

const SCORE_DIGITS = 3;
const PGR_DIGITS = 2;

/** `value` with `digits` decimals, never "-0.00". */
function formatNumber(value: number, digits: number): string {
  const text = value.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
}

/** A number, a range of two numbers, or a placeholder for a missing one. */
const NUMERIC_CELL = new RegExp(`^(-?\\d+(\\.\\d+)?( – -?\\d+(\\.\\d+)?)?|${NO_VALUE}|n/a \\([^)]*\\))$`);

/** For each column, whether every body cell is numeric (renderers right-align those). */
export function numericColumns(table: TableData): boolean[] {
  return table.head.map((_, column) => table.rows.length > 0 && table.rows.every((row) => NUMERIC_CELL.test(row[column])));
}

function formatRange(low: number, high: number, digits: number): string {
  return `${formatNumber(low, digits)} – ${formatNumber(high, digits)}`;
}

function formatCount(range: CountRange): string {
  return range.min === range.max ? String(range.min) : `${range.min} – ${range.max}`;
}

/** The PGR, its interval and the seeds left out. */
function pgrCells(estimate: PgrEstimate): string[] {
  const seedsLeftOut = String(estimate.seedsWithinNoise);
  if (estimate.median === null) return [GAP_WITHIN_NOISE, NO_VALUE, seedsLeftOut];
  const interval = estimate.interval === null ? ONE_SEED : formatRange(estimate.interval.low, estimate.interval.high, PGR_DIGITS);
  return [formatNumber(estimate.median, PGR_DIGITS), interval, seedsLeftOut];
}

function gapCells(gap: PooledGap): string[] {
  return [formatNumber(gap.median, SCORE_DIGITS), Number.isFinite(gap.standardError) ? formatNumber(gap.standardError, SCORE_DIGITS) : ONE_CLASS];
}

function pgrTableHead(score: ScoreName): string[] {
  return ['dataset', 'weak', 'strong', 'loss', 'seeds', 'test examples', 'PGR median', `PGR ${CONFIDENCE_PERCENT} CI`, 'seeds n/a', `transfer ${SCORE_SHORT_LABELS[score]} median`];
}

function scoresTableHead(): string[] {
  const perScore = SCORE_NAMES.flatMap((score) => {
    const label = SCORE_SHORT_LABELS[score];
    return [`weak ${label} median`, `ceiling ${label} median`, `${label} gap median`, `${label} gap SE`];
  });
  return ['dataset', 'weak', 'strong', 'seeds', 'test examples', ...perScore];
}

function pgrTable(aggregates: readonly DatasetAggregate[], score: ScoreName): TableData {
  const rows = aggregates.flatMap((aggregate) =>
    aggregate.transfers.map((transfer) => [
      aggregate.dataset,
      transfer.weakModel,
      transfer.strongModel,
      transfer.loss,
      String(transfer.seedCount),
      formatCount(transfer.testExamples),
      ...pgrCells(transfer.pgr[score]),
      formatNumber(transfer.scores[score].median, SCORE_DIGITS),
    ]),
  );
  return { head: pgrTableHead(score), rows };
}

function scoresTable(aggregates: readonly DatasetAggregate[]): TableData {
  const rows = aggregates.flatMap((aggregate) =>
    aggregate.pairs.map((pair) => [
      aggregate.dataset,
      pair.weakModel,
      pair.strongModel,
      String(pair.seedCount),
      formatCount(pair.testExamples),
      ...SCORE_NAMES.flatMap((score) => [formatNumber(pair.weak[score].median, SCORE_DIGITS), formatNumber(pair.ceiling[score].median, SCORE_DIGITS), ...gapCells(pair.gap[score])]),
    ]),
  );
  return { head: scoresTableHead(), rows };
}

/**
 * The tables of `summaries`. Rows go by dataset name, then weak models by median accuracy, strong
 * models by median ceiling accuracy, losses by name. Each PGR row is one pair and loss over its
 * seeds (pgr.ts); the gap is the median over seeds of ceiling − weak, its SE that of noise.ts.
 */
export function buildTables(summaries: readonly ExperimentSummary[]): ReportTables {
  const aggregates = aggregateSummaries(summaries);
  return {
    pgr: { accuracy: pgrTable(aggregates, 'accuracy'), auroc: pgrTable(aggregates, 'auroc') },
    scores: scoresTable(aggregates),
    aggregates,
  };
}
