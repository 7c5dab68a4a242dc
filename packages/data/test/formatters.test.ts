// Every formatter on a tiny fixture in its real format (written here, so these run on a fresh
// clone), the bad-data paths (file and line named, skipped rows counted), and the registry.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError, getDataset, listDatasets, loadDataset, registerDataset, resolveDataDir, trainingTexts } from '../src/index.js';

const dataDir = mkdtempSync(join(tmpdir(), 'w2s-data-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function write(path: string, content: string | Buffer): string {
  const file = join(dataDir, path);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, content);
  return file;
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

beforeAll(() => {
  write('sciq/sciq.json', JSON.stringify({
    '0': { question: 'What is H2O?', option1: 'salt', option2: 'water', option3: 'air', option4: 'sand', answer_index: 2 },
    '1': { question: 'Closest star?', option1: 'Sun', option2: 'Vega', option3: 'Sirius', option4: 'Rigel', answer_index: 1 },
    '2': { question: 'Bad row', option1: 'a', option2: 'b', option3: 'c', option4: 'd', answer_index: 7 },
  }));
  write('boolq/validation.jsonl', jsonl([
    { prompt: 'passage: Cats -- Cats are mammals.\nquestion: {}', subject: 'are cats mammals', target_new: { str: 'True' } },
    { prompt: 'passage: Fish -- Fish live in water.\nquestion: {}', subject: 'do fish fly', target_new: { str: 'False' } },
    { prompt: 'passage: X -- y\nquestion: {}', subject: 'q', target_new: { str: 'Maybe' } },
  ]));
  write('cosmosqa/valid.csv', 'id,context,question,answer0,answer1,answer2,answer3,label\n' +
    'c1,"A day, with a comma\nand a newline",Why?,Because,No idea,Rain,Sun,0\n' +
    'c2,Ctx,What?,None of the above choices .,x,y,z,0\n' +
    'c3,Ctx,What?,a,b,c,d,9\n');
  write('amazon_polarity/train.ft.txt', '__label__2 Great: loved it\n__label__1 Bad: broke\n__label__3 odd\n__label__2 Good: works\n__label__1 Poor: late\n__label__2 Fine: ok\n');
  write('sst2/train.tsv', 'label\tsentence\n1\ta "quoted" gem\n0\tdull\n0\tit drags . \n1\ta gem ... or not ?\n');
  write('sst2/dev.tsv', 'label\tcontent\n1\tfine\n0\t DULL \n');
  write('sst2/test.tsv', 'label\tcontent\nx\tno label\n0\t   \n');
  write('imdb/imdb_train_part00.jsonl', jsonl([{ text: 'Great film', label: 1, id: 'a' }, { text: 'Awful', label: 0, id: 'b' }]));
  write('imdb/imdb_test_part00.jsonl', jsonl([{ text: 'Fine', label: 1, id: 'a' }, { text: 'x', label: 5, id: 'c' }]));
  write('ethics/cm_test.csv', 'label,input,is_short,edited\n0,I helped my friend.,True,False\n1,"I lied, badly.",True,False\n');
  write('ethics/cm_test_hard.csv', 'label,input,is_short,edited\n1,I stole.,True,False\n,missing label,True,False\n');
  for (const subset of ['harmless-base', 'helpful-base', 'helpful-online', 'helpful-rejection-sampled'])
    write(`hh_rlhf/${subset}/test.jsonl.gz`, gzipSync(jsonl([{ chosen: `\n\nHuman: hi (${subset})\n\nAssistant: hello`, rejected: `\n\nHuman: hi (${subset})\n\nAssistant: go away` }])));
  write('quail/quail_1.3_dev.xml', `<data>
 <text domain="fiction" id="f1">
  <metadata><author>A</author><title>T</title></metadata>
  <text_body>Anna went home.</text_body>
  <questions>
   <q id="1" type="Factual">Where did Anna go?<a id="1" correct="False">School</a><a id="2" correct="True">Home</a><a id="3" correct="False">3</a></q>
  </questions>
 </text>
</data>`);
  write('quail/challenge.jsonl', jsonl([{ id: 'c_0', question: 'Who?', answers: ['Bob', 'Eve'], correct_answer_id: '1', context: 'Eve did it.' }]));
  // A real Lichess puzzle: after black's f2g3, white's solution is e6e7.
  write('chess/lichess_puzzles.csv', 'r6k/pp2r2p/4Rp1Q/3p4/8/1N1P2R1/PqP2bPP/7K b - - 0 24,f2g3 e6e7 b2b1 b3c1 b1c1 h6c1,1828\nnot a fen,e2e4 e7e5,1000\n');
});

describe('formatters on fixtures in the real formats', () => {
  it('sciq: "Q: … A: …" with the right answer (label 1) or a distractor (label 0)', async () => {
    const ds = await loadDataset('sciq', { dataDir, seed: 0 });
    expect(ds.report).toMatchObject({ rows: 3, kept: 2, skipped: { 'invalid label': 1 } });
    const [water, sun] = ds.examples;
    expect(water.id).toBe('sciq/0');
    expect(water.text.startsWith('Q: What is H2O? A: ')).toBe(true);
    expect(water.text.endsWith(' A: water')).toBe(water.label === 1);
    expect(sun.text.endsWith(' A: Sun')).toBe(sun.label === 1);
    const labels = new Set<number>();
    for (let seed = 0; seed < 12; seed++) for (const e of (await loadDataset('sciq', { dataDir, seed })).examples) labels.add(e.label);
    expect([...labels].sort()).toEqual([0, 1]);
  });

  it('boolq: "Passage: …\\nQuestion: …", True = 1', async () => {
    const ds = await loadDataset('boolq', { dataDir });
    expect(ds.examples.map((e) => [e.text, e.label])).toEqual([
      ['Passage: Cats -- Cats are mammals.\nQuestion: are cats mammals', 1],
      ['Passage: Fish -- Fish live in water.\nQuestion: do fish fly', 0],
    ]);
    expect(ds.report.skipped).toEqual({ 'invalid label': 1 });
  });

  it('cosmos_qa: quoted multi-line CSV fields, "None of the above" right answers give label 0', async () => {
    const ds = await loadDataset('cosmos_qa', { dataDir, seed: 3 });
    expect(ds.report).toMatchObject({ rows: 3, kept: 2, skipped: { 'invalid label': 1 } });
    expect(ds.examples[0].text).toMatch(/^Context: A day, with a comma\nand a newline\nQuestion: Why\?\nAnswer: /);
    expect(ds.examples[0].text.endsWith('Answer: Because')).toBe(ds.examples[0].label === 1);
    expect(ds.examples[1].label).toBe(0);
    expect(ds.examples[1].text).not.toContain('None of the above');
  });

  it('amazon_polarity, sst2, imdb, ethics_commonsense: labels and texts as in the files', async () => {
    const amazon = await loadDataset('amazon_polarity', { dataDir });
    // Every third row of the file (3 and 6 here; 3 is skipped) is the fixed test split.
    expect(amazon.examples.map((e) => [e.text, e.label, e.split])).toEqual([['Great: loved it', 1, 'train'], ['Bad: broke', 0, 'train'], ['Good: works', 1, 'train'], ['Poor: late', 0, 'train'], ['Fine: ok', 1, 'test']]);
    expect(trainingTexts('amazon_polarity', amazon.examples)).toEqual(['Great: loved it', 'Bad: broke', 'Good: works', 'Poor: late']);
    expect(amazon.report.skipped).toEqual({ 'invalid label': 1 });
    const sst2 = await loadDataset('sst2', { dataDir });
    expect(sst2.examples.map((e) => [e.text, e.label, e.split])).toEqual([['a "quoted" gem', 1, 'train'], ['dull', 0, 'train'], ['it drags . ', 0, 'train'], ['a gem ... or not ?', 1, 'train'], ['fine', 1, 'test']]);
    expect(trainingTexts('sst2', sst2.examples)).toEqual(['a "quoted" gem', 'dull', 'it drags . ', 'a gem ... or not ?']);
    // sst2_sentences: the training rows whose last word is sentence-final punctuation; the same test rows.
    const sentences = await loadDataset('sst2_sentences', { dataDir });
    expect(sentences.examples.map((e) => [e.id, e.text, e.split])).toEqual([['sst2/train/4', 'it drags . ', 'train'], ['sst2/train/5', 'a gem ... or not ?', 'train'], ['sst2/dev/2', 'fine', 'test']]);
    expect(sentences.report.skipped).toEqual({ 'training phrase, not a sentence': 2, 'invalid label': 1, 'empty text': 1, 'duplicate text': 1 });
    const sciq = await loadDataset('sciq', { dataDir });
    expect(() => trainingTexts('sciq', sciq.examples)).toThrow('sciq has no fixed test split, so any of its texts may be tested on');
    expect(sst2.report.skipped).toEqual({ 'invalid label': 1, 'empty text': 1, 'duplicate text': 1 });
    const imdb = await loadDataset('imdb', { dataDir });
    expect(imdb.examples.map((e) => [e.id, e.split])).toEqual([['imdb/test/a', 'test'], ['imdb/train/a', 'train'], ['imdb/train/b', 'train']]);
    expect(imdb.report.skipped).toEqual({ 'invalid label': 1 });
    const ethics = await loadDataset('ethics_commonsense', { dataDir });
    expect(ethics.examples.map((e) => [e.text, e.label])).toEqual([['I helped my friend.', 0], ['I lied, badly.', 1], ['I stole.', 1]]);
    expect(ethics.report.skipped).toEqual({ 'invalid label': 1 });
  });

  it('anthropic_hh: gzipped subsets, the chosen reply (1) or the rejected one (0)', async () => {
    const ds = await loadDataset('anthropic_hh', { dataDir, seed: 1 });
    expect(ds.examples).toHaveLength(4);
    for (const e of ds.examples) expect(e.text.endsWith(e.label ? 'hello' : 'go away')).toBe(true);
  });

  it('quail: the XML dev set and the JSONL challenge set', async () => {
    const ds = await loadDataset('quail', { dataDir, seed: 2 });
    expect(ds.examples.map((e) => e.id)).toEqual(['quail/dev/f1_1', 'quail/challenge/c_0']);
    const [dev, challenge] = ds.examples;
    expect(dev.text).toMatch(/^Context: Anna went home\.\nQuestion: Where did Anna go\?\nAnswer: (School|Home|3)$/);
    expect(dev.text.endsWith('Answer: Home')).toBe(dev.label === 1);
    expect(challenge.text.endsWith('Answer: Eve')).toBe(challenge.label === 1);
  });

  it('chess_puzzles: the position after the setup move, and the solution move or another legal one', async () => {
    const seen = new Map<number, string>();
    for (let seed = 0; seed < 10; seed++) {
      const ds = await loadDataset('chess_puzzles', { dataDir, seed });
      expect(ds.report.skipped).toEqual({ 'invalid position': 1 });
      const [e] = ds.examples;
      expect(e.text.startsWith('Position (FEN): r6k/pp2r2p/4Rp1Q/3p4/8/1N1P2b1/PqP3PP/7K w - - 0 25\nMove: ')).toBe(true);
      const move = e.text.split('Move: ')[1];
      expect(move === 'e6e7').toBe(e.label === 1);
      expect(move).toMatch(/^[a-h][1-8][a-h][1-8][qrbn]?$/);
      seen.set(e.label, move);
    }
    expect([...seen.keys()].sort()).toEqual([0, 1]);
  });
});

describe('bad data', () => {
  it('names the file and the line of malformed JSON Lines, JSON and CSV', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'w2s-broken-'));
    try {
      mkdirSync(join(broken, 'boolq'));
      writeFileSync(join(broken, 'boolq/validation.jsonl'), '{"prompt": "p"}\n{"prompt": \n');
      await expect(loadDataset('boolq', { dataDir: broken })).rejects.toThrow(`${join(broken, 'boolq/validation.jsonl')}:2: invalid JSON`);
      mkdirSync(join(broken, 'sciq'));
      writeFileSync(join(broken, 'sciq/sciq.json'), '{"0": {"question": "q",\n "option1": }');
      // A whole-file JSON error names the line when V8's message gives a position (not all do).
      await expect(loadDataset('sciq', { dataDir: broken })).rejects.toThrow(new RegExp(`^${join(broken, 'sciq/sciq.json')}(:2)?: invalid JSON`));
      mkdirSync(join(broken, 'cosmosqa'));
      writeFileSync(join(broken, 'cosmosqa/valid.csv'), 'id,context\nc1,"unterminated\n');
      const err = await loadDataset('cosmos_qa', { dataDir: broken }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).file).toBe(join(broken, 'cosmosqa/valid.csv'));
      expect((err as DataError).message).toMatch(/malformed CSV/);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });

  it('a missing folder names the expected path; a missing data folder says how to give one', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'w2s-empty-'));
    try {
      await expect(loadDataset('imdb', { dataDir: empty })).rejects.toThrow(`not found: expected ${join(empty, 'imdb')} under the data folder ${empty}`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const saved = process.env.W2S_DATA_DIR;
    delete process.env.W2S_DATA_DIR;
    try {
      expect(() => resolveDataDir()).toThrow('no data folder: pass --data-dir DIR or set W2S_DATA_DIR');
      expect(resolveDataDir('/x')).toBe('/x');
    } finally {
      if (saved !== undefined) process.env.W2S_DATA_DIR = saved;
    }
  });
});

describe('registry', () => {
  it('lists the twelve datasets, rejects unknown and duplicate names, and accepts new ones', async () => {
    expect(listDatasets().map((d) => d.name)).toEqual(['sciq', 'boolq', 'cosmos_qa', 'amazon_polarity', 'sst2', 'sst2_sentences', 'imdb', 'ethics_commonsense', 'anthropic_hh', 'quail', 'chess_puzzles', 'synthetic_world']);
    expect(() => getDataset('squad')).toThrow(/unknown dataset "squad": known datasets are sciq, boolq/);
    expect(() => registerDataset(getDataset('sciq'))).toThrow(/already registered/);
    registerDataset({ name: 'tiny_test', description: 'd', license: 'l', load: async () => ({ name: 'tiny_test', examples: [{ id: 'a', text: 't', label: 1 }], report: { files: [], rows: 1, kept: 1, skipped: {} } }) });
    expect((await loadDataset('tiny_test', { dataDir })).examples).toHaveLength(1);
  });
});
