// The report as one Markdown document (report.md): a title, how to read it (method.ts), the PGR
// tables (accuracy, AUROC) and the pairs' scores in GitHub's table syntax, and a link to every
// plot's SVG file, which sits beside report.md.

import type { ModelLabel } from './labels.js';
import type { FailedRun } from './load.js';
import { METHOD_PARAGRAPHS } from './method.js';
import type { PlotFile } from './plots.js';
import { SCORE_LABELS, SCORE_NAMES } from './scores.js';
import { numericColumns, type ReportTables, type TableData } from './tables.js';

/** A cell's text made safe inside a GitHub Markdown table row. */
function escapeCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Free text (an error message) as literal Markdown inline text on one line. */
function escapeInline(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/([\\`*_[\]<>#|~])/g, '\\$1');
}

/** Text made safe as an image's alternative text. */
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
export function renderMarkdown(tables: ReportTables, plots: readonly PlotFile[], failures: readonly FailedRun[] = [], models: readonly ModelLabel[] = []): string {
  const sections = [
    '# Weak-to-strong generalization report',
    ...METHOD_PARAGRAPHS,
    ...(models.length === 0 ? [] : [`Models: ${models.map(({ label, model }) => `${escapeInline(label)} is \`${model}\``).join('; ')}.`]),
    ...SCORE_NAMES.flatMap((score) => [`## Performance gap recovered on ${SCORE_LABELS[score]}, per model pair`, markdownTable(tables.pgr[score])]),
    '## Weak and strong-ceiling scores, per model pair',
    markdownTable(tables.scores),
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
