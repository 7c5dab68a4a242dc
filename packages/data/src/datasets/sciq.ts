// SciQ (sciq/sciq.json: {"0": {question, option1..option4, answer_index (1-based)}, ...}, all
// 13,679 questions, splits pooled). As the reference formatter: with probability ½ the right
// answer (label 1), else a random distractor (label 0): "Q: {question} A: {answer}".
import { ExampleCollector } from '../collect.js';
import { choice, mulberry32 } from '@w2s/random';
import { datasetPath, readJson } from '../readers.js';
import { DataError, type DatasetSpec } from '../types.js';

export const sciq: DatasetSpec = {
  name: 'sciq',
  description: 'SciQ science questions: is this the right answer? (right answer or a random distractor, ½ each)',
  license: 'CC BY-NC 3.0',
  async load({ dataDir, seed }) {
    const file = datasetPath(dataDir, 'sciq/sciq.json');
    const data = readJson(file);
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new DataError('expected an object keyed by question index', file);
    const out = new ExampleCollector('sciq');
    out.file(file);
    const uniform = mulberry32(seed);
    const keys = Object.keys(data).sort((a, b) => Number(a) - Number(b));
    for (const key of keys) {
      const q = (data as Record<string, Record<string, unknown>>)[key];
      const options = [q?.option1, q?.option2, q?.option3, q?.option4];
      const answer = q?.answer_index;
      if (typeof q?.question !== 'string' || !options.every((o) => typeof o === 'string')) {
        out.row({ skip: 'missing question or options' });
        continue;
      }
      if (!Number.isInteger(answer) || (answer as number) < 1 || (answer as number) > 4) {
        out.row({ skip: 'invalid label' });
        continue;
      }
      const right = options[(answer as number) - 1] as string;
      const label = uniform() < 0.5 ? 1 : 0;
      const shown = label ? right : choice(options.filter((_, i) => i !== (answer as number) - 1) as string[], uniform);
      out.row({ id: `sciq/${key}`, text: `Q: ${q.question} A: ${shown}`, label });
    }
    return out.done();
  },
};
