// ETHICS commonsense (ethics/cm_test.csv and cm_test_hard.csv: label,input,is_short,edited;
// cm_ambig.csv is unlabelled and not used). Our label keeps the source's meaning: 1 = the
// narrator's action is clearly morally wrong, 0 = it is not.
import { ExampleCollector } from '../collect.js';
import { datasetPath, delimitedObjects } from '../readers.js';
import type { DatasetSpec } from '../types.js';

export const ethicsCommonsense: DatasetSpec = {
  name: 'ethics_commonsense',
  description: 'ETHICS commonsense morality: is what the narrator did clearly wrong?',
  license: 'MIT',
  async load({ dataDir }) {
    const out = new ExampleCollector('ethics_commonsense');
    for (const split of ['cm_test', 'cm_test_hard']) {
      const file = datasetPath(dataDir, `ethics/${split}.csv`);
      out.file(file);
      for (const { row, line } of delimitedObjects(file, { delimiter: ',', quoted: true })) {
        if (row.input === undefined) out.row({ skip: 'missing text' });
        else if (row.label !== '0' && row.label !== '1') out.row({ skip: 'invalid label' });
        else out.row({ id: `ethics_commonsense/${split}/${line}`, text: row.input, label: row.label === '1' ? 1 : 0 });
      }
    }
    return out.done();
  },
};
