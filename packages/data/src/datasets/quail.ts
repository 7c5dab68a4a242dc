// QuAIL v1.3 (quail/quail_1.3_dev.xml: 2,164 questions over 120 texts, answers marked
// correct="True"; quail/challenge.jsonl: 556 questions {id, question, answers, correct_answer_id,
// context}). Like the multiple-choice formatters: the right answer with probability ½ (label 1),
// else a random other one (label 0). "Context: {text}\nQuestion: {question}\nAnswer: {answer}".
import { XMLParser } from 'fast-xml-parser';
import { ExampleCollector } from '../collect.js';
import { choice, mulberry32 } from '@w2s/random';
import { datasetPath, jsonLines, readText } from '../readers.js';
import { DataError, type DatasetSpec } from '../types.js';

interface Question {
  id: string;
  context: unknown;
  question: unknown;
  answers: unknown[];
  correct: number;
}

function* xmlQuestions(file: string): Generator<Question> {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', parseTagValue: false, trimValues: true, isArray: (name) => ['text', 'q', 'a'].includes(name) });
  let doc: { data?: { text?: { id?: string; text_body?: unknown; questions?: { q?: { id?: string; '#text'?: unknown; a?: { '#text'?: unknown; correct?: string }[] }[] } }[] } };
  try {
    doc = parser.parse(readText(file), true);
  } catch (err) {
    throw new DataError(`malformed XML: ${(err as Error).message}`, file);
  }
  if (!doc.data?.text) throw new DataError('expected <data> holding <text> elements', file);
  for (const text of doc.data.text) {
    for (const q of text.questions?.q ?? []) {
      const answers = (q.a ?? []).map((a) => a['#text']);
      yield { id: `dev/${text.id}_${q.id}`, context: text.text_body, question: q['#text'], answers, correct: (q.a ?? []).findIndex((a) => a.correct === 'True') };
    }
  }
}

function* challengeQuestions(file: string): Generator<Question> {
  for (const { value, line } of jsonLines(file)) {
    const row = value as { id?: unknown; context?: unknown; question?: unknown; answers?: unknown; correct_answer_id?: unknown } | null;
    const answers = Array.isArray(row?.answers) ? row.answers : [];
    const correct = typeof row?.correct_answer_id === 'string' && /^\d+$/.test(row.correct_answer_id) ? Number(row.correct_answer_id) : -1;
    yield { id: `challenge/${typeof row?.id === 'string' ? row.id : line}`, context: row?.context, question: row?.question, answers, correct };
  }
}

export const quail: DatasetSpec = {
  name: 'quail',
  description: 'QuAIL reading comprehension (dev and challenge sets): is this the right answer?',
  license: 'CC BY-NC-SA 4.0',
  async load({ dataDir, seed }) {
    const out = new ExampleCollector('quail');
    const uniform = mulberry32(seed);
    const dev = datasetPath(dataDir, 'quail/quail_1.3_dev.xml');
    const challenge = datasetPath(dataDir, 'quail/challenge.jsonl');
    out.file(dev);
    out.file(challenge);
    for (const q of [...xmlQuestions(dev), ...challengeQuestions(challenge)]) {
      if (typeof q.context !== 'string' || typeof q.question !== 'string' || q.answers.length < 2 || !q.answers.every((a) => typeof a === 'string')) {
        out.row({ skip: 'missing context, question or answers' });
        continue;
      }
      if (q.correct < 0 || q.correct >= q.answers.length) {
        out.row({ skip: 'invalid label' });
        continue;
      }
      const answers = q.answers as string[];
      const label = uniform() < 0.5 ? 1 : 0;
      const answer = label ? answers[q.correct] : choice(answers.filter((_, i) => i !== q.correct), uniform);
      out.row({ id: `quail/${q.id}`, text: `Context: ${q.context}\nQuestion: ${q.question}\nAnswer: ${answer}`, label });
    }
    return out.done();
  },
};
