// shrinkBpeTokenizer: a byte-level BPE tokenizer cut to its first merges. The expectation is
// derived from how BPE works, not from the code under test: a merge can only join tokens made by
// merges of lower rank, and BPE always applies the lowest-ranked merge available, so where the full
// tokenizer's result uses only ids below the cut, it never applied a merge beyond it, and the
// shrunk tokenizer gives the same ids; elsewhere it gives more, shorter tokens of the same text.
// On a tiny byte-level tokenizer built here (no data needed) and on GPT-2's files.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { loadTokenizer, shrinkBpeTokenizer } from '../src/tokenizers/index.js';
import { needsData } from '../../../tests/support/data.js';
import { tinyTokenizer } from '../../../tests/support/tokenizers.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-shrink-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// 'Ġ' stands for the space byte. Ranks: Ġt 0, he 1, Ġthe 2 (made of Ġt and he), Ġa 3.
const MERGES: [string, string][] = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['Ġ', 'a']];

describe('shrinkBpeTokenizer on a tiny byte-level tokenizer', () => {
  const full = tinyTokenizer(join(scratch, 'tiny'), MERGES);

  it('keeps the first merges and renumbers the added token after them, in tokenizer_config.json too', async () => {
    const out = join(scratch, 'tiny-3');
    const token = { content: '<|endoftext|>', special: true };
    writeFileSync(join(full, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'GPT2Tokenizer', added_tokens_decoder: { '260': token } }));
    const result = await shrinkBpeTokenizer(full, 256 + 2 + 1, out);
    expect(result).toEqual({ vocabSize: 259, merges: 2, addedTokens: [{ content: '<|endoftext|>', id: 258 }] });
    const [big, small] = [await loadTokenizer(full), await loadTokenizer(out)];
    expect(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'))).toEqual({ tokenizer_class: 'GPT2Tokenizer', added_tokens_decoder: { '258': token } });
    expect(small.vocabSize).toBe(259);
    expect(small.eosId).toBe(258);
    const t = (c: string) => c.codePointAt(0)!; // a printable ASCII byte's id is its code
    // " the": the full tokenizer reaches Ġthe (id 258); with merges 0 and 1 only, Ġt + he.
    expect(big.encode(' the')).toEqual([258]);
    expect(small.encode(' the')).toEqual([256, 257]);
    // " a": merge 3 is cut, so the space byte (GPT-2 maps byte 0x20 to 'Ġ', id 0x20) and 'a'.
    expect(big.encode(' a')).toEqual([259]);
    expect(small.encode(' a')).toEqual([0x20, t('a')]);
    expect(small.encode('he<|endoftext|>')).toEqual([257, 258]);
    for (const text of [' the', ' a tea', 'heathen <|endoftext|> the', 'ünïcödé  \n\t 123']) expect(small.decode(small.encode(text))).toBe(big.decode(big.encode(text)));
  });

  it('refuses sizes it cannot make, and vocabularies not laid out as GPT-2s', async () => {
    await expect(shrinkBpeTokenizer(full, 257, join(scratch, 'x'))).rejects.toThrow('vocabSize must be an integer in [258, 261]');
    await expect(shrinkBpeTokenizer(full, 262, join(scratch, 'x'))).rejects.toThrow('vocabSize must be an integer in [258, 261]');
    await expect(shrinkBpeTokenizer(join(scratch, 'none'), 300, join(scratch, 'x'))).rejects.toThrow('has no tokenizer.json');
    await expect(shrinkBpeTokenizer(full, 259, full)).rejects.toThrow('is the source folder');
    // Merges listed out of their ids' order: merge 1 (h e) would make id 257, but its token has id 258.
    const swapped = tinyTokenizer(join(scratch, 'swapped'), MERGES);
    const spec = JSON.parse(readFileSync(join(swapped, 'tokenizer.json'), 'utf8'));
    [spec.model.vocab.he, spec.model.vocab['Ġthe']] = [258, 257];
    writeFileSync(join(swapped, 'tokenizer.json'), JSON.stringify(spec));
    await expect(shrinkBpeTokenizer(swapped, 256 + 3 + 1, join(scratch, 'x'))).rejects.toThrow('merge 1 (h e) makes id 258, not 257');
    // Special tokens before the bytes (Pythia's layout).
    const shifted = tinyTokenizer(join(scratch, 'shifted'), MERGES);
    const s2 = JSON.parse(readFileSync(join(shifted, 'tokenizer.json'), 'utf8'));
    s2.model.vocab = Object.fromEntries(Object.entries(s2.model.vocab as Record<string, number>).map(([k, id]) => [k, k === '<|endoftext|>' ? 0 : id + 1]));
    writeFileSync(join(shifted, 'tokenizer.json'), JSON.stringify(s2));
    await expect(shrinkBpeTokenizer(shifted, 259, join(scratch, 'x'))).rejects.toThrow('ids 0-255 must be the 256 byte tokens');
  });
});

const data = needsData('the GPT-2 tokenizer shrink test', 'tokenizers/gpt2', 'tokenizers/pythia');
const rust = JSON.parse(readFileSync(new URL('fixtures/hf-tokenizers-rust.json', import.meta.url), 'utf8')) as { texts: string[] };

data.it("GPT-2's first 7,935 merges: the same ids wherever GPT-2 uses only them, the same text everywhere; Pythia's layout refused", async () => {
  const [gpt2Dir, pythiaDir] = data.paths;
  const out = join(scratch, 'gpt2-8k');
  await shrinkBpeTokenizer(gpt2Dir, 8192, out);
  const [big, small] = [await loadTokenizer(gpt2Dir), await loadTokenizer(out)];
  expect([small.vocabSize, small.eosId, small.bosId, small.padId]).toEqual([8192, 8191, 8191, 8191]);
  expect(small.specials).toEqual(big.specials);
  const texts = [...rust.texts, 'This movie was absolutely terrible, I hated it. <br /><br />Avoid!', ' the cat sat on the mat', 'Pneumonoultramicroscopicsilicovolcanoconiosis'];
  const kinds = { same: 0, finer: 0 };
  for (const text of texts) {
    const ids = big.encode(text).map((id) => (id === 50256 ? 8191 : id));
    const shrunk = small.encode(text);
    expect(shrunk.every((id) => id < 8192)).toBe(true);
    expect(small.decode(shrunk)).toBe(big.decode(big.encode(text)));
    if (ids.every((id) => id < 8192)) {
      expect(shrunk).toEqual(ids);
      kinds.same++;
    } else {
      expect(shrunk.length).toBeGreaterThan(ids.length);
      kinds.finer++;
    }
  }
  expect(kinds.same).toBeGreaterThan(2);
  expect(kinds.finer).toBeGreaterThan(2);
  await expect(shrinkBpeTokenizer(pythiaDir, 8192, join(scratch, 'pythia'))).rejects.toThrow('ids 0-255 must be the 256 byte tokens');
});
