// Reports over experiment summaries: load every summary under a folder, aggregate over seeds into
// per-pair PGR tables (on accuracy and on AUROC, with bootstrap intervals, n/a where the gap is
// within noise) and the pairs' scores, render them for a terminal and as Markdown, draw the
// paper-style transfer plots and the PGR plots as SVG, and write the whole report to a folder.

export { shortModelLabels, type ModelLabel } from './labels.js';
export { loadSummaries, loadSweepFailures, type FailedRun, type LoadedSummaries } from './load.js';
export { buildTables, type ReportTables, type TableData } from './tables.js';
export { renderTerminal } from './terminal.js';
export { renderMarkdown } from './markdown.js';
export { renderPlots, type PlotFile } from './plots.js';
export { writeReport, type WrittenReport } from './write.js';
export { quantileOfSorted, spreadOf, type Spread } from './quantile.js';
export { median } from './bootstrap.js';
