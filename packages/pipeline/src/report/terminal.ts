// The report's tables for a terminal: boxed cli-table3 tables, without colours so that the text
// reads the same on a terminal, in a pipe and in a log file.

import Table from 'cli-table3';
import type { FailedRun } from './load.js';
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

/** Both tables, each under its title, as one block of text ending in a newline. */
export function renderTerminal(tables: ReportTables, failures: readonly FailedRun[] = []): string {
  const parts = [renderTable('Performance gap recovered (PGR), over seeds', tables.pgr), renderTable('Weak and strong-ceiling test accuracy, over seeds', tables.accuracy)];
  if (failures.length > 0) parts.push([`Failed runs (${failures.length}):`, ...failures.map((f) => `  ${f.name}: ${f.message}`)].join('\n'));
  return parts.join('\n\n') + '\n';
}
