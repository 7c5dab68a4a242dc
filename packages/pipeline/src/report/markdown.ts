// The report as one Markdown document (report.md): a title, how to read it, the two tables in
// GitHub's table syntax and a link to every plot's SVG file, which sits beside report.md.

import type { FailedRun } from './load.js';
import type { PlotFile } from './plots.js';
import { numericColumns, type ReportTables, type TableData } from './tables.js';

/** A cell's text made safe inside a GitHub Markdown table row. */
function escapeCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Text made safe as an image's alternative text. */
/** Free text (an error message) as literal Markdown inline text on one line. */
function escapeInline(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/([\\`*_[\]<>#|~])/g, '\\$1');
}

function escapeAltText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/([[\]])/g, '\\$1').replace(/\r?\n/g, ' ');
}

function markdownTable(table: TableData): string {
  if (table.rows.length === 0) return '_No experiments._';
  const line = (cells: readonly string[]): string => `| ${cells.map(escapeCell).join(' | ')} |`;
  const alignmentRow = `| ${numericColumns(table).map((isNumeric) => (isNumeric ? '---:' : '---')).join(' | ')} |`;
  return [line(table.head), alignmentRow, ...table.rows.map(line)].join('\n');
}

/** The complete report.md text; each plot is linked by its file name, relative to report.md. */
export function renderMarkdown(tables: ReportTables, plots: readonly PlotFile[], failures: readonly FailedRun[] = []): string {
  const sections = [
    '# Weak-to-strong generalization report',
    'A weak model, finetuned on ground truth, labels the data a strong model is then finetuned on (the ' +
      'transfer run); the strong ceiling is the strong model finetuned on ground truth. PGR (performance gap recovered) = ' +
      '(transfer accuracy − weak accuracy) / (ceiling accuracy − weak accuracy), taken from each ' +
      'experiment\'s summary; it is undefined when the ceiling is not above the weak model. Medians and ' +
      'spreads are over seeds; undefined PGRs are counted apart, not included in the statistics; ' +
      'quartiles need at least 4 defined values. All accuracies are on the test split.',
    '## Performance gap recovered',
    markdownTable(tables.pgr),
    '## Weak and strong-ceiling accuracy',
    markdownTable(tables.accuracy),
    '## Plots',
    plots.length === 0 ? '_No plots._' : plots.map((plot) => `### ${plot.title}\n\n![${escapeAltText(plot.title)}](${encodeURI(plot.name)})`).join('\n\n'),
  ];
  if (failures.length > 0)
    sections.push(
      '## Failed runs',
      'These runs of the sweep did not complete; the experiments that need them are missing from the tables.',
      failures.map((f) => `- \`${f.name}\`: ${escapeInline(f.message)}`).join('\n'),
    );
  return `${sections.join('\n\n')}\n`;
}
