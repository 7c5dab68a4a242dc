// `w2s generate` as a user runs it: the bundled CLI in a child process. On the real stories260K
// model and with Llama 2's tokenizer (skipped where ../shared/data is absent, failing there under
// W2S_REQUIRE_DATA=1), and on Hugging Face directories written here.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { needsData, w2s } from './fixtures.js';
import { ByteTokenizer, Gpt2Tokenizer, NativeModel, PRESETS, generate, loadCheckpoint, loadTokenizer, saveCheckpoint } from '@w2s/model';

const storiesData = needsData('the stories260K CLI test', 'stories260K/stories260K.bin', 'stories260K/tok512.bin');
const [stories, tok512] = storiesData.paths;
const llama2Tokenizer = needsData('the Llama 2 tokenizer CLI test', 'tokenizers/llama2');
const [llama2Dir] = llama2Tokenizer.paths;

const scratch = mkdtempSync(join(tmpdir(), 'w2s-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('w2s generate', () => {
  storiesData.it('prints the greedy continuation of stories260K from BOS, and only that', async () => {
    const r = w2s('generate', '--checkpoint', stories, '--max-tokens', '40', '--threads', '1');
    expect(r.status, r.stderr).toBe(0);
    // The same tokens through the library: the CLI adds nothing but the decoded text and a newline.
    const { config, weights } = await loadCheckpoint(stories);
    const { Llama2cTokenizer } = await import('@w2s/model');
    const tokenizer = await Llama2cTokenizer.fromFile(tok512);
    const ids = await generate(new NativeModel(config, { weights }), [1], { maxTokens: 40, stopIds: [1, 2] });
    expect(r.stdout).toBe(tokenizer.decode([1, ...ids]) + '\n');
    expect(r.stdout).toMatch(/^Once upon a time/);
  });

  it('samples reproducibly by seed from a Hugging Face directory with a named tokenizer', async () => {
    const config = { ...PRESETS['gpt2-tiny'], vocabSize: 259 };
    const dir = join(scratch, 'hf-gpt2');
    const model = new NativeModel(config, { seed: 3 });
    await saveCheckpoint(dir, config, model.exportWeights());
    const args = ['generate', '--checkpoint', dir, '--tokenizer', 'byte', '--prompt', 'hi', '--max-tokens', '12', '--temperature', '1.5', '--seed', '7'];
    const first = w2s(...args), second = w2s(...args), other = w2s(...args.slice(0, -1), '8');
    expect(first.status, first.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(other.stdout).not.toBe(first.stdout);
    // The library with the same seed gives the same text.
    const tokenizer = new ByteTokenizer();
    const prompt = tokenizer.encode('hi', { bos: true });
    const ids = await generate(model, prompt, { maxTokens: 12, temperature: 1.5, seed: 7, stopIds: [tokenizer.eosId!, tokenizer.bosId!] });
    expect(first.stdout).toBe(tokenizer.decode([...prompt, ...ids]).slice(tokenizer.decode(prompt).length) + '\n');
  });

  it('adds no BOS to a GPT-2 prompt, as transformers does, and starts an empty prompt from BOS', async () => {
    const config = { ...PRESETS['gpt2-tiny'], vocabSize: 50257 };
    const dir = join(scratch, 'hf-gpt2-vocab');
    const model = new NativeModel(config, { seed: 5 });
    await saveCheckpoint(dir, config, model.exportWeights());
    const tokenizer = await Gpt2Tokenizer.load(); // the default for a GPT-2-vocabulary checkpoint without tokenizer files
    const endOfText = 50256;
    const continuation = async (prompt: number[]) => {
      const ids = await generate(model, prompt, { maxTokens: 6, stopIds: [endOfText] });
      return tokenizer.decode([...prompt, ...ids]).slice(tokenizer.decode(prompt).length) + '\n';
    };
    // "Hello world, the cat" is 15496, 995, 11, 262, 3797 (../shared/data/tokenizers/README.md).
    const hello = [15496, 995, 11, 262, 3797];
    const r = w2s('generate', '--checkpoint', dir, '--prompt', 'Hello world, the cat', '--max-tokens', '6', '--threads', '1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(await continuation(hello));
    expect(await continuation([endOfText, ...hello]), 'the BOS-led prompt continues differently').not.toBe(r.stdout);
    const empty = w2s('generate', '--checkpoint', dir, '--max-tokens', '6', '--threads', '1');
    expect(empty.status, empty.stderr).toBe(0);
    expect(empty.stdout).toBe(await continuation([endOfText]));
  });

  llama2Tokenizer.it("uses a checkpoint folder's own Hugging Face tokenizer, with the BOS Llama 2's files add", async () => {
    const config = { ...PRESETS['llama-tiny'], vocabSize: 32000 };
    const dir = join(scratch, 'hf-llama2');
    const model = new NativeModel(config, { seed: 6 });
    await saveCheckpoint(dir, config, model.exportWeights());
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(llama2Dir, f), join(dir, f));
    const r = w2s('generate', '--checkpoint', dir, '--prompt', 'Hello world, the cat', '--max-tokens', '6', '--threads', '1');
    expect(r.status, r.stderr).toBe(0);
    // BOS (1), then the README's ids of the sentence.
    const prompt = [1, 15043, 3186, 29892, 278, 6635];
    const ids = await generate(model, prompt, { maxTokens: 6, stopIds: [2, 1] });
    const tokenizer = await loadTokenizer(dir);
    expect(r.stdout).toBe(tokenizer.decode([...prompt, ...ids]).slice(tokenizer.decode(prompt).length) + '\n');
  });

  it('rejects bad options with a message saying what is accepted', () => {
    const missing = w2s('generate', '--max-tokens', '3');
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/required option '--checkpoint <path>' not specified/);
    const negative = w2s('generate', '--checkpoint', 'x', '--max-tokens', '-1');
    expect(negative.stderr).toMatch(/expected an integer in \[0, 1000000\], got "-1"/);
    const temperature = w2s('generate', '--checkpoint', 'x', '--max-tokens', '1', '--temperature', 'hot');
    expect(temperature.stderr).toMatch(/expected a number in \[0, 100\], got "hot"/);
    const unknown = w2s('generate', '--checkpoint', 'x', '--max-tokens', '1', '--bogus');
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
    const absent = w2s('generate', '--checkpoint', join(scratch, 'nothing-here'), '--max-tokens', '1');
    expect(absent.status).toBe(1);
    expect(absent.stderr).toMatch(/^w2s: .*nothing-here/);
  });

  it('has --help', () => {
    const r = w2s('generate', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--checkpoint <path>/);
    expect(r.stdout).toMatch(/--temperature <t>/);
  });
});
