// The real-data pretraining chain as a user runs it (docs/real-data): `w2s data corpus` writes the
// training texts of datasets with a fixed test split, less any that is another's test text (an
// Amazon review equal to an SST-2 test sentence here), `w2s shrink-tokenizer` cuts a byte-level BPE
// tokenizer to its first merges, and `w2s pretrain --tokenizer` sizes the model's vocabulary from
// it and leaves a checkpoint folder that holds the tokenizer.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { w2s } from './fixtures.js';
import { tinyTokenizer } from '../../../tests/support/tokenizers.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-cli-pretrain-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(path: string, content: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
}

describe('w2s data corpus, shrink-tokenizer, pretrain --tokenizer', () => {
  it('a corpus of training texts only, a shrunk tokenizer, and a model pretrained over its vocabulary', () => {
    const data = join(scratch, 'data');
    write(join(data, 'sst2/train.tsv'), 'label\tsentence\n1\ta fine film\n0\ta dull film\n');
    write(join(data, 'sst2/dev.tsv'), 'label\tcontent\n1\tthe dev sentence\n');
    write(join(data, 'sst2/test.tsv'), 'label\tcontent\n0\tthe test sentence\n');
    write(join(data, 'amazon_polarity/train.ft.txt'), '__label__2 one\n__label__1 two\n__label__2 three\n__label__1 four\n__label__2 The test  Sentence\n');
    const corpus = join(scratch, 'corpus.jsonl');
    const made = w2s('data', 'corpus', 'sst2', 'amazon_polarity', '--data-dir', data, '--out', corpus);
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toContain("5 training texts, labels dropped, test texts left out (1 training texts equal to another dataset's test text): sst2 2 (of 4), amazon_polarity 3 (of 5)");
    const lines = readFileSync(corpus, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { dataset: string; text: string });
    expect(lines).toEqual([
      { dataset: 'sst2', text: 'a fine film' },
      { dataset: 'sst2', text: 'a dull film' },
      { dataset: 'amazon_polarity', text: 'one' },
      { dataset: 'amazon_polarity', text: 'two' },
      { dataset: 'amazon_polarity', text: 'four' },
    ]);
    const refused = w2s('data', 'corpus', 'synthetic_world', '--data-dir', data, '--out', join(scratch, 'x.jsonl'));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('synthetic_world has no fixed test split');

    const full = tinyTokenizer(join(scratch, 'tok'), [['Ġ', 'f'], ['i', 'l'], ['Ġf', 'il'], ['Ġ', 'd']]);
    const shrunk = join(scratch, 'tok-2');
    const cut = w2s('shrink-tokenizer', '--from', full, '--vocab-size', '259', '--out', shrunk);
    expect(cut.status, cut.stderr).toBe(0);
    expect(cut.stdout).toContain('259 ids (256 bytes, the first 2 merges of');
    expect(cut.stdout).toContain('<|endoftext|> 258');
    const tooBig = w2s('shrink-tokenizer', '--from', full, '--vocab-size', '300', '--out', join(scratch, 'tok-x'));
    expect(tooBig.status).not.toBe(0);
    expect(tooBig.stderr).toContain('vocabSize must be an integer in [258, 261]');

    const out = join(scratch, 'nano');
    const run = w2s('pretrain', '--corpus', corpus, '--tokenizer', shrunk, '--model', 'nano', '--tokens', '256', '--seq-len', '8', '--batch-size', '4', '--json', '--out', out);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).vocab_size).toBe(259);
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(shrunk, 'tokenizer.json'), 'utf8'));
    const ids = w2s('tokenize', '--tokenizer', out, '--json', ' film');
    expect(ids.stdout).toBe('[256,257,109]\n'); // Ġf and il (merges 0 and 1; Ġfil, merge 2, was cut) and m
  }, 120_000);
});
