// The registered datasets on the real files in ../shared/data (or $W2S_DATA_DIR): counts as the data
// README states them, both labels present, unique ids, non-empty formatted texts. Skipped, with a
// message, where the folder is absent (a user's fresh clone); failing there under W2S_REQUIRE_DATA=1.
import { expect, it } from 'vitest';
import { classCounts, listDatasets, loadDataset, splitExamples, corpusTexts, type Example } from '../src/index.js';
import { dataDir, needsData } from '../../../tests/support/data.js';

const realData = needsData('the real-data tests', 'README.md');

// Example counts from ../shared/data/README.md (one example per source row or question).
const counts: Record<string, number> = {
  sciq: 13_679,
  boolq: 3_270,
  cosmos_qa: 2_985,
  amazon_polarity: 6_459,
  sst2: 67_349 + 872 + 1_821,
  sst2_sentences: 67_349 + 872 + 1_821,
  imdb: 50_000,
  ethics_commonsense: 3_885 + 3_964,
  quail: 2_164 + 556,
  chess_puzzles: 10_000,
};

realData.describe('real datasets', () => {
  for (const { name } of listDatasets().filter((d) => d.needsDataDir !== false)) {
    it(`${name}: every row accounted for, both labels, unique ids, formatted texts`, async () => {
      const ds = await loadDataset(name, { dataDir, seed: 0 });
      const skipped = Object.values(ds.report.skipped).reduce((a, b) => a + b, 0);
      expect(ds.report.kept + skipped).toBe(ds.report.rows);
      if (name in counts) expect(ds.report.rows).toBe(counts[name]);
      else expect(ds.report.rows).toBeGreaterThan(8_000); // HH test splits: 8,552 pairs
      // Rows are kept unless empty, invalid or repeating an earlier text (or, in sst2_sentences, a
      // training phrase that is not a sentence).
      const phrases = ds.report.skipped['training phrase, not a sentence'] ?? 0;
      expect(phrases > 0).toBe(name === 'sst2_sentences');
      for (const reason of Object.keys(ds.report.skipped)) expect(['duplicate text', 'empty text', 'invalid label', 'training phrase, not a sentence']).toContain(reason);
      expect(ds.report.kept / (ds.report.rows - phrases)).toBeGreaterThan(0.97);
      const classes = classCounts(ds.examples);
      expect(Math.min(classes[0], classes[1]) / ds.examples.length).toBeGreaterThan(0.25);
      expect(new Set(ds.examples.map((e) => e.id)).size).toBe(ds.examples.length);
      for (const e of ds.examples.slice(0, 10)) expect(e.text.trim().length).toBeGreaterThan(0);
    }, 60_000);
  }

  it("sst2_sentences: sst2's training examples that end in sentence-final punctuation, and sst2's test examples", async () => {
    const all = await loadDataset('sst2', { dataDir, seed: 0 });
    const sentences = await loadDataset('sst2_sentences', { dataDir, seed: 0 });
    const lastWord = (text: string) => text.trim().split(/\s+/).at(-1) ?? '';
    const expected = all.examples.filter((e) => e.split === 'test' || /^[.!?]+$/.test(lastWord(e.text)));
    expect(sentences.examples.map((e) => e.id)).toEqual(expected.map((e) => e.id));
    // About 13,000 training sentences (GLUE's 67,349 rows are mostly shorter phrases).
    const train = sentences.examples.filter((e) => e.split === 'train').length;
    expect(train).toBeGreaterThan(12_000);
    expect(train).toBeLessThan(14_000);
  }, 60_000);

  it('SST-2, IMDB and Amazon polarity test only on their fixed test splits: no text shared between train (or a corpus of the training texts) and test', async () => {
    const normal = (t: string) => t.trim().replace(/\s+/g, ' ').toLowerCase();
    const datasets: { name: string; examples: Example[] }[] = [];
    for (const name of ['sst2', 'imdb', 'amazon_polarity']) {
      const ds = await loadDataset(name, { dataDir, seed: 0 });
      const splits = splitExamples(ds.examples, { seed: 1, nTrain: 2000, nTest: 500 });
      expect(splits.test.every((e) => e.split === 'test')).toBe(true);
      expect([...splits.train1, ...splits.train2].every((e) => e.split === 'train')).toBe(true);
      const testTexts = new Set(splits.test.map((e) => normal(e.text)));
      expect([...splits.train1, ...splits.train2].filter((e) => testTexts.has(normal(e.text)))).toEqual([]);
      expect(ds.examples.filter((e) => e.split === 'test').length).toBeGreaterThanOrEqual(1000);
      datasets.push({ name, examples: ds.examples });
    }
    // The corpus of the three holds no test text of any of them.
    const allTest = new Set(datasets.flatMap(({ examples }) => examples.filter((e) => e.split === 'test').map((e) => normal(e.text))));
    const { texts } = corpusTexts(datasets);
    expect(texts.length).toBeGreaterThan(90_000);
    expect(texts.filter(({ text }) => allTest.has(normal(text)))).toEqual([]);
  }, 60_000);
});
