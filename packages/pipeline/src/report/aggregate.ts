// Aggregation over seeds, shared by the tables and the plots: per dataset, the weak and strong
// models (ordered by their median accuracy), every (weak, strong) pair with its scores and gap, and
// every (weak, strong, loss) transfer with its PGR on accuracy and on AUROC (pgr.ts). Rows are never
// pooled over model pairs: each PGR is one pair's, over that pair's seeds.

import type { ExperimentSummary, TransferResult } from '../summary.js';
import { medianInterval, type Interval } from './bootstrap.js';
import { pooledGap, type PooledGap } from './noise.js';
import { estimatePgr, type PgrEstimate } from './pgr.js';
import { spreadOf, type Spread } from './quantile.js';
import { SCORE_NAMES, seedGapOf, type ScoreName } from './scores.js';

/** A model's test accuracy on one dataset, over the distinct training runs of it there. */
export interface ModelAccuracy {
  model: string;
  accuracy: Spread;
  /** Bootstrap 95% interval of the median over runs (seeds); null with one run. */
  accuracyInterval: Interval | null;
}

/** The least and most test examples among a row's experiments (usually equal). */
export interface CountRange {
  min: number;
  max: number;
}

export type ScoreSpreads = Record<ScoreName, Spread>;

/** One (weak, strong) pair on one dataset. */
export interface PairAggregate {
  weakModel: string;
  strongModel: string;
  seedCount: number;
  testExamples: CountRange;
  weak: ScoreSpreads;
  ceiling: ScoreSpreads;
  /** ceiling − weak over the pair's seeds, on each score, against its noise. */
  gap: Record<ScoreName, PooledGap>;
}

/** The transfer runs of one (weak, strong, loss) on one dataset. */
export interface TransferAggregate {
  weakModel: string;
  strongModel: string;
  loss: string;
  seedCount: number;
  testExamples: CountRange;
  /** The transfer model's own scores over seeds. */
  scores: ScoreSpreads;
  /** Bootstrap 95% interval of the median transfer accuracy; null with one seed. */
  accuracyInterval: Interval | null;
  pgr: Record<ScoreName, PgrEstimate>;
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

function countRange(summaries: readonly ExperimentSummary[]): CountRange {
  const counts = summaries.map((summary) => summary.counts.test);
  return { min: Math.min(...counts), max: Math.max(...counts) };
}

function scoreSpreads(results: readonly { accuracy: number; auroc: number }[]): ScoreSpreads {
  return { accuracy: spreadOfNonEmpty(results.map((result) => result.accuracy)), auroc: spreadOfNonEmpty(results.map((result) => result.auroc)) };
}

function perScore<T>(compute: (score: ScoreName) => T): Record<ScoreName, T> {
  return Object.fromEntries(SCORE_NAMES.map((score) => [score, compute(score)])) as Record<ScoreName, T>;
}

/**
 * Each model's accuracy over its distinct runs: a weak model (or ceiling) serves every pair it is
 * in with the same run, which must count once, not once per pair. Runs are told apart by their
 * results-store folder, with the seed for summaries of different stores.
 */
function modelAccuracies(summaries: readonly ExperimentSummary[], pick: (summary: ExperimentSummary) => { model: string; run: string; accuracy: number }): ModelAccuracy[] {
  const byModel = groupBy(summaries, (summary) => pick(summary).model);
  return [...byModel.entries()]
    .map(([model, group]) => {
      const runs = groupBy(group, (summary) => JSON.stringify([pick(summary).run, summary.seed]));
      const accuracies = [...runs.values()].map(([first]) => pick(first).accuracy);
      return { model, accuracy: spreadOfNonEmpty(accuracies), accuracyInterval: medianInterval(accuracies) };
    })
    .sort((a, b) => a.accuracy.median - b.accuracy.median || compareNames(a.model, b.model));
}

function aggregatePair(weakModel: string, strongModel: string, summaries: readonly ExperimentSummary[]): PairAggregate {
  return {
    weakModel,
    strongModel,
    seedCount: summaries.length,
    testExamples: countRange(summaries),
    weak: scoreSpreads(summaries.map((summary) => summary.weak)),
    ceiling: scoreSpreads(summaries.map((summary) => summary.ceiling)),
    gap: perScore((score) => pooledGap(summaries.map((summary) => seedGapOf(summary, score)))),
  };
}

/** The transfer row of `loss` over the pair's summaries that have a result for it; undefined if none does. */
function aggregateTransfer(weakModel: string, strongModel: string, loss: string, summaries: readonly ExperimentSummary[]): TransferAggregate | undefined {
  const experiments = summaries.flatMap((summary) => {
    const result = summary.transfer.find((candidate) => candidate.loss === loss);
    return result === undefined ? [] : [{ summary, result }];
  });
  if (experiments.length === 0) return undefined;
  const results: TransferResult[] = experiments.map(({ result }) => result);
  return {
    weakModel,
    strongModel,
    loss,
    seedCount: experiments.length,
    testExamples: countRange(experiments.map(({ summary }) => summary)),
    scores: scoreSpreads(results),
    accuracyInterval: medianInterval(results.map((result) => result.accuracy)),
    pgr: perScore((score) => estimatePgr(experiments.map(({ summary, result }) => ({ ...seedGapOf(summary, score), transfer: result[score] })))),
  };
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
      pairs.push(aggregatePair(weakModel, strongModel, pairSummaries));
      for (const loss of losses) {
        const transfer = aggregateTransfer(weakModel, strongModel, loss, pairSummaries);
        if (transfer !== undefined) transfers.push(transfer);
      }
    }
  }
  return { dataset, weakModels, strongModels, losses, pairs, transfers };
}

/** A total order of summaries, so that sums over seeds (and their rounding) do not depend on the input's order. */
function canonicalOrder(summaries: readonly ExperimentSummary[]): ExperimentSummary[] {
  const keyed = summaries.map((summary) => ({ summary, key: JSON.stringify(summary) }));
  keyed.sort((a, b) => a.summary.seed - b.summary.seed || compareNames(a.key, b.key));
  return keyed.map(({ summary }) => summary);
}

/** One aggregate per dataset, sorted by dataset name. */
export function aggregateSummaries(summaries: readonly ExperimentSummary[]): DatasetAggregate[] {
  const byDataset = groupBy(canonicalOrder(summaries), (summary) => summary.dataset);
  return [...byDataset.keys()].sort(compareNames).map((dataset) => aggregateDataset(dataset, byDataset.get(dataset) ?? []));
}
