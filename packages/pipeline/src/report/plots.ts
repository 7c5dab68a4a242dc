// The report's plots as SVG text, drawn headless with vega-lite (spec → vega) and vega's SVG string
// renderer: one plot per dataset in the manner of the paper's Figure 3 (test accuracy against the
// strong ceiling's, one line per weak model and loss) and one PGR summary over datasets and losses.
// The same summaries give the same SVG bytes: data and scale domains are fixed in a sorted order,
// text widths are estimated (no canvas package) and no mark is clipped (vega numbers clip paths
// with a process-wide counter).

import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ExperimentSummary } from '../summary.js';
import { aggregateSummaries, type DatasetAggregate } from './aggregate.js';
import { spreadOf } from './quantile.js';

/** One plot: `name` is its file name (a slug, safe on any filesystem), `svg` its content. */
export interface PlotFile {
  name: string;
  svg: string;
  title: string;
}

export const X_AXIS_TITLE = 'strong ceiling test accuracy';
export const Y_AXIS_TITLE = 'test accuracy';
export const PGR_AXIS_TITLE = 'PGR (performance gap recovered)';
const PGR_SUMMARY_TITLE = 'PGR by dataset and loss';
/** The layer of the transfer lines: vega draws each line in a group of class `${TRANSFER_LINES}_marks`. */
export const TRANSFER_LINES = 'transfer_lines';
const PLOT_WIDTH = 380;
const PLOT_HEIGHT = 320;
/** Axis domains are rounded out to multiples of this. */
const DOMAIN_STEP = 0.05;

/** `text` as a file-name stem: lower-case ASCII letters, digits and single hyphens, never empty. */
function slugOf(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return slug.length > 0 ? slug : 'dataset';
}

