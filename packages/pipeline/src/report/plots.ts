// The report's plots as SVG text, drawn headless with vega-lite (spec → vega) and vega's SVG string
// renderer, two per dataset: the transfer plot in the manner of the paper's Figure 3 (test accuracy
// against the strong ceiling's, one line per weak model and loss) and the PGR plot (each model
// pair's PGR per loss, on accuracy and on AUROC, with its bootstrap interval, or the words
// "n/a (gap within noise)"). PGRs are never pooled over model pairs.
// The same summaries give the same SVG bytes: data and scale domains are fixed in a sorted order,
// text widths are estimated (no canvas package) and no mark is clipped (vega numbers clip paths
// with a process-wide counter).

import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ExperimentSummary } from '../summary.js';
import { aggregateSummaries, type DatasetAggregate } from './aggregate.js';
import { CONFIDENCE_PERCENT } from './bootstrap.js';
import { SCORE_LABELS, SCORE_NAMES, type ScoreName } from './scores.js';
import { GAP_WITHIN_NOISE } from './tables.js';

/** One plot: `name` is its file name (a slug, safe on any filesystem), `svg` its content. */
export interface PlotFile {
  name: string;
  svg: string;
  title: string;
}

export const X_AXIS_TITLE = 'strong ceiling test accuracy';
export const Y_AXIS_TITLE = 'test accuracy';
export const PGR_AXIS_TITLE = 'PGR (performance gap recovered)';
// Layer names: vega draws a layer's marks in a group of class `<name>_marks` (the PGR layers'
// names end in `_accuracy` or `_auroc`).
/** The transfer lines of the transfer plot. */
export const TRANSFER_LINES = 'transfer_lines';
/** The transfer accuracies' intervals of the transfer plot. */
export const TRANSFER_BARS = 'transfer_bars';
/** The PGR medians of the PGR plot. */
export const PGR_POINTS = 'pgr_points';
/** The PGR intervals of the PGR plot. */
export const PGR_INTERVALS = 'pgr_intervals';
/** The "n/a (gap within noise)" labels of the PGR plot. */
export const PGR_NOT_AVAILABLE = 'pgr_not_available';
const PLOT_WIDTH = 380;
const PLOT_HEIGHT = 320;
/** A PGR panel's width per loss within a pair, and the gap between pairs. */
const PGR_SLOT_WIDTH = 22;
const PGR_PANEL_MIN_WIDTH = 200;
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


/** The test examples each score of a dataset rests on, as the plots' subtitles state them. */
function testExamplesText(aggregate: DatasetAggregate): string {
  const min = Math.min(...aggregate.pairs.map((pair) => pair.testExamples.min));
  const max = Math.max(...aggregate.pairs.map((pair) => pair.testExamples.max));
  return `${min === max ? min : `${min}–${max}`} test examples per score`;
}

