// `w2s generate` as a user runs it: the bundled CLI in a child process. On the real stories260K
// model (skipped where ../shared/data is absent, failing there under W2S_REQUIRE_DATA=1) and on a Hugging Face directory written here.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { needsData, w2s } from './fixtures.js';
import { ByteTokenizer, NativeModel, PRESETS, generate, loadCheckpoint, saveCheckpoint } from '@w2s/model';

const storiesData = needsData('the stories260K CLI test', 'stories260K/stories260K.bin', 'stories260K/tok512.bin');
const [stories, tok512] = storiesData.paths;

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
