// Aggregation over seeds, shared by the tables and the plots: per dataset, the weak and strong
// models (ordered by their median accuracy), every (weak, strong) pair and every (weak, strong,
// loss) transfer, each with the spread of its values over seeds. PGR is taken from the summaries
// as computed there; undefined PGRs (null) are counted apart, never averaged in.

import type { ExperimentSummary } from '../summary.js';
import { spreadOf, type Spread } from './quantile.js';

/** A model's test accuracy on one dataset, over every summary that trained it there. */
export interface ModelAccuracy {
  model: string;
  accuracy: Spread;
}

/** One (weak, strong) pair on one dataset. */
export interface PairAggregate {
  weakModel: string;
  strongModel: string;
  seedCount: number;
  weakAccuracy: Spread;
  ceilingAccuracy: Spread;
}

/** The transfer runs of one (weak, strong, loss) on one dataset. */
export interface TransferAggregate {
  weakModel: string;
  strongModel: string;
  loss: string;
  seedCount: number;
  accuracy: Spread;
  /** Over the seeds whose PGR is defined; undefined when none is. */
  pgr: Spread | undefined;
  undefinedPgrCount: number;
}

export interface DatasetAggregate {
  dataset: string;
  /** Ascending by median weak accuracy, then by name. */
  weakModels: ModelAccuracy[];
  /** Ascending by median ceiling accuracy, then by name. */
  strongModels: ModelAccuracy[];
  /** Sorted by name. */
  losses: string[];
  /** In the order of weakModels, then strongModels. */
  pairs: PairAggregate[];
  /** In the order of weakModels, then strongModels, then losses. */
  transfers: TransferAggregate[];
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

function spreadOfNonEmpty(values: readonly number[]): Spread {
  const spread = spreadOf(values);
  if (spread === undefined) throw new Error('internal: spread of an empty group');
  return spread;
}

function modelAccuracies(summaries: readonly ExperimentSummary[], pick: (summary: ExperimentSummary) => { model: string; accuracy: number }): ModelAccuracy[] {
  const byModel = groupBy(summaries, (summary) => pick(summary).model);
  return [...byModel.entries()]
    .map(([model, group]) => ({ model, accuracy: spreadOfNonEmpty(group.map((summary) => pick(summary).accuracy)) }))
    .sort((a, b) => a.accuracy.median - b.accuracy.median || compareNames(a.model, b.model));
}

function aggregateDataset(dataset: string, summaries: readonly ExperimentSummary[]): DatasetAggregate {
  const weakModels = modelAccuracies(summaries, (summary) => summary.weak);
  const strongModels = modelAccuracies(summaries, (summary) => summary.ceiling);
  const losses = [...new Set(summaries.flatMap((summary) => summary.transfer.map((result) => result.loss)))].sort(compareNames);
  const pairs: PairAggregate[] = [];
  const transfers: TransferAggregate[] = [];
  for (const { model: weakModel } of weakModels) {
    for (const { model: strongModel } of strongModels) {
      const pairSummaries = summaries.filter((summary) => summary.weak.model === weakModel && summary.ceiling.model === strongModel);
      if (pairSummaries.length === 0) continue;
      pairs.push({
        weakModel,
        strongModel,
        seedCount: pairSummaries.length,
        weakAccuracy: spreadOfNonEmpty(pairSummaries.map((summary) => summary.weak.accuracy)),
        ceilingAccuracy: spreadOfNonEmpty(pairSummaries.map((summary) => summary.ceiling.accuracy)),
      });
      for (const loss of losses) {
        const results = pairSummaries.flatMap((summary) => summary.transfer.filter((result) => result.loss === loss));
        if (results.length === 0) continue;
        const definedPgrs = results.flatMap((result) => (result.pgr === null ? [] : [result.pgr]));
        transfers.push({
          weakModel,
          strongModel,
          loss,
          seedCount: results.length,
          accuracy: spreadOfNonEmpty(results.map((result) => result.accuracy)),
          pgr: spreadOf(definedPgrs),
          undefinedPgrCount: results.length - definedPgrs.length,
        });
      }
    }
  }
  return { dataset, weakModels, strongModels, losses, pairs, transfers };
}

/** One aggregate per dataset, sorted by dataset name. */
export function aggregateSummaries(summaries: readonly ExperimentSummary[]): DatasetAggregate[] {
  const byDataset = groupBy(summaries, (summary) => summary.dataset);
  return [...byDataset.keys()].sort(compareNames).map((dataset) => aggregateDataset(dataset, byDataset.get(dataset) ?? []));
}