/** Test accuracy against the strong ceiling's on one dataset, like the paper's Figure 3. */
function transferSpec(aggregate: DatasetAggregate): TopLevelSpec {
  const ceilingMedianOf = new Map(aggregate.strongModels.map((strong) => [strong.model, strong.accuracy.median]));
  const transferPoints = aggregate.transfers.map((transfer) => ({
    weak: transfer.weakModel,
    strong: transfer.strongModel,
    loss: transfer.loss,
    ceiling: ceilingMedianOf.get(transfer.strongModel),
    median: transfer.scores.accuracy.median,
  }));
  const transferBars = aggregate.transfers.flatMap((transfer) =>
    transfer.accuracyInterval === null
      ? []
      : [{ weak: transfer.weakModel, loss: transfer.loss, ceiling: ceilingMedianOf.get(transfer.strongModel), low: transfer.accuracyInterval.low, high: transfer.accuracyInterval.high }],
  );
  const ceilingPoints = aggregate.strongModels.map((strong) => ({ strong: strong.model, ceiling: strong.accuracy.median }));
  const ceilingBars = aggregate.strongModels.flatMap((strong) =>
    strong.accuracyInterval === null ? [] : [{ strong: strong.model, ceiling: strong.accuracy.median, low: strong.accuracyInterval.low, high: strong.accuracyInterval.high }],
  );
  const weakLevels = aggregate.weakModels.map((weak) => ({ weak: weak.model, accuracy: weak.accuracy.median }));
  const domain = accuracyDomain([
    ...transferPoints.map((point) => point.median),
    ...transferBars.flatMap((bar) => [bar.low, bar.high]),
    ...ceilingPoints.map((point) => point.ceiling),
    ...ceilingBars.flatMap((bar) => [bar.low, bar.high]),
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
        `medians over seeds, bars: bootstrap ${CONFIDENCE_PERCENT} CI of the median (from 2 seeds on);`,
        'thin horizontal lines: weak models alone; black diamonds and dashed diagonal: strong ceiling;',
        testExamplesText(aggregate),
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
      ...(ceilingBars.length === 0
        ? []
        : [
            {
              name: 'ceiling_bars',
              data: { values: ceilingBars },
              mark: { type: 'rule' as const, color: 'black' },
              encoding: { x: x('ceiling'), y: y('low'), y2: { field: 'high' } },
            },
          ]),
      {
        name: 'ceiling_points',
        data: { values: ceilingPoints },
        mark: { type: 'point', shape: 'diamond', filled: true, color: 'black', size: 70 },
        encoding: { x: x('ceiling'), y: y('ceiling') },
      },
      ...(transferBars.length === 0
        ? []
        : [
            {
              name: TRANSFER_BARS,
              data: { values: transferBars },
              mark: { type: 'rule' as const, strokeWidth: 1 },
              encoding: { x: x('ceiling'), y: y('low'), y2: { field: 'high' }, color: weakColor },
            },
          ]),
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

/** A pair as the PGR plots' axis labels it. */
function pairLabel(weakModel: string, strongModel: string): string {
  return `${weakModel} → ${strongModel}`;
}

/**
 * One panel of a dataset's PGR plot, on one score: per pair (x) and loss (offset and colour) the
 * median PGR as a point, its bootstrap interval as a bar where it has one, and, where the PGR is
 * n/a, the words GAP_WITHIN_NOISE upright at the foot of its slot (no point, no bar).
 */
function pgrPanel(aggregate: DatasetAggregate, score: ScoreName) {
  const pairs = [...new Set(aggregate.transfers.map((transfer) => pairLabel(transfer.weakModel, transfer.strongModel)))];
  const rows = aggregate.transfers.map((transfer) => ({ pair: pairLabel(transfer.weakModel, transfer.strongModel), loss: transfer.loss, estimate: transfer.pgr[score] }));
  const points = rows.flatMap(({ pair, loss, estimate }) => (estimate.median === null ? [] : [{ pair, loss, median: estimate.median }]));
  const bars = rows.flatMap(({ pair, loss, estimate }) => (estimate.interval === null ? [] : [{ pair, loss, low: estimate.interval.low, high: estimate.interval.high }]));
  const notAvailable = rows.flatMap(({ pair, loss, estimate }) => (estimate.median === null ? [{ pair, loss, text: GAP_WITHIN_NOISE }] : []));
  const pairAxis = { field: 'pair', type: 'nominal' as const, title: 'weak → strong', sort: pairs, axis: { labelAngle: 0 } };
  const lossOffset = { field: 'loss', type: 'nominal' as const, sort: [...aggregate.losses] };
  const lossColor = { field: 'loss', type: 'nominal' as const, title: 'loss', scale: { domain: [...aggregate.losses] } };
  const pgr = (field: string) => ({ field, type: 'quantitative' as const, title: PGR_AXIS_TITLE });
  return {
    title: `on ${SCORE_LABELS[score]}`,
    width: Math.max(PGR_PANEL_MIN_WIDTH, pairs.length * (aggregate.losses.length * PGR_SLOT_WIDTH + PGR_SLOT_WIDTH)),
    height: PLOT_HEIGHT,
    layer: [
      {
        name: `pgr_zero_${score}`,
        data: { values: [{ pgr: 0 }] },
        mark: { type: 'rule' as const, color: 'gray' },
        encoding: { y: pgr('pgr') },
      },
      {
        name: `pgr_one_${score}`,
        data: { values: [{ pgr: 1 }] },
        mark: { type: 'rule' as const, color: 'gray', strokeDash: [4, 4] },
        encoding: { y: pgr('pgr') },
      },
      ...(bars.length === 0
        ? []
        : [
            {
              name: `${PGR_INTERVALS}_${score}`,
              data: { values: bars },
              mark: { type: 'rule' as const, strokeWidth: 1.5 },
              encoding: { x: pairAxis, xOffset: lossOffset, y: pgr('low'), y2: { field: 'high' }, color: lossColor },
            },
          ]),
      ...(points.length === 0
        ? []
        : [
            {
              name: `${PGR_POINTS}_${score}`,
              data: { values: points },
              mark: { type: 'point' as const, filled: true, size: 50 },
              encoding: { x: pairAxis, xOffset: lossOffset, y: pgr('median'), color: lossColor },
            },
          ]),
      ...(notAvailable.length === 0
        ? []
        : [
            {
              name: `${PGR_NOT_AVAILABLE}_${score}`,
              data: { values: notAvailable },
              mark: { type: 'text' as const, angle: 270, align: 'left' as const, baseline: 'middle' as const, fontSize: 10 },
              encoding: { x: pairAxis, xOffset: lossOffset, y: { value: PLOT_HEIGHT - 4 }, text: { field: 'text' }, color: lossColor },
            },
          ]),
    ],
  };
}

/** PGR per model pair and loss on one dataset, a panel per score (accuracy, AUROC). */
function pgrSpec(aggregate: DatasetAggregate): TopLevelSpec {
  return {
    title: {
      text: `${aggregate.dataset}: PGR per model pair`,
      subtitle: [
        `points: median over seeds of the per-seed PGR; bars: bootstrap ${CONFIDENCE_PERCENT} CI over seeds;`,
        `"${GAP_WITHIN_NOISE}": ceiling − weak not above zero or below its standard error;`,
        `dashed: PGR 1 (ceiling reached); ${testExamplesText(aggregate)}`,
      ],
    },
    background: 'white',
    hconcat: SCORE_NAMES.map((score) => pgrPanel(aggregate, score)),
  };
}

/**
 * Per dataset (by name), the transfer plot (`transfer-<slug>.svg`) and, when the dataset has
 * transfer runs, its PGR plot (`pgr-<slug>.svg`).
 */
export async function renderPlots(summaries: readonly ExperimentSummary[]): Promise<PlotFile[]> {
  const aggregates = aggregateSummaries(summaries);
  const slugs = distinctSlugs(aggregates.map((aggregate) => aggregate.dataset));
  const plots: PlotFile[] = [];
  for (const [index, aggregate] of aggregates.entries()) {
    plots.push({
      name: `transfer-${slugs[index]}.svg`,
      title: `${aggregate.dataset}: test accuracy against the strong ceiling`,
      svg: await renderSvg(transferSpec(aggregate)),
    });
    if (aggregate.transfers.length > 0) {
      plots.push({
        name: `pgr-${slugs[index]}.svg`,
        title: `${aggregate.dataset}: PGR per model pair, on accuracy and on AUROC`,
        svg: await renderSvg(pgrSpec(aggregate)),
      });
    }
  }
  return plots;
}
