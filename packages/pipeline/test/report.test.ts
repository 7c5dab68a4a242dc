// Tests of the reports (src/report): tables checked against medians and quantiles computed here from
// the same generated summaries, undefined PGRs counted apart, loading nested and malformed files,
// the SVG plots (structure, axis titles, one line per weak model and loss, determinism) and the
// report written to disk.

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '@w2s/model';
import {
  buildTables,
  loadSummaries,
  loadSweepFailures,
  quantileOfSorted,
  renderMarkdown,
  renderPlots,
  renderTerminal,
  writeReport,
  type PlotFile,
  type TableData,
} from '../src/report/index.js';
import { PGR_AXIS_TITLE, TRANSFER_LINES, X_AXIS_TITLE, Y_AXIS_TITLE } from '../src/report/plots.js';
import type { ExperimentSummary } from '../src/summary.js';

const DATASETS = ['sciq', 'boolq', 'Amazon Polarity/v2'];
const WEAK_BASE_ACCURACY: Record<string, number> = { tiny: 0.6, small: 0.66 };
const STRONG_BASE_ACCURACY: Record<string, number> = { medium: 0.74, large: 0.82 };
const LOSS_BASE_PGR: Record<string, number> = { xent: 0.4, logconf: 0.6, product: 0.5 };
/** sciq has five seeds, so that its PGR quartiles are shown; the others have three. */
const SEEDS_OF_DATASET: Record<string, number[]> = { sciq: [0, 1, 2, 3, 4], boolq: [0, 1, 2], 'Amazon Polarity/v2': [0, 1, 2] };
/** The one experiment whose ceiling falls below its weak model: every PGR there is undefined. */
const CEILING_BELOW_WEAK = { dataset: 'boolq', weak: 'small', strong: 'medium', seed: 1 };

function makeSummary(dataset: string, weakModel: string, strongModel: string, seed: number, weakAccuracy: number, ceilingAccuracy: number, transferPgrs: Record<string, number>): ExperimentSummary {
  return {
    dataset,
    seed,
    weak: { model: weakModel, run: `runs/${weakModel}-${seed}`, accuracy: weakAccuracy, auroc: weakAccuracy },
    ceiling: { model: strongModel, run: `runs/${strongModel}-${seed}`, accuracy: ceilingAccuracy, auroc: ceilingAccuracy },
    transfer: Object.entries(transferPgrs).map(([loss, recovered]) => {
      const accuracy = weakAccuracy + recovered * (ceilingAccuracy - weakAccuracy);
      return {
        loss,
        run: `runs/${weakModel}-${strongModel}-${loss}-${seed}`,
        accuracy,
        auroc: accuracy,
        pgr: ceilingAccuracy > weakAccuracy ? (accuracy - weakAccuracy) / (ceilingAccuracy - weakAccuracy) : null,
        agreement: { overall: 0.9, supervisorRight: 0.95, supervisorWrong: 0.4 },
      };
    }),
    counts: { train1: 500, train2: 500, test: 400 },
  };
}

function generateSummaries(seed: number): ExperimentSummary[] {
  const random = mulberry32(seed);
  const noise = (width: number) => (random() - 0.5) * width;
  const summaries: ExperimentSummary[] = [];
  for (const dataset of DATASETS) {
    for (const weakModel of Object.keys(WEAK_BASE_ACCURACY)) {
      for (const strongModel of Object.keys(STRONG_BASE_ACCURACY)) {
        for (const experimentSeed of SEEDS_OF_DATASET[dataset]) {
          const weakAccuracy = WEAK_BASE_ACCURACY[weakModel] + noise(0.04);
          const isCeilingBelowWeak =
            dataset === CEILING_BELOW_WEAK.dataset && weakModel === CEILING_BELOW_WEAK.weak && strongModel === CEILING_BELOW_WEAK.strong && experimentSeed === CEILING_BELOW_WEAK.seed;
          const ceilingAccuracy = isCeilingBelowWeak ? weakAccuracy - 0.02 : STRONG_BASE_ACCURACY[strongModel] + noise(0.04);
          const transferPgrs = Object.fromEntries(Object.entries(LOSS_BASE_PGR).map(([loss, base]) => [loss, base + noise(0.3)]));
          summaries.push(makeSummary(dataset, weakModel, strongModel, experimentSeed, weakAccuracy, ceilingAccuracy, transferPgrs));
        }
      }
    }
  }
  return summaries;
}

