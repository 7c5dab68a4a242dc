// @w2s/data: binary-classification datasets for weak-to-strong experiments — the registry of
// formatters over the formats in ../shared/data/README.md, a generic table loader, seeded splits
// and class balancing.
export { DataError, type Dataset, type DatasetSpec, type Example, type LoadOptions, type LoadReport } from './types.js';
export { getDataset, listDatasets, loadDataset, registerDataset, resolveDataDir } from './registry.js';
export { loadTableFile, parseLabel, type TableFormat, type TableOptions } from './table.js';
export { balanceClasses, classCounts, splitExamples, corpusTexts, trainingTexts, type SplitOptions, type Splits } from './splits.js';
export { shuffled } from '@w2s/random'; // re-exported: the seeded generator lives in @w2s/random
export { DEFAULT_WORLD, TRAITS, generateWorld, peopleRead, syntheticWorldDataset, worldCorpusJsonl, worldDocuments, worldExamples, worldOptions, type Person, type Trait, type World, type WorldOptions } from './synthetic/world.js';
