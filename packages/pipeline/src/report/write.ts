// The whole report on disk: reads the summaries under a folder, writes report.md and the plots'
// SVG files into the output folder, each atomically (a temporary file in the same folder, then a
// rename, by write-file-atomic), and hands back the terminal text for the CLI to print.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { loadSummaries, loadSweepFailures, type FailedRun } from './load.js';
import { renderMarkdown } from './markdown.js';
import { renderPlots } from './plots.js';
import { buildTables } from './tables.js';
import { renderTerminal } from './terminal.js';

export interface WrittenReport {
  markdownPath: string;
  /** In the order report.md links them. */
  plotPaths: string[];
  /** Files under the summaries folder that could not be used, `path: reason`. */
  problems: string[];
  /** The runs the folder's sweep.json records as failed. */
  failures: FailedRun[];
  /** The tables (and the failed runs) as text for a terminal. */
  terminal: string;
}

/** The report of the summaries under `dir`, written into `outDir` (created if missing). */
export async function writeReport(dir: string, outDir: string): Promise<WrittenReport> {
  const { summaries, models, problems } = await loadSummaries(dir);
  const sweep = await loadSweepFailures(dir);
  const tables = buildTables(summaries);
  const plots = await renderPlots(summaries);
  await mkdir(outDir, { recursive: true });
  const plotPaths: string[] = [];
  for (const plot of plots) {
    const plotPath = join(outDir, plot.name);
    await writeFileAtomic(plotPath, plot.svg);
    plotPaths.push(plotPath);
  }
  const markdownPath = join(outDir, 'report.md');
  await writeFileAtomic(markdownPath, renderMarkdown(tables, plots, sweep.failures, models));
  return { markdownPath, plotPaths, problems: [...problems, ...sweep.problems], failures: sweep.failures, terminal: renderTerminal(tables, sweep.failures, models) };
}
