// The dataset registry: every built-in dataset by name (the synthetic world's of any seed too, as
// synthetic_world:N), open to registration, and the data folder's resolution.
import { amazonPolarity } from './datasets/amazon-polarity.js';
import { anthropicHh } from './datasets/anthropic-hh.js';
import { boolq } from './datasets/boolq.js';
import { chessPuzzles } from './datasets/chess-puzzles.js';
import { cosmosQa } from './datasets/cosmos-qa.js';
import { ethicsCommonsense } from './datasets/ethics.js';
import { imdb } from './datasets/imdb.js';
import { quail } from './datasets/quail.js';
import { sciq } from './datasets/sciq.js';
import { sst2, sst2Sentences } from './datasets/sst2.js';
import { syntheticWorld, syntheticWorldNamed } from './synthetic/world.js';
import { DataError, type Dataset, type DatasetSpec, type LoadOptions } from './types.js';

const registry = new Map<string, DatasetSpec>();

export function registerDataset(spec: DatasetSpec): void {
  if (registry.has(spec.name)) throw new Error(`a dataset named ${JSON.stringify(spec.name)} is already registered`);
  registry.set(spec.name, spec);
}

for (const spec of [sciq, boolq, cosmosQa, amazonPolarity, sst2, sst2Sentences, imdb, ethicsCommonsense, anthropicHh, quail, chessPuzzles, syntheticWorld]) registerDataset(spec);

export function listDatasets(): DatasetSpec[] {
  return [...registry.values()];
}

export function getDataset(name: string): DatasetSpec {
  // synthetic_world:<seed> names the generated world of any seed (synthetic_world is world 0).
  const spec = registry.get(name) ?? syntheticWorldNamed(name);
  if (!spec) throw new DataError(`unknown dataset ${JSON.stringify(name)}: known datasets are ${[...registry.keys()].join(', ')} (and synthetic_world:N, the world of seed N)`);
  return spec;
}

/** The data folder: the explicit one, else $W2S_DATA_DIR. */
export function resolveDataDir(explicit?: string): string {
  const dir = explicit ?? process.env.W2S_DATA_DIR;
  if (!dir) throw new DataError('no data folder: pass --data-dir DIR or set W2S_DATA_DIR');
  return dir;
}

export async function loadDataset(name: string, opts: LoadOptions = {}): Promise<Dataset> {
  const spec = getDataset(name);
  const dataDir = spec.needsDataDir === false ? opts.dataDir ?? '' : resolveDataDir(opts.dataDir);
  return spec.load({ dataDir, seed: opts.seed ?? 0 });
}
