// A Hugging Face checkpoint folder holding its own tokenizer, through resolveModel and loadModel (as
// w2s run takes --weak ./gpt2): the folder is the tokenizer, identified with the checkpoint (hashed
// once), and the pipeline pads with EOS where the files name no pad token. Needs GPT-2's tokenizer
// files from ../shared/data (skipped where absent, failing there under W2S_REQUIRE_DATA=1).
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { HfTokenizer, NativeModel, PRESETS, saveCheckpoint } from '@w2s/model';
import { loadModel, resolveModel } from '../src/models.js';
import { needsData } from '../../../tests/support/data.js';

const gpt2 = needsData('the Hugging Face checkpoint tokenizer test', 'tokenizers/gpt2');
const [gpt2Tokenizer] = gpt2.paths;

const scratch = mkdtempSync(join(tmpdir(), 'w2s-models-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

gpt2.it("a checkpoint folder's own tokenizer is its tokenizer, identified with it; padding is EOS", async () => {
  const config = { ...PRESETS['gpt2-tiny'], vocabSize: 50257 };
  const dir = join(scratch, 'gpt2-tiny');
  await saveCheckpoint(dir, config, new NativeModel(config, { seed: 0 }).exportWeights());
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(gpt2Tokenizer, f), join(dir, f));
  const source = await resolveModel(dir);
  expect(source.tokenizerSpec).toBe(resolve(dir));
  expect(source.identity).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(source.tokenizerIdentity).toBe(source.identity);
  const { tokenizer } = await loadModel(source, 2);
  expect(tokenizer).toBeInstanceOf(HfTokenizer);
  // GPT-2's files name no pad token: EOS, <|endoftext|> = 50256 (../shared/data/tokenizers/README.md).
  expect(tokenizer.padId).toBe(50256);
  expect(tokenizer.specials).toEqual({ bos: false, eos: false });
  // Its files are read once in a process: resolveModel's tokenizer is every run's.
  expect((await loadModel(source, 2)).tokenizer).toBe(tokenizer);
});

it("a family model's tokenizer is loaded once in a process, and shared by every run of the model", async () => {
  const source = await resolveModel('nano');
  const first = await loadModel(source, 2);
  expect((await loadModel(source, 2)).tokenizer).toBe(first.tokenizer);
  expect(source.tokenizerSpecials).toEqual({ bos: first.tokenizer.specials.bos, eos: first.tokenizer.specials.eos });
});
