// Amazon polarity (amazon_polarity/train.ft.txt, fastText lines: "__label__1" negative or
// "__label__2" positive, then "title: content"). Text as in the file; label 1 = positive.
// The file here is a slice of one split, so a fixed split is made: every third row (rows 3, 6, 9, …
// of the file) is split 'test', the others 'train'. Fixed rather than drawn per seed, so that a
// corpus built from the training rows (`w2s corpus`) never holds a text some seed tests on.
import { ExampleCollector } from '../collect.js';
import { datasetPath, readText } from '../readers.js';
import type { DatasetSpec } from '../types.js';

export const amazonPolarity: DatasetSpec = {
  name: 'amazon_polarity',
  description: 'Amazon product reviews: is the review positive?',
  license: 'Apache 2.0 (dataset card); reviews by Amazon users',
  async load({ dataDir }) {
    const file = datasetPath(dataDir, 'amazon_polarity/train.ft.txt');
    const out = new ExampleCollector('amazon_polarity');
    out.file(file);
    readText(file).split('\n').forEach((text, i) => {
      if (text.trim() === '') return;
      const match = /^__label__([12]) (.*)$/s.exec(text);
      if (!match) out.row({ skip: 'invalid label' });
      else out.row({ id: `amazon_polarity/${i + 1}`, text: match[2], label: match[1] === '2' ? 1 : 0, split: (i + 1) % 3 === 0 ? 'test' : 'train' });
    });
    return out.done();
  },
};
