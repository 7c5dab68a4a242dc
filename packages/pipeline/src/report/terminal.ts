// The report's tables for a terminal: boxed cli-table3 tables, without colours so that the text
// reads the same on a terminal, in a pipe and in a log file.

import Table from 'cli-table3';
import type { ModelLabel } from './labels.js';
import type { FailedRun } from './load.js';
import { TERMINAL_LEGEND } from './method.js';
import { SCORE_LABELS, SCORE_NAMES } from './scores.js';
import { numericColumns, type ReportTables, type TableData } from './tables.js';

function renderTable(title: string, table: TableData): string {
  if (table.rows.length === 0) return `${title}\n(no experiments)`;
  const rendered = new Table({
    head: table.head,
    colAligns: numericColumns(table).map((isNumeric) => (isNumeric ? 'right' : 'left')),
    style: { head: [], border: [], compact: true },
  });
  rendered.push(...table.rows);
  return `${title}\n${rendered.toString()}`;
}

/** The tables, each under its title, a legend, and the failed runs, as one block of text ending in a newline. */
export function renderTerminal(tables: ReportTables, failures: readonly FailedRun[] = [], models: readonly ModelLabel[] = []): string {
  const parts = [
    ...(models.length === 0 ? [] : [`Models: ${models.map(({ label, model }) => `${label} = ${model}`).join(', ')}`]),
    ...SCORE_NAMES.map((score) => renderTable(`Performance gap recovered (PGR) on ${SCORE_LABELS[score]}, per model pair, over seeds`, tables.pgr[score])),
    renderTable('Weak and strong-ceiling test scores, per model pair, medians over seeds', tables.scores),
    TERMINAL_LEGEND.join('\n'),
  ];
  if (failures.length > 0) parts.push([`Failed runs (${failures.length}):`, ...failures.map((f) => `  ${f.name}: ${f.message}`)].join('\n'));
  return parts.join('\n\n') + '\n';
}
