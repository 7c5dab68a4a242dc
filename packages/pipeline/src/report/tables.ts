// The report's two tables as plain text cells: PGR per (dataset, weak, strong, loss) and accuracy
// per (dataset, weak, strong), medians and spreads over seeds. Rendered by terminal.ts and
// markdown.ts.

import type { ExperimentSummary } from '../summary.js';
import { aggregateSummaries } from './aggregate.js';
import type { Spread } from './quantile.js';

/** A table as text: a header row and body rows of the same width. */
export interface TableData {
  head: string[];
  rows: string[][];
}

export interface ReportTables {
  pgr: TableData;
  accuracy: TableData;
}

/** Shown in a cell that has no value (no defined PGR, or too few seeds for quartiles). */
const NO_VALUE = '—';
/** Shown as the median PGR when every seed's PGR is undefined (ceiling not above the weak model). */
const UNDEFINED_PGR = 'undefined';
/** Quartiles are shown only from this many defined values on. */
const MIN_VALUES_FOR_QUARTILES = 4;

const ACCURACY_DIGITS = 3;
const PGR_DIGITS = 2;

/** `value` with `digits` decimals, never "-0.00". */
function formatNumber(value: number, digits: number): string {
  const text = value.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
}

/** A number, a range of two numbers, or a placeholder for a missing one. */
const NUMERIC_CELL = new RegExp(`^(-?\\d+(\\.\\d+)?( – -?\\d+(\\.\\d+)?)?|${NO_VALUE}|${UNDEFINED_PGR})$`);

/** For each column, whether every body cell is numeric (renderers right-align those). */
export function numericColumns(table: TableData): boolean[] {
  return table.head.map((_, column) => table.rows.length > 0 && table.rows.every((row) => NUMERIC_CELL.test(row[column])));
}

function formatRange(low: number, high: number, digits: number): string {
  return `${formatNumber(low, digits)} – ${formatNumber(high, digits)}`;
}

function pgrCells(pgr: Spread | undefined): string[] {
  if (pgr === undefined) return [UNDEFINED_PGR, NO_VALUE, NO_VALUE];
  return [
    formatNumber(pgr.median, PGR_DIGITS),
    formatRange(pgr.min, pgr.max, PGR_DIGITS),
    pgr.count >= MIN_VALUES_FOR_QUARTILES ? formatRange(pgr.lowerQuartile, pgr.upperQuartile, PGR_DIGITS) : NO_VALUE,
  ];
}

const PGR_TABLE_HEAD = [
  'dataset',
  'weak',
  'strong',
  'loss',
  'seeds',
  'PGR median',
  'PGR min – max',
  'PGR q1 – q3',
  'PGR undefined',
  'transfer acc. median',
];

const ACCURACY_TABLE_HEAD = [
  'dataset',
  'weak',
  'strong',
  'seeds',
  'weak acc. median',
  'ceiling acc. median',
  'gap (ceiling − weak)',
];

/**
 * The PGR and accuracy tables of `summaries`. Rows go by dataset name, then weak models by median
 * accuracy, strong models by median ceiling accuracy, losses by name. PGR statistics are over the
 * seeds whose PGR is defined; the others are counted in "PGR undefined". The gap is the difference
 * of the two medians shown beside it.
 */
export function buildTables(summaries: readonly ExperimentSummary[]): ReportTables {
  const pgrRows: string[][] = [];
  const accuracyRows: string[][] = [];
  for (const aggregate of aggregateSummaries(summaries)) {
    for (const transfer of aggregate.transfers) {
      pgrRows.push([
        aggregate.dataset,
        transfer.weakModel,
        transfer.strongModel,
        transfer.loss,
        String(transfer.seedCount),
        ...pgrCells(transfer.pgr),
        String(transfer.undefinedPgrCount),
        formatNumber(transfer.accuracy.median, ACCURACY_DIGITS),
      ]);
    }
    for (const pair of aggregate.pairs) {
      accuracyRows.push([
        aggregate.dataset,
        pair.weakModel,
        pair.strongModel,
        String(pair.seedCount),
        formatNumber(pair.weakAccuracy.median, ACCURACY_DIGITS),
        formatNumber(pair.ceilingAccuracy.median, ACCURACY_DIGITS),
        formatNumber(pair.ceilingAccuracy.median - pair.weakAccuracy.median, ACCURACY_DIGITS),
      ]);
    }
  }
  return {
    pgr: { head: [...PGR_TABLE_HEAD], rows: pgrRows },
    accuracy: { head: [...ACCURACY_TABLE_HEAD], rows: accuracyRows },
  };
}