/** Median by the textbook rule: the middle value, or the mean of the two middle values. */
function textbookMedian(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Quartile by linear interpolation between ranks, position (n − 1)·p (numpy's default). */
function interpolatedQuantile(values: readonly number[], probability: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * probability;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  return sorted[below] * (1 - (position - below)) + sorted[above] * (position - below);
}

function columnOf(table: TableData, title: string): number {
  const column = table.head.indexOf(title);
  if (column < 0) throw new Error(`no column "${title}" in ${JSON.stringify(table.head)}`);
  return column;
}

function rowsWhere(table: TableData, key: Record<string, string>): string[][] {
  return table.rows.filter((row) => Object.entries(key).every(([title, value]) => row[columnOf(table, title)] === value));
}

/** Checks that a shown number equals `expected` up to the rounding of the decimals it shows. */
function expectShown(cell: string, expected: number): void {
  expect(cell).toMatch(/^-?\d+(\.\d+)?$/);
  const decimals = cell.split('.')[1]?.length ?? 0;
  expect(Math.abs(Number(cell) - expected)).toBeLessThanOrEqual(0.5 * 10 ** -decimals + 1e-12);
}

function expectShownRange(cell: string, low: number, high: number): void {
  const parts = cell.split(' – ');
  expect(parts).toHaveLength(2);
  expectShown(parts[0], low);
  expectShown(parts[1], high);
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = mulberry32(seed);
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [copy[index], copy[other]] = [copy[other], copy[index]];
  }
  return copy;
}

const summaries = generateSummaries(20231214);
const losses = Object.keys(LOSS_BASE_PGR);
const weakModels = Object.keys(WEAK_BASE_ACCURACY);
const strongModels = Object.keys(STRONG_BASE_ACCURACY);

let scratchFolder: string;
let plots: PlotFile[];

beforeAll(async () => {
  scratchFolder = await mkdtemp(join(tmpdir(), 'w2s-report-test-'));
  plots = await renderPlots(summaries);
});

afterAll(async () => {
  await rm(scratchFolder, { recursive: true, force: true });
});

describe('quantileOfSorted', () => {
  it('interpolates linearly between ranks like numpy.quantile', () => {
    expect(quantileOfSorted([1, 2, 3, 4], 0.25)).toBeCloseTo(1.75, 12);
    expect(quantileOfSorted([1, 2, 3, 4], 0.5)).toBeCloseTo(2.5, 12);
    expect(quantileOfSorted([1, 2, 3, 4], 0.75)).toBeCloseTo(3.25, 12);
    expect(quantileOfSorted([1, 2, 3, 4, 10], 0.75)).toBe(4);
    expect(quantileOfSorted([7], 0.3)).toBe(7);
    expect(() => quantileOfSorted([], 0.5)).toThrow(/no values/);
  });
});

describe('buildTables', () => {
  const tables = buildTables(summaries);

  it('has one PGR row per (dataset, weak, strong, loss) with medians and spreads over seeds', () => {
    expect(tables.pgr.rows).toHaveLength(DATASETS.length * weakModels.length * strongModels.length * losses.length);
    for (const dataset of DATASETS) {
      for (const weak of weakModels) {
        for (const strong of strongModels) {
          const group = summaries.filter((summary) => summary.dataset === dataset && summary.weak.model === weak && summary.ceiling.model === strong);
          for (const loss of losses) {
            const results = group.map((summary) => summary.transfer.find((result) => result.loss === loss)!);
            const definedPgrs = results.map((result) => result.pgr).filter((pgr): pgr is number => pgr !== null);
            const rows = rowsWhere(tables.pgr, { dataset, weak, strong, loss });
            expect(rows).toHaveLength(1);
            const [row] = rows;
            expect(row[columnOf(tables.pgr, 'seeds')]).toBe(String(results.length));
            expect(row[columnOf(tables.pgr, 'PGR undefined')]).toBe(String(results.length - definedPgrs.length));
            expectShown(row[columnOf(tables.pgr, 'PGR median')], textbookMedian(definedPgrs));
            expectShownRange(row[columnOf(tables.pgr, 'PGR min – max')], Math.min(...definedPgrs), Math.max(...definedPgrs));
            const quartileCell = row[columnOf(tables.pgr, 'PGR q1 – q3')];
            if (definedPgrs.length >= 4) {
              expectShownRange(quartileCell, interpolatedQuantile(definedPgrs, 0.25), interpolatedQuantile(definedPgrs, 0.75));
            } else {
              expect(quartileCell).not.toMatch(/\d/);
            }
            expectShown(row[columnOf(tables.pgr, 'transfer acc. median')], textbookMedian(results.map((result) => result.accuracy)));
          }
        }
      }
    }
  });

  it('counts undefined PGRs apart instead of averaging them in', () => {
    const { dataset, weak, strong } = CEILING_BELOW_WEAK;
    const group = summaries.filter((summary) => summary.dataset === dataset && summary.weak.model === weak && summary.ceiling.model === strong);
    for (const loss of losses) {
      const [row] = rowsWhere(tables.pgr, { dataset, weak, strong, loss });
      const definedPgrs = group.flatMap((summary) => summary.transfer.filter((result) => result.loss === loss && result.pgr !== null).map((result) => result.pgr!));
      expect(definedPgrs).toHaveLength(2);
      expect(row[columnOf(tables.pgr, 'seeds')]).toBe('3');
      expect(row[columnOf(tables.pgr, 'PGR undefined')]).toBe('1');
      expectShown(row[columnOf(tables.pgr, 'PGR median')], (definedPgrs[0] + definedPgrs[1]) / 2);
    }
  });

  it('shows "undefined" when no seed has a defined PGR', () => {
    const table = buildTables([makeSummary('imdb', 'tiny', 'medium', 0, 0.7, 0.65, { xent: 0.5 })]).pgr;
    expect(table.rows).toHaveLength(1);
    const [row] = table.rows;
    expect(row[columnOf(table, 'PGR median')]).toBe('undefined');
    expect(row[columnOf(table, 'PGR min – max')]).not.toMatch(/\d/);
    expect(row[columnOf(table, 'PGR undefined')]).toBe('1');
  });

  it('has one accuracy row per (dataset, weak, strong) with medians over seeds and their gap', () => {
    expect(tables.accuracy.rows).toHaveLength(DATASETS.length * weakModels.length * strongModels.length);
    for (const dataset of DATASETS) {
      for (const weak of weakModels) {
        for (const strong of strongModels) {
          const group = summaries.filter((summary) => summary.dataset === dataset && summary.weak.model === weak && summary.ceiling.model === strong);
          const weakMedian = textbookMedian(group.map((summary) => summary.weak.accuracy));
          const ceilingMedian = textbookMedian(group.map((summary) => summary.ceiling.accuracy));
          const rows = rowsWhere(tables.accuracy, { dataset, weak, strong });
          expect(rows).toHaveLength(1);
          const [row] = rows;
          expect(row[columnOf(tables.accuracy, 'seeds')]).toBe(String(group.length));
          expectShown(row[columnOf(tables.accuracy, 'weak acc. median')], weakMedian);
          expectShown(row[columnOf(tables.accuracy, 'ceiling acc. median')], ceilingMedian);
          expectShown(row[columnOf(tables.accuracy, 'gap (ceiling − weak)')], ceilingMedian - weakMedian);
        }
      }
    }
  });

  it('orders rows by dataset and does not depend on the order of the summaries', () => {
    const datasetColumn = tables.pgr.rows.map((row) => row[columnOf(tables.pgr, 'dataset')]);
    expect(datasetColumn).toEqual([...datasetColumn].sort());
    expect(buildTables(shuffled(summaries, 1))).toEqual(tables);
  });

  it('renders for a terminal without colour codes', () => {
    const text = renderTerminal(tables);
    for (const dataset of DATASETS) expect(text).toContain(dataset);
    expect(text).toContain('PGR median');
    expect(text).not.toMatch(/\u001b\[/);
  });

  it('renders GitHub Markdown tables, escaping pipes inside cells', () => {
    const withPipe = buildTables([makeSummary('sciq', 'weak|v2', 'medium', 0, 0.6, 0.7, { xent: 0.5 })]);
    const markdown = renderMarkdown(withPipe, []);
    expect(markdown).toMatch(/^# /);
    expect(markdown).toContain('| sciq | weak\\|v2 | medium | xent |');
    const fullMarkdown = renderMarkdown(tables, plots);
    const tableLines = fullMarkdown.split('\n').filter((line) => line.startsWith('|'));
    expect(tableLines).toHaveLength(2 + tables.pgr.rows.length + 2 + tables.accuracy.rows.length);
  });
});

describe('loadSummaries', () => {
  it('finds summary.json and *.summary.json at any depth and lists bad files without throwing', async () => {
    const root = join(scratchFolder, 'load');
    const [first, second, third] = summaries;
    const files: Record<string, string> = {
      'sweep/a/summary.json': JSON.stringify(first),
      'sweep/b/c/deep.summary.json': JSON.stringify(second),
      'x.summary.json': JSON.stringify(third),
      'notes.json': JSON.stringify(first),
      'sweep/summary.json.bak': JSON.stringify(first),
      'broken/summary.json': '{"dataset": "sciq",',
      'shape/bad.summary.json': JSON.stringify({ ...first, weak: { ...first.weak, accuracy: 'high' } }),
      'zz-copy/summary.json': JSON.stringify(first),
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), text);
    }
    const loaded = await loadSummaries(root);
    expect(loaded.summaries).toEqual([first, second, third]);
    expect(loaded.problems).toHaveLength(3);
    expect(loaded.problems.find((problem) => problem.includes(join(root, 'broken/summary.json')))).toMatch(/JSON/);
    expect(loaded.problems.find((problem) => problem.includes(join(root, 'shape/bad.summary.json')))).toMatch(/weak\.accuracy/);
    expect(loaded.problems.find((problem) => problem.includes(join(root, 'zz-copy/summary.json')))).toContain(join(root, 'sweep/a/summary.json'));
  });

  it('rejects a folder that does not exist', async () => {
    await expect(loadSummaries(join(scratchFolder, 'missing'))).rejects.toThrow(/cannot read the summaries folder/);
  });
});

describe('renderPlots', () => {
  it('draws one SVG per dataset plus the PGR summary, with file names safe anywhere', () => {
    expect(plots).toHaveLength(DATASETS.length + 1);
    const names = plots.map((plot) => plot.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9-]+\.svg$/);
    for (const plot of plots) {
      expect(plot.svg.startsWith('<svg')).toBe(true);
      expect(plot.svg.trimEnd().endsWith('</svg>')).toBe(true);
    }
  });

  it('draws, per dataset, one line per weak model and loss, coloured by weak model, under the axis titles', () => {
    for (const dataset of DATASETS) {
      const plot = plots.find((candidate) => candidate.svg.includes(`>${dataset}: weak-to-strong transfer<`));
      expect(plot, dataset).toBeDefined();
      const svg = plot!.svg;
      expect(svg).toContain(`>${X_AXIS_TITLE}<`);
      expect(svg).toContain(`>${Y_AXIS_TITLE}<`);
      const lineGroups = [...svg.matchAll(new RegExp(`<g class="mark-line role-mark ${TRANSFER_LINES}_marks"[^>]*>(.*?)</g>`, 'g'))];
      expect(lineGroups).toHaveLength(weakModels.length * losses.length);
      const lineColours = new Set(lineGroups.map((group) => /stroke="([^"]+)"/.exec(group[1])?.[1]));
      expect(lineColours.size).toBe(weakModels.length);
      for (const weak of weakModels) expect(svg).toContain(`>${weak}<`);
      for (const loss of losses) expect(svg).toContain(`>${loss}<`);
    }
  });

  it('draws the PGR summary with a bar per loss per dataset', () => {
    const summary = plots.find((plot) => plot.name === 'pgr-summary.svg');
    expect(summary).toBeDefined();
    const svg = summary!.svg;
    expect(svg).toContain(`>${PGR_AXIS_TITLE}<`);
    for (const dataset of DATASETS) expect(svg).toContain(`>${dataset}<`);
    const bars = /<g class="mark-rect role-mark pgr_bars_marks"[^>]*>(.*?)<\/g>/.exec(svg);
    expect(bars?.[1].match(/<path /g)).toHaveLength(DATASETS.length * losses.length);
  });

  it('gives the same bytes for the same summaries, in any order', async () => {
    const again = await renderPlots(shuffled(summaries, 2));
    expect(again).toEqual(plots);
  });
});

