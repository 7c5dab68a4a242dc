// IMDB (imdb/imdb_{train,test}_partNN.jsonl: {text, label (1 = positive), id, rating}). Label 1 =
// positive; the official train/test boundary (disjoint movies) is kept as each example's split.
import { ExampleCollector } from '../collect.js';
import { datasetPath, filesIn, jsonLines } from '../readers.js';
import type { DatasetSpec } from '../types.js';

export const imdb: DatasetSpec = {
  name: 'imdb',
  description: 'IMDB movie reviews: is the review positive?',
  license: 'research use (aclImdb)',
  async load({ dataDir }) {
    const dir = datasetPath(dataDir, 'imdb');
    const out = new ExampleCollector('imdb');
    for (const file of filesIn(dir, /^imdb_(train|test)_part\d+\.jsonl$/)) {
      out.file(file);
      const split = /imdb_(train|test)_/.exec(file)![1];
      for (const { value, line } of jsonLines(file)) {
        const row = value as { text?: unknown; label?: unknown; id?: unknown } | null;
        if (typeof row?.text !== 'string') out.row({ skip: 'missing text' });
        else if (row.label !== 0 && row.label !== 1) out.row({ skip: 'invalid label' });
        else out.row({ id: `imdb/${split}/${row.id ?? `${file}:${line}`}`, text: row.text, label: row.label, split: split as 'train' | 'test' });
      }
    }
    return out.done();
  },
};
