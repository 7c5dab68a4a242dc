// SST-2 (sst2/train.tsv "label<TAB>sentence", dev.tsv and test.tsv "label<TAB>content"; labelled).
// Label 1 = positive. The TSVs use no quoting (sentences hold bare quotes). GLUE's training rows are
// phrases cut from the training sentences, so the official boundary is kept: train.tsv is split
// 'train', dev and test sentences are split 'test' (splitExamples tests only on those).
//
// sst2_sentences trains on the training rows that are sentences: those whose last word is
// sentence-final punctuation ('.', '!', '?', '...'), about 13,000 of the 67,349. In SST's parse
// trees that punctuation attaches at the root, so such a row is a whole training sentence (or its
// root without a leading clause). The test rows are the same dev and test sentences, of which 97%
// end in that punctuation while 81% of GLUE's training phrases do not: a classifier that reads the
// last token (the engine's head) is trained on phrases ending in a content word and tested on
// sentences ending in '.', which sst2_sentences avoids.
import { ExampleCollector } from '../collect.js';
import { datasetPath, delimitedObjects } from '../readers.js';
import type { DatasetSpec } from '../types.js';

/** A text whose last word is sentence-final punctuation. */
export function endsAsSentence(text: string): boolean {
  return /(^|\s)[.!?]+\s*$/.test(text);
}

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

// sst2's examples less its training phrases, so that its duplicates are sst2's: a test sentence
// equal to an earlier training phrase is dropped there as a duplicate, so it is in neither split
// here, and sst2's corpus (which holds the phrase) holds no test text of sst2_sentences.
export const sst2Sentences: DatasetSpec = {
  name: 'sst2_sentences',
  description: "SST-2, trained on its training sentences only (not GLUE's phrases): is the sentiment positive?",
  license: sst2.license,
  async load(opts) {
    const all = await sst2.load(opts);
    const examples = all.examples.filter((e) => e.split === 'test' || endsAsSentence(e.text));
    const phrases = all.examples.length - examples.length;
    return { name: 'sst2_sentences', examples, report: { ...all.report, kept: examples.length, skipped: { ...all.report.skipped, 'training phrase, not a sentence': phrases } } };
  },
};