describe('writeReport', () => {
  it('writes report.md and every SVG, linked from report.md, and reports bad files', async () => {
    const summariesFolder = join(scratchFolder, 'write-in');
    for (const summary of summaries) {
      const folder = join(summariesFolder, summary.dataset.replace(/\W+/g, '_'));
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, `${summary.weak.model}-${summary.ceiling.model}-${summary.seed}.summary.json`), JSON.stringify(summary));
    }
    await writeFile(join(summariesFolder, 'summary.json'), 'not json');
    const outFolder = join(scratchFolder, 'write-out', 'report');
    const written = await writeReport(summariesFolder, outFolder);

    expect(written.markdownPath).toBe(join(outFolder, 'report.md'));
    expect(written.problems).toHaveLength(1);
    expect(written.problems[0]).toContain(join(summariesFolder, 'summary.json'));
    expect(written.terminal).toBe(renderTerminal(buildTables(summaries)));
    expect((await readdir(outFolder)).sort()).toEqual(['report.md', ...plots.map((plot) => plot.name)].sort());
    expect(written.plotPaths).toEqual(plots.map((plot) => join(outFolder, plot.name)));
    for (const plot of plots) expect(await readFile(join(outFolder, plot.name), 'utf8')).toBe(plot.svg);
    const markdown = await readFile(written.markdownPath, 'utf8');
    for (const plot of plots) expect(markdown).toContain(`](${plot.name})`);
  });
});

