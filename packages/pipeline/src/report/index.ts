// Reports over experiment summaries: load every summary under a folder, aggregate over seeds into
// PGR and accuracy tables, render them for a terminal and as Markdown, draw the paper-style plots
// as SVG, and write the whole report to a folder.

export { loadSummaries, loadSweepFailures, type FailedRun, type LoadedSummaries } from './load.js';
export { buildTables, type ReportTables, type TableData } from './tables.js';
export { renderTerminal } from './terminal.js';
export { renderMarkdown } from './markdown.js';
export { renderPlots, type PlotFile } from './plots.js';
export { writeReport, type WrittenReport } from './write.js';
export { quantileOfSorted, spreadOf, type Spread } from './quantile.js';