/** Gives each name a distinct slug, suffixing -2, -3… on collisions, in the order given. */
function distinctSlugs(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    const base = slugOf(name);
    let slug = base;
    for (let suffix = 2; used.has(slug); suffix += 1) slug = `${base}-${suffix}`;
    used.add(slug);
    return slug;
  });
}

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...messages: unknown[]) => {
      throw new Error(`vega-lite: ${messages.join(' ')}`);
    },
    warn: (...messages: unknown[]) => {
      warnings.push(messages.join(' '));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  const vegaSpec = compile(spec, { logger }).spec;
  if (warnings.length > 0) throw new Error(`vega-lite warned about a report plot: ${warnings.join('; ')}`);
  const view = new View(parse(vegaSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function quantitative(field: string, title: string, domain: [number, number]) {
  return { field, type: 'quantitative' as const, title, scale: { domain, zero: false, nice: false } };
}

/** [low, high] rounded out to DOMAIN_STEP, within [0, 1], never empty. */
function accuracyDomain(values: readonly number[]): [number, number] {
  const low = Math.max(0, Math.floor(Math.min(...values) / DOMAIN_STEP) * DOMAIN_STEP);
  const high = Math.min(1, Math.ceil(Math.max(...values) / DOMAIN_STEP) * DOMAIN_STEP);
  const roundedLow = Number(low.toFixed(2));
  const roundedHigh = Number(high.toFixed(2));
  return roundedHigh > roundedLow ? [roundedLow, roundedHigh] : [Math.max(0, roundedLow - DOMAIN_STEP), Math.min(1, roundedHigh + DOMAIN_STEP)];
}

/** Test accuracy against the strong ceiling's on one dataset, like the paper's Figure 3. */
function transferSpec(aggregate: DatasetAggregate): TopLevelSpec {
  const ceilingMedianOf = new Map(aggregate.strongModels.map((strong) => [strong.model, strong.accuracy.median]));
  const transferPoints = aggregate.transfers.map((transfer) => ({
    weak: transfer.weakModel,
    strong: transfer.strongModel,
    loss: transfer.loss,
    ceiling: ceilingMedianOf.get(transfer.strongModel),
    median: transfer.accuracy.median,
    min: transfer.accuracy.min,
    max: transfer.accuracy.max,
  }));
  const ceilingPoints = aggregate.strongModels.map((strong) => ({
    strong: strong.model,
    ceiling: strong.accuracy.median,
    min: strong.accuracy.min,
    max: strong.accuracy.max,
  }));
  const weakLevels = aggregate.weakModels.map((weak) => ({ weak: weak.model, accuracy: weak.accuracy.median }));
  const domain = accuracyDomain([
    ...transferPoints.flatMap((point) => [point.min, point.max]),
    ...ceilingPoints.flatMap((point) => [point.min, point.max]),
    ...weakLevels.map((level) => level.accuracy),
  ]);
  const x = (field: string) => quantitative(field, X_AXIS_TITLE, domain);
  const y = (field: string) => quantitative(field, Y_AXIS_TITLE, domain);
  const weakColor = {
    field: 'weak',
    type: 'nominal' as const,
    title: 'weak model',
    scale: { domain: aggregate.weakModels.map((weak) => weak.model) },
  };
  const lossDomain = { domain: aggregate.losses };
  return {
    title: {
      text: `${aggregate.dataset}: weak-to-strong transfer`,
      subtitle: [
        'medians over seeds, bars min–max; thin horizontal lines: weak models alone;',
        'black diamonds and dashed diagonal: strong ceiling',
      ],
    },
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    background: 'white',
    layer: [
      {
        name: 'ceiling_diagonal',
        data: { values: domain.map((value) => ({ value })) },
        mark: { type: 'line', color: 'black', strokeDash: [6, 4], strokeWidth: 1 },
        encoding: { x: x('value'), y: y('value') },
      },
      {
        name: 'weak_levels',
        data: { values: weakLevels },
        mark: { type: 'rule', strokeWidth: 1 },
        encoding: { y: y('accuracy'), color: weakColor },
      },
      {
        name: 'ceiling_bars',
        data: { values: ceilingPoints },
        mark: { type: 'rule', color: 'black' },
        encoding: { x: x('ceiling'), y: y('min'), y2: { field: 'max' } },
      },
      {
        name: 'ceiling_points',
        data: { values: ceilingPoints },
        mark: { type: 'point', shape: 'diamond', filled: true, color: 'black', size: 70 },
        encoding: { x: x('ceiling'), y: y('ceiling') },
      },
      {
        name: 'transfer_bars',
        data: { values: transferPoints },
        mark: { type: 'rule', strokeWidth: 1 },
        encoding: { x: x('ceiling'), y: y('min'), y2: { field: 'max' }, color: weakColor },
      },
      {
        name: TRANSFER_LINES,
        data: { values: transferPoints },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x: x('ceiling'),
          y: y('median'),
          color: weakColor,
          strokeDash: { field: 'loss', type: 'nominal', title: 'loss', scale: lossDomain },
          order: { field: 'ceiling', type: 'quantitative' },
        },
      },
      {
        name: 'transfer_points',
        data: { values: transferPoints },
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x: x('ceiling'),
          y: y('median'),
          color: weakColor,
          shape: { field: 'loss', type: 'nominal', title: 'loss', scale: lossDomain },
        },
      },
    ],
  };
}

interface PgrBar {
  dataset: string;
  loss: string;
  median: number;
  min: number;
  max: number;
}

/** Median and min–max of every defined PGR per (dataset, loss), over model pairs and seeds. */
function pgrBars(summaries: readonly ExperimentSummary[], datasets: readonly string[], losses: readonly string[]): PgrBar[] {
  const bars: PgrBar[] = [];
  for (const dataset of datasets) {
    for (const loss of losses) {
      const pgrs = summaries
        .filter((summary) => summary.dataset === dataset)
        .flatMap((summary) => summary.transfer.flatMap((result) => (result.loss === loss && result.pgr !== null ? [result.pgr] : [])));
      const spread = spreadOf(pgrs);
      if (spread !== undefined) bars.push({ dataset, loss, median: spread.median, min: spread.min, max: spread.max });
    }
  }
  return bars;
}

function pgrSpec(bars: readonly PgrBar[], datasets: readonly string[], losses: readonly string[]): TopLevelSpec {
  const datasetAxis = { field: 'dataset', type: 'nominal' as const, title: 'dataset', sort: [...datasets], axis: { labelAngle: 0 } };
  const lossOffset = { field: 'loss', type: 'nominal' as const, sort: [...losses] };
  const pgr = (field: string) => ({ field, type: 'quantitative' as const, title: PGR_AXIS_TITLE });
  return {
    title: { text: PGR_SUMMARY_TITLE, subtitle: 'median over model pairs and seeds, bars min–max; dashed: PGR 1 (ceiling reached)' },
    width: Math.max(PLOT_WIDTH, datasets.length * (losses.length * 24 + 24)),
    height: PLOT_HEIGHT,
    background: 'white',
    layer: [
      {
        name: 'pgr_bars',
        data: { values: [...bars] },
        mark: { type: 'bar' },
        encoding: {
          x: datasetAxis,
          xOffset: lossOffset,
          y: pgr('median'),
          color: { field: 'loss', type: 'nominal', title: 'loss', scale: { domain: [...losses] } },
        },
      },
      {
        name: 'pgr_ranges',
        data: { values: [...bars] },
        mark: { type: 'rule', color: 'black' },
        encoding: { x: datasetAxis, xOffset: lossOffset, y: pgr('min'), y2: { field: 'max' } },
      },
      {
        name: 'pgr_one',
        data: { values: [{ pgr: 1 }] },
        mark: { type: 'rule', color: 'gray', strokeDash: [4, 4] },
        encoding: { y: pgr('pgr') },
      },
    ],
  };
}

/**
 * One transfer plot per dataset (`transfer-<slug>.svg`, by dataset name) and, when any PGR is
 * defined, the PGR summary (`pgr-summary.svg`).
 */
export async function renderPlots(summaries: readonly ExperimentSummary[]): Promise<PlotFile[]> {
  const aggregates = aggregateSummaries(summaries);
  const datasets = aggregates.map((aggregate) => aggregate.dataset);
  const slugs = distinctSlugs(datasets);
  const plots: PlotFile[] = [];
  for (const [index, aggregate] of aggregates.entries()) {
    plots.push({
      name: `transfer-${slugs[index]}.svg`,
      title: `${aggregate.dataset}: test accuracy against the strong ceiling`,
      svg: await renderSvg(transferSpec(aggregate)),
    });
  }
  const losses = [...new Set(aggregates.flatMap((aggregate) => aggregate.losses))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const bars = pgrBars(summaries, datasets, losses);
  if (bars.length > 0) {
    plots.push({ name: 'pgr-summary.svg', title: PGR_SUMMARY_TITLE, svg: await renderSvg(pgrSpec(bars, datasets, losses)) });
  }
  return plots;
}