describe('failed runs of a sweep', () => {
  it("come from the folder's sweep.json into report.md and the terminal text; a malformed sweep.json is a problem", async () => {
    const folder = join(scratchFolder, 'failures');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'one.summary.json'), JSON.stringify(summaries[0]));
    expect(await loadSweepFailures(folder)).toEqual({ failures: [], problems: [] });
    const failed = [{ name: 'sciq-weak-0123456789abcdef', message: 'no column named "txt"\n(columns: text_*, <label>)' }];
    await writeFile(join(folder, 'sweep.json'), JSON.stringify({ experiments: [], failed }));
    const written = await writeReport(folder, join(folder, 'report'));
    expect(written.failures).toEqual(failed);
    expect(written.terminal).toContain('Failed runs (1):\n  sciq-weak-0123456789abcdef: no column named "txt"');
    const markdown = await readFile(written.markdownPath, 'utf8');
    expect(markdown).toContain('## Failed runs');
    expect(markdown).toContain('- `sciq-weak-0123456789abcdef`: no column named "txt" (columns: text\\_\\*, \\<label\\>)');

    await writeFile(join(folder, 'sweep.json'), JSON.stringify({ failed: [{ name: 3 }] }));
    expect((await loadSweepFailures(folder)).problems).toEqual([`${join(folder, 'sweep.json')}: "failed" must be a list of {name, message}`]);
  });
});
