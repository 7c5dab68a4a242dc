// Hugging Face tokenizer folders (HfTokenizer through loadTokenizer), on the files of
// ../shared/data/tokenizers: the facts its README states, the ids Hugging Face's Rust tokenizers
// library gives awkward texts (fixtures/hf-tokenizers-rust.json, written by the script beside it),
// the special tokens each family's files add, the checkpoint folder as the default tokenizer, and
// the refusals.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

import { PRESETS } from '../src/config.js';
import { checkpointTokenizerSpec, HfTokenizer, loadTokenizer, type Tokenizer } from '../src/tokenizers/index.js';
import { needsData } from '../../../tests/support/data.js';

const data = needsData('the Hugging Face tokenizer tests', 'tokenizers/gpt2', 'tokenizers/pythia', 'tokenizers/llama2', 'tokenizers/qwen2');
const [gpt2Dir, pythiaDir, llama2Dir, qwen2Dir] = data.paths;

const rust = JSON.parse(readFileSync(new URL('fixtures/hf-tokenizers-rust.json', import.meta.url), 'utf8')) as {
  texts: string[];
  ids: Record<'gpt2' | 'pythia' | 'llama2' | 'qwen2', number[][]>;
};
/** The awkward texts that hold special-token strings (decode skips those tokens). */
const holdsSpecials = (text: string) => /<\|endoftext\|>|<s>/.test(text);

