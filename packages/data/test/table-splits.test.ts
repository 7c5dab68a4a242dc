// The generic table loader (JSONL, CSV, TSV, Parquet; accepted label forms; bad rows counted; bad
// files named), and seeded splits and class balancing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { balanceClasses, classCounts, loadTableFile, parseLabel, splitExamples, type Example } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'w2s-table-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const texts = ['good', 'bad', 'fine', '', 'meh', 'odd'];
const labels: unknown[] = [1, 0, 'true', 1, 'FALSE', 'maybe'];
// Expected from the inputs: rows 4 (empty text) and 6 (label "maybe") are skipped.
const expected = [['good', 1], ['bad', 0], ['fine', 1], ['meh', 0]];

describe('loadTableFile', () => {
  it('reads JSONL, CSV, TSV and Parquet with named columns, counting skipped rows by reason', async () => {
    const rows = texts.map((text, i) => ({ review: text, stars: labels[i], extra: i }));
    const files = {
      jsonl: join(dir, 't.jsonl'),
      csv: join(dir, 't.csv'),
      tsv: join(dir, 't.tsv'),
      parquet: join(dir, 't.parquet'),
    };
    writeFileSync(files.jsonl, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    writeFileSync(files.csv, 'extra,review,stars\n' + rows.map((r) => `${r.extra},"${r.review}",${r.stars}`).join('\n') + '\n');
    writeFileSync(files.tsv, 'review\tstars\n' + rows.map((r) => `${r.review}\t${r.stars}`).join('\n') + '\n');
    writeFileSync(files.parquet, Buffer.from(parquetWriteBuffer({
      columnData: [
        { name: 'review', data: texts, type: 'STRING' },
        { name: 'stars', data: labels.map((l) => String(l)), type: 'STRING' },
      ],
    })));
    for (const [format, file] of Object.entries(files)) {
      const ds = await loadTableFile(file, { textColumn: 'review', labelColumn: 'stars' });
      expect(ds.examples.map((e) => [e.text, e.label]), format).toEqual(expected);
      expect(ds.report, format).toMatchObject({ rows: 6, kept: 4, skipped: { 'empty text': 1, 'invalid label': 1 } });
      expect(new Set(ds.examples.map((e) => e.id)).size).toBe(4);
    }
  });

  it('accepts 0/1 and true/false labels in any form, nothing else', () => {
    for (const v of [1, '1', true, 'true', 'TRUE', ' 1 ', 1n]) expect(parseLabel(v)).toBe(1);
    for (const v of [0, '0', false, 'False', 0n]) expect(parseLabel(v)).toBe(0);
    for (const v of [2, -1, '', 'yes', null, undefined, 0.5, {}]) expect(parseLabel(v)).toBeNull();
  });

  it('names the file for a missing column, a bad line, an unknown extension, a broken Parquet file', async () => {
    const csv = join(dir, 'cols.csv');
    writeFileSync(csv, 'text,label\nhi,1\n');
    await expect(loadTableFile(csv, { textColumn: 'body', labelColumn: 'label' })).rejects.toThrow(`${csv}: no column named "body" (columns: text, label)`);
    const jsonl = join(dir, 'bad.jsonl');
    writeFileSync(jsonl, '{"text": "a", "label": 1}\n[1, 2]\n');
    await expect(loadTableFile(jsonl, { textColumn: 'text', labelColumn: 'label' })).rejects.toThrow(`${jsonl}:2: each line must be a JSON object`);
    await expect(loadTableFile(join(dir, 'x.xlsx'), { textColumn: 'a', labelColumn: 'b' })).rejects.toThrow(/x\.xlsx: unknown format/);
    const parquet = join(dir, 'broken.parquet');
    writeFileSync(parquet, Buffer.from('PAR1 this is not parquet PAR1'));
    await expect(loadTableFile(parquet, { textColumn: 'a', labelColumn: 'b' })).rejects.toThrow(new RegExp(`${parquet}: malformed Parquet`));
    await expect(loadTableFile(join(dir, 'absent.csv'), { textColumn: 'a', labelColumn: 'b' })).rejects.toThrow(/absent\.csv: cannot read/);
  });
});

const examples = (n: number, positives: number): Example[] =>
  Array.from({ length: n }, (_, i) => ({ id: `e${i}`, text: `t${i}`, label: i < positives ? 1 : 0 }));

describe('splitExamples', () => {
  it('is deterministic by seed, differs across seeds, and gives disjoint splits of the asked sizes', () => {
    const all = examples(101, 40);
    const a = splitExamples(all, { seed: 3, nTrain: 60, nTest: 20 });
    const b = splitExamples(all, { seed: 3, nTrain: 60, nTest: 20 });
    const c = splitExamples(all, { seed: 4, nTrain: 60, nTest: 20 });
    expect(a).toEqual(b);
    expect(a.test.map((e) => e.id)).not.toEqual(c.test.map((e) => e.id));
    expect([a.train1.length, a.train2.length, a.test.length]).toEqual([30, 30, 20]);
    const ids = [...a.train1, ...a.train2, ...a.test].map((e) => e.id);
    expect(new Set(ids).size).toBe(80);
    const defaults = splitExamples(all, { seed: 0 });
    expect(defaults.test).toHaveLength(Math.round(101 * 0.2));
    expect(defaults.train1.length + defaults.train2.length).toBe(101 - Math.round(101 * 0.2));
    expect(defaults.train1.length - defaults.train2.length).toBeLessThanOrEqual(1);
  });

  it("keeps a source's official boundary: test only from its 'test' examples (all of them by default)", () => {
    const all = examples(60, 30).map((e, i) => ({ ...e, split: (i % 3 === 0 ? 'test' : 'train') as 'train' | 'test' }));
    const whole = splitExamples(all, { seed: 5 });
    expect(whole.test).toHaveLength(20);
    expect(whole.test.every((e) => e.split === 'test')).toBe(true);
    expect([...whole.train1, ...whole.train2]).toHaveLength(40);
    expect([...whole.train1, ...whole.train2].every((e) => e.split === 'train')).toBe(true);
    const some = splitExamples(all, { seed: 5, nTest: 8, nTrain: 10 });
    expect([some.test.length, some.train1.length, some.train2.length]).toEqual([8, 5, 5]);
    expect(() => splitExamples(all, { seed: 5, nTest: 21 })).toThrow("asked for 21 test examples, but the dataset's test split has 20");
    expect(() => splitExamples(all, { seed: 5, nTrain: 41 })).toThrow("asked for 41 training examples, but the dataset's training split has 40");
  });

  it('refuses sizes the data cannot give', () => {
    expect(() => splitExamples(examples(10, 5), { seed: 0, nTrain: 8, nTest: 3 })).toThrow('asked for 8 training and 3 test examples, but the dataset has 10');
    expect(() => splitExamples(examples(10, 5), { seed: 0, nTrain: 1, nTest: 3 })).toThrow(/at least 2 examples/);
    expect(() => splitExamples(examples(10, 5), { seed: 0, nTest: 0 })).toThrow(/at least 1 example/);
  });
});

describe('balanceClasses', () => {
  it('keeps the minority whole and a seeded sample of the majority of the same size, in order', () => {
    const all = examples(50, 12);
    const balanced = balanceClasses(all, 1);
    expect(classCounts(balanced)).toEqual({ 0: 12, 1: 12 });
    expect(balanced.filter((e) => e.label === 1)).toEqual(all.slice(0, 12));
    const order = balanced.map((e) => Number(e.id.slice(1)));
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(balanceClasses(all, 1)).toEqual(balanced);
    expect(balanceClasses(all, 2).map((e) => e.id)).not.toEqual(balanced.map((e) => e.id));
  });
});
