// CosmosQA (cosmosqa/valid.csv: id,context,question,answer0..answer3,label 0-3). As the reference
// formatter: the right answer with probability ½ (label 1), else a random other one (label 0);
// a right answer "None of the above choices ." always gives a wrong-answer example.
// "Context: {context}\nQuestion: {question}\nAnswer: {answer}".
import { ExampleCollector } from '../collect.js';
import { choice, mulberry32 } from '@w2s/random';
import { datasetPath, delimitedObjects } from '../readers.js';
import type { DatasetSpec } from '../types.js';

export const cosmosQa: DatasetSpec = {
  name: 'cosmos_qa',
  description: 'CosmosQA commonsense reading comprehension: is this the right answer?',
  license: 'CC BY 4.0',
  async load({ dataDir, seed }) {
    const file = datasetPath(dataDir, 'cosmosqa/valid.csv');
    const out = new ExampleCollector('cosmos_qa');
    out.file(file);
    const uniform = mulberry32(seed);
    for (const { row, line } of delimitedObjects(file, { delimiter: ',', quoted: true })) {
      const answers = [row.answer0, row.answer1, row.answer2, row.answer3];
      const index = Number(row.label);
      if (row.context === undefined || row.question === undefined || answers.some((a) => a === undefined)) {
        out.row({ skip: 'missing columns' });
        continue;
      }
      if (!/^[0-3]$/.test(row.label ?? '')) {
        out.row({ skip: 'invalid label' });
        continue;
      }
      const right = answers[index];
      const label = right.includes('None of the above choices .') ? 0 : uniform() < 0.5 ? 1 : 0;
      const answer = label ? right : choice(answers.filter((a) => a !== right), uniform);
      out.row({ id: `cosmos_qa/${row.id || line}`, text: `Context: ${row.context}\nQuestion: ${row.question}\nAnswer: ${answer}`, label });
    }
    return out.done();
  },
};