const scratch = mkdtempSync(join(tmpdir(), 'w2s-hf-tok-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A folder holding `files` copied from `from`, and `json` written as files. */
function folder(name: string, from: string, files: string[], json: Record<string, unknown> = {}): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  for (const f of files) copyFileSync(join(from, f), join(dir, f));
  for (const [f, value] of Object.entries(json)) writeFileSync(join(dir, f), JSON.stringify(value));
  return dir;
}

/** The README's sentence. */
const HELLO = 'Hello world, the cat';

data.describe('Hugging Face tokenizers', () => {
  const loaded = new Map<string, Tokenizer>();
  const load = async (dir: string) => {
    if (!loaded.has(dir)) loaded.set(dir, await loadTokenizer(dir));
    return loaded.get(dir)!;
  };

  it('GPT-2: 50257 ids, <|endoftext|> = 50256, the README sentence, no BOS added', async () => {
    const t = await load(gpt2Dir);
    expect(t).toBeInstanceOf(HfTokenizer);
    expect(t.vocabSize).toBe(50257);
    expect(t.encode('<|endoftext|>')).toEqual([50256]);
    expect(t.specials).toEqual({ bos: false, eos: false });
    expect(t.encode(HELLO, t.specials)).toEqual([15496, 995, 11, 262, 3797]);
  });

  it('Pythia: 50277 ids, <|endoftext|> = 0, <|padding|> = 1, the README sentence, no BOS added', async () => {
    const t = await load(pythiaDir);
    expect(t.vocabSize).toBe(50277);
    expect(t.encode('<|endoftext|>')).toEqual([0]);
    expect(t.encode('<|padding|>')).toEqual([1]);
    expect(t.specials).toEqual({ bos: false, eos: false });
    expect(t.encode(HELLO, t.specials)).toEqual([12092, 1533, 13, 253, 5798]);
  });

  it('Llama 2: 32000 ids, <unk> 0, <s> 1, </s> 2, adds BOS; no pad token, so it pads with EOS', async () => {
    const t = await load(llama2Dir);
    expect(t.vocabSize).toBe(32000);
    expect([t.bosId, t.eosId]).toEqual([1, 2]);
    expect(t.encode('<unk>')).toEqual([0]);
    expect(t.specials).toEqual({ bos: true, eos: false });
    expect(t.encode(HELLO, t.specials)).toEqual([1, 15043, 3186, 29892, 278, 6635]);
    expect(t.padId).toBe(2);
  });

  it('Qwen2 from vocab.json + merges.txt: 151643 ids + 3 added, the README sentence, no BOS added; pads with its pad token', async () => {
    const t = await load(qwen2Dir);
    expect(t.vocabSize).toBe(151643 + 3);
    expect(['<|endoftext|>', '<|im_start|>', '<|im_end|>'].map((s) => t.encode(s))).toEqual([[151643], [151644], [151645]]);
    expect(t.bosId).toBeNull();
    expect(t.specials).toEqual({ bos: false, eos: false });
    expect(t.encode(HELLO, t.specials)).toEqual([9707, 1879, 11, 279, 8251]);
    expect(t.padId).toBe(151643); // tokenizer_config.json's pad_token, <|endoftext|>
    expect(t.eosId).toBe(151645); // its eos_token, <|im_end|>
  });

  for (const [family, dir] of [['gpt2', gpt2Dir], ['pythia', pythiaDir], ['llama2', llama2Dir], ['qwen2', qwen2Dir]] as const) {
    it(`${family}: awkward texts (unicode, whitespace runs, digits, code, special-token strings) give the Rust library's ids`, async () => {
      const t = await load(dir);
      rust.texts.forEach((text, i) => expect(t.encode(text), JSON.stringify(text)).toEqual(rust.ids[family][i]));
    });

    it(`${family}: decode gives back each text without special-token strings (NFC-normalised where the tokenizer normalises)`, async () => {
      const t = await load(dir);
      const nfc = family === 'pythia' || family === 'qwen2';
      for (const text of rust.texts.filter((s) => !holdsSpecials(s))) {
        expect(t.decode(t.encode(text))).toBe(nfc ? text.normalize('NFC') : text);
      }
    });
  }

  it('finds special-token strings inside text, as transformers does, and decode skips them', async () => {
    const t = await load(gpt2Dir);
    const ids = t.encode('a<|endoftext|>b');
    const vocab = JSON.parse(readFileSync(join(gpt2Dir, 'vocab.json'), 'utf8')) as Record<string, number>;
    expect(ids).toEqual([vocab.a, 50256, vocab.b]);
    expect(t.decode(ids)).toBe('ab');
  });

  it("GPT-2's vocab.json + merges.txt (GPT2Tokenizer) tokenizes as its tokenizer.json", async () => {
    const slow = await loadTokenizer(folder('gpt2-slow', gpt2Dir, ['vocab.json', 'merges.txt'], { 'tokenizer_config.json': { tokenizer_class: 'GPT2Tokenizer' } }));
    expect(slow.vocabSize).toBe(50257);
    rust.texts.forEach((text, i) => expect(slow.encode(text), JSON.stringify(text)).toEqual(rust.ids.gpt2[i]));
    // The slow GPT2Tokenizer adds BOS where add_bos_token is set (nothing by default).
    expect(slow.specials).toEqual({ bos: false, eos: false });
    const withBos = await loadTokenizer(folder('gpt2-slow-bos', gpt2Dir, ['vocab.json', 'merges.txt'], { 'tokenizer_config.json': { tokenizer_class: 'GPT2Tokenizer', add_bos_token: true } }));
    expect(withBos.encode(HELLO, withBos.specials)).toEqual([50256, 15496, 995, 11, 262, 3797]);
  });

  it("a checkpoint folder's own tokenizer is the default; config.json's model_type gives the class's BOS and EOS", async () => {
    const checkpoint = folder('gpt2-checkpoint', gpt2Dir, ['tokenizer.json', 'tokenizer_config.json'], { 'config.json': { model_type: 'gpt2' } });
    const spec = checkpointTokenizerSpec(checkpoint, PRESETS['gpt2-tiny']);
    expect(spec).toBe(checkpoint);
    const t = await loadTokenizer(spec);
    // GPT2Tokenizer's defaults: <|endoftext|> (50256) is BOS and EOS; no pad token, so EOS pads.
    expect([t.bosId, t.eosId, t.padId]).toEqual([50256, 50256, 50256]);
    expect(t.encode(HELLO, t.specials)).toEqual([15496, 995, 11, 262, 3797]);
    // A tokenizer.json named directly reads the tokenizer_config.json and config.json beside it.
    expect((await loadTokenizer(join(checkpoint, 'tokenizer.json'))).eosId).toBe(50256);
  });

  it("Llama's add_bos_token and add_eos_token decide its special tokens", async () => {
    const config = JSON.parse(readFileSync(join(llama2Dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    const dir = folder('llama2-eos', llama2Dir, ['tokenizer.json'], { 'tokenizer_config.json': { ...config, add_bos_token: false, add_eos_token: true } });
    const t = await loadTokenizer(dir);
    expect(t.specials).toEqual({ bos: false, eos: true });
    expect(t.encode(HELLO, t.specials)).toEqual([15043, 3186, 29892, 278, 6635, 2]);
  });

  it("a post-processor template decides what other classes add (Llama 3's form: a Sequence holding a TemplateProcessing)", async () => {
    const spec = JSON.parse(readFileSync(join(gpt2Dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
    const template = (single: unknown[]) => ({
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        { type: 'TemplateProcessing', single, pair: [], special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [50256], tokens: ['<|endoftext|>'] } } },
      ],
    });
    const eot = { SpecialToken: { id: '<|endoftext|>', type_id: 0 } };
    const text = { Sequence: { id: 'A', type_id: 0 } };
    const config = { 'tokenizer_config.json': { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' } };
    const bosFirst = await loadTokenizer(folder('template-bos', gpt2Dir, [], { ...config, 'tokenizer.json': { ...spec, post_processor: template([eot, text]) } }));
    expect(bosFirst.specials).toEqual({ bos: true, eos: false });
    expect(bosFirst.encode(HELLO, bosFirst.specials)).toEqual([50256, 15496, 995, 11, 262, 3797]);
    const twice = folder('template-twice', gpt2Dir, [], { ...config, 'tokenizer.json': { ...spec, post_processor: template([eot, eot, text]) } });
    await expect(loadTokenizer(twice)).rejects.toThrow(/post_processor adds ids \[50256, 50256\] before the text; only the BOS token \(50256\) is supported there/);
  });

  it('refuses what it cannot read, naming the file and the field', async () => {
    const classless = folder('qwen2-classless', qwen2Dir, ['vocab.json', 'merges.txt']);
    await expect(loadTokenizer(classless)).rejects.toThrow(/vocab\.json \+ merges\.txt need tokenizer_class Qwen2Tokenizer or GPT2Tokenizer .*got none/);
    const badBos = folder('gpt2-bad-bos', gpt2Dir, ['tokenizer.json'], { 'tokenizer_config.json': { bos_token: '<|nope|>' } });
    await expect(loadTokenizer(badBos)).rejects.toThrow(/tokenizer_config\.json: bos_token "<\|nope\|>" is not a token of/);
    const config = JSON.parse(readFileSync(join(llama2Dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    const noBos = folder('llama2-no-bos', llama2Dir, ['tokenizer.json'], { 'tokenizer_config.json': { ...config, bos_token: null } });
    await expect(loadTokenizer(noBos)).rejects.toThrow(/tokenizer_config\.json: add_bos_token is true but bos_token names no token/);
    const empty = folder('empty', gpt2Dir, []);
    await expect(loadTokenizer(empty)).rejects.toThrow(/holds no Hugging Face tokenizer: expected tokenizer\.json, or vocab\.json and merges\.txt/);
    await expect(loadTokenizer(join(scratch, 'absent'))).rejects.toThrow(/unknown tokenizer .*absent.*Hugging Face tokenizer folder or tokenizer\.json/);
  });
});
