// The data of an experiment: which dataset (a registered one, or a local table file identified by
// its content hash), how it is split and filtered. A DataConfig is part of every run's
// configuration, so it holds everything that changes the examples, and nothing that does not
// (the data folder's location is not in it).
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { balanceClasses, loadDataset, loadTableFile, splitExamples, type Dataset, type Example, type LoadReport } from '@w2s/data';
import type { LengthPolicy } from './encode.js';
import { sha256File } from './hash.js';
import { EXPERIMENT_SETTINGS, checkSetting } from './settings.js';

export interface DataConfig {
  /** The registry name, or the file's base name for a local table. */
  name: string;
  /** Set for a local table file: its columns and content hash (the path itself is not identity). */
  table?: { sha256: string; textColumn: string; labelColumn: string };
  /** Set for a registered dataset read from files: the SHA-256 of their hashes, in path order. */
  filesSha256?: string;
  /** Set for a registered dataset: the SHA-256 of its examples, so a change to its generator or reader (texts, labels, source splits) is another set of runs. */
  examplesSha256?: string;
  /** Seed of the formatter's choices and of the splits. */
  seed: number;
  /** Training examples (train1 + train2); null: all that are not test. */
  nTrain: number | null;
  /** Test examples; null: 20% of the dataset. */
  nTest: number | null;
  /** Downsample the majority class before splitting. */
  balance: boolean;
  maxTokens: number;
  lengthPolicy: LengthPolicy;
}

export interface DataSource {
  /** A registered dataset's name, or a local file (with its columns). */
  dataset: string | { path: string; textColumn: string; labelColumn: string };
  dataDir?: string;
}

export interface PreparedData {
  splits: { train1: Example[]; train2: Example[]; test: Example[] };
  report: LoadReport;
  /** Examples removed by class balancing. */
  balancedAway: number;
}

/**
 * The DataConfig of a source. A registered dataset is identified by its name, the SHA-256 of the
 * files it reads (so another copy of the data is another set of runs) and that of the examples it
 * gives (so a changed reader or generator is too); a local table file by its content hash and columns.
 */
export async function dataConfigFor(
  source: DataSource,
  opts: Omit<DataConfig, 'name' | 'table' | 'filesSha256' | 'examplesSha256'>,
): Promise<DataConfig> {
  checkSetting(EXPERIMENT_SETTINGS.seed, opts.seed, 'seed');
  checkSetting(EXPERIMENT_SETTINGS.maxTokens, opts.maxTokens, 'maxTokens');
  if (typeof source.dataset === 'string') {
    const { report, examples } = await loadRegistered(source.dataset, source.dataDir, opts.seed);
    if (report.files.length === 0) return { name: source.dataset, examplesSha256: examplesSha256(examples), ...opts };
    return { name: source.dataset, filesSha256: await filesSha256(report.files), examplesSha256: examplesSha256(examples), ...opts };
  }
  const { path, textColumn, labelColumn } = source.dataset;
  return { name: basename(path), table: { sha256: await sha256File(path), textColumn, labelColumn }, ...opts };
}

/** Loads, optionally balances, and splits; the same config and files always give the same splits. */
export async function prepareData(config: DataConfig, source: DataSource): Promise<PreparedData> {
  let dataset: Dataset;
  if (typeof source.dataset === 'string') {
    dataset = await loadRegistered(source.dataset, source.dataDir, config.seed);
    if (config.filesSha256 !== undefined && dataset.report.files.length > 0) {
      const hash = await filesSha256(dataset.report.files);
      if (hash !== config.filesSha256)
        throw new DataMismatchError(`the files of ${source.dataset} read here (${dataset.report.files.join(', ')}) are not the ones the run was configured with (sha256 ${hash}, expected ${config.filesSha256})`);
    }
    if (config.examplesSha256 !== undefined) {
      const hash = examplesSha256(dataset.examples);
      const changed = dataset.report.files.length === 0 ? 'its generator changed' : 'its reader changed';
      if (hash !== config.examplesSha256)
        throw new DataMismatchError(`the examples ${source.dataset} gives here are not the ones the run was configured with (sha256 ${hash}, expected ${config.examplesSha256}): ${changed}`);
    }
  } else {
    const hash = await sha256File(source.dataset.path);
    if (hash !== config.table?.sha256) throw new DataMismatchError(`${source.dataset.path} is not the file the run was configured with (sha256 ${hash}, expected ${config.table?.sha256})`);
    dataset = await loadTableFile(source.dataset.path, { textColumn: source.dataset.textColumn, labelColumn: source.dataset.labelColumn });
  }
  const examples = config.balance ? balanceClasses(dataset.examples, config.seed) : dataset.examples;
  const splits = splitExamples(examples, { seed: config.seed, ...(config.nTrain !== null ? { nTrain: config.nTrain } : {}), ...(config.nTest !== null ? { nTest: config.nTest } : {}) });
  return { splits, report: dataset.report, balancedAway: dataset.examples.length - examples.length };
}

/** The data found is not the data a run was configured with (another copy, an edited file). */
export class DataMismatchError extends Error {}

/** SHA-256 of the files' own SHA-256s, in path order. */
async function filesSha256(files: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [...files].sort()) hash.update(await sha256File(file));
  return hash.digest('hex');
}

/** Registered datasets loaded by this process, by name, data folder and seed (loading can take seconds). */
const loaded = new Map<string, Promise<Dataset>>();

/** The SHA-256 of examples (ids, texts, labels and source splits, in order). */
function examplesSha256(examples: readonly Example[]): string {
  const hash = createHash('sha256');
  for (const { id, text, label, split } of examples) hash.update(JSON.stringify([id, text, label, split ?? null])).update('\n');
  return hash.digest('hex');
}

function loadRegistered(name: string, dataDir: string | undefined, seed: number): Promise<Dataset> {
  const key = JSON.stringify([name, dataDir ?? null, seed]);
  let dataset = loaded.get(key);
  if (!dataset) {
    dataset = loadDataset(name, { ...(dataDir !== undefined ? { dataDir } : {}), seed });
    dataset.catch(() => loaded.delete(key));
    loaded.set(key, dataset);
  }
  return dataset;
}
