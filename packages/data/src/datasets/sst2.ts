// SST-2 (sst2/train.tsv "label<TAB>sentence", dev.tsv and test.tsv "label<TAB>content"; labelled).
// Label 1 = positive. The TSVs use no quoting (sentences hold bare quotes). GLUE's training rows are
// phrases cut from the training sentences, so the official boundary is kept: train.tsv is split
// 'train', dev and test sentences are split 'test' (splitExamples tests only on those).
import { ExampleCollector } from '../collect.js';
import { datasetPath, delimitedObjects } from '../readers.js';
import type { DatasetSpec } from '../types.js';

export const sst2: DatasetSpec = {
  name: 'sst2',
  description: 'SST-2 movie-review sentences: is the sentiment positive?',
  license: 'unspecified (GLUE); research use',
  async load({ dataDir }) {
    const out = new ExampleCollector('sst2');
    for (const split of ['train', 'dev', 'test']) {
      const file = datasetPath(dataDir, `sst2/${split}.tsv`);
      out.file(file);
      for (const { row, line } of delimitedObjects(file, { delimiter: '\t', quoted: false })) {
        const text = row.sentence ?? row.content;
        if (text === undefined) out.row({ skip: 'missing text column' });
        else if (row.label !== '0' && row.label !== '1') out.row({ skip: 'invalid label' });
        else out.row({ id: `sst2/${split}/${line}`, text, label: row.label === '1' ? 1 : 0, split: split === 'train' ? 'train' : 'test' });
      }
    }
    return out.done();
  },
};
