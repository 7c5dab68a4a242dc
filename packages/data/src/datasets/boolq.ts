// BoolQ (boolq/validation.jsonl, the validation split: prompt = "passage: TITLE -- PASSAGE\n
// question: {}", subject = the question, target_new.str = "True"/"False"). As the reference
// formatter: "Passage: {passage}\nQuestion: {question}", label 1 for True.
import { ExampleCollector } from '../collect.js';
import { datasetPath, jsonLines } from '../readers.js';
import type { DatasetSpec } from '../types.js';

export const boolq: DatasetSpec = {
  name: 'boolq',
  description: 'BoolQ yes/no questions about a Wikipedia passage: is the answer yes?',
  license: 'CC BY-SA 3.0',
  async load({ dataDir }) {
    const file = datasetPath(dataDir, 'boolq/validation.jsonl');
    const out = new ExampleCollector('boolq');
    out.file(file);
    for (const { value, line } of jsonLines(file)) {
      const row = value as { prompt?: unknown; subject?: unknown; target_new?: { str?: unknown } } | null;
      const answer = row?.target_new?.str;
      if (typeof row?.prompt !== 'string' || typeof row.subject !== 'string') {
        out.row({ skip: 'missing passage or question' });
        continue;
      }
      if (answer !== 'True' && answer !== 'False') {
        out.row({ skip: 'invalid label' });
        continue;
      }
      const passage = row.prompt.replace(/^passage:\s*/, '').replace(/\nquestion:[\s\S]*$/, '');
      out.row({ id: `boolq/${line}`, text: `Passage: ${passage}\nQuestion: ${row.subject}`, label: answer === 'True' ? 1 : 0 });
    }
    return out.done();
  },
};
