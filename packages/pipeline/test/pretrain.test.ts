// Pretraining: the loss falls on a learnable corpus, an interrupted run resumes from its last
// checkpoint to exactly the weights of an uninterrupted one, the output folder loads as a model
// with its tokenizer, and a folder holding another run is refused.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAMILY, FAMILY_TOKENIZER, TOKENIZER_FILE, checkpointTokenizerSpec, loadCheckpoint, loadTokenizer, setComputeDevice } from '@w2s/model';
import { DEFAULT_PRETRAIN_SETTINGS, corpusTokens, pretrain, type PretrainInput } from '../src/pretrain.js';
import { canonicalJson } from '../src/store.js';
import { tinyTokenizer } from '../../../tests/support/tokenizers.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-pretrain-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const corpus = join(scratch, 'corpus.jsonl');
// A corpus a tiny model learns quickly: counting sentences.
writeFileSync(corpus, Array.from({ length: 200 }, (_, i) => JSON.stringify({ text: `one two three four five six seven eight nine ten (${i % 7})` })).join('\n') + '\n');

const input = (out: string, over: Partial<PretrainInput['settings']> = {}): PretrainInput => ({
  corpus,
  config: FAMILY.nano,
  tokenizerSpec: FAMILY_TOKENIZER,
  modelName: 'nano',
  out,
  settings: { ...DEFAULT_PRETRAIN_SETTINGS, tokens: 8 * 32 * 40, seqLen: 32, batchSize: 8, lr: 3e-3, checkpointEvery: 10, ...over },
});

describe('pretrain', () => {
  it('lowers the loss, and the folder loads as a model that names its tokenizer', async () => {
    const out = join(scratch, 'full');
    const losses: number[] = [];
    const result = await pretrain({ ...input(out), onStep: ({ loss }) => losses.push(loss) });
    expect(result.steps).toBe(40);
    expect(losses).toHaveLength(40);
    expect(result.lossCurve.map(([step]) => step)).toEqual([10, 20, 30, 40]);
    expect(result.lossCurve[3][1]).toBeLessThan(result.lossCurve[0][1] * 0.6);
    const { config } = await loadCheckpoint(out);
    expect(config.dModel).toBe(FAMILY.nano.dModel);
    expect(checkpointTokenizerSpec(out, config)).toBe(FAMILY_TOKENIZER);
    expect(JSON.parse(readFileSync(join(out, 'pretrain.json'), 'utf8'))).toMatchObject({ model: 'nano', steps: 40 });
  });

  it('an interrupted run resumes from its last checkpoint to the same weights as an uninterrupted one', async () => {
    const full = join(scratch, 'full');
    const cut = join(scratch, 'cut');
    await expect(
      pretrain({ ...input(cut), onStep: ({ step }) => { if (step === 25) throw new Error('interrupted'); } }),
    ).rejects.toThrow('interrupted');
    let resumedAt = -1;
    const result = await pretrain({ ...input(cut), onResume: (step) => (resumedAt = step) });
    expect(resumedAt).toBe(20);
    expect(result.resumedFrom).toBe(20);
    const a = (await loadCheckpoint(full)).weights;
    const b = (await loadCheckpoint(cut)).weights;
    for (const [name, w] of a) expect(Array.from(b.get(name)!), name).toEqual(Array.from(w));
  });

  it('refuses to resume a checkpoint made from another token stream (the same corpus file read or tokenized otherwise)', async () => {
    const out = join(scratch, 'stream');
    await pretrain({ ...input(out), settings: { ...input(out).settings, tokens: 8 * 32 * 10 } });
    const stateFile = join(out, 'resume', 'step-10', 'state.json');
    const state = JSON.parse(readFileSync(stateFile, 'utf8'));
    const fingerprint = JSON.parse(state.fingerprint);
    expect(fingerprint.stream).toMatch(/^[0-9a-f]{64}$/);
    expect(canonicalJson(fingerprint)).toBe(state.fingerprint);
    // The finished run resumes at its last step with nothing to do...
    expect((await pretrain({ ...input(out), settings: { ...input(out).settings, tokens: 8 * 32 * 10 } })).resumedFrom).toBe(10);
    // ...but not once its recorded stream is another.
    writeFileSync(stateFile, JSON.stringify({ ...state, fingerprint: canonicalJson({ ...fingerprint, stream: '0'.repeat(64) }) }));
    await expect(pretrain({ ...input(out), settings: { ...input(out).settings, tokens: 8 * 32 * 10 } })).rejects.toThrow(/holds a pretraining run with other settings/);
  });

  it('at bf16 (the process\'s precision), records it and will not resume a float32 run, nor a float32 process a bf16 one', async () => {
    const float32 = join(scratch, 'precision-float32');
    const short = (out: string) => ({ ...input(out), settings: { ...input(out).settings, tokens: 8 * 32 * 10 } });
    await pretrain(short(float32));
    expect(JSON.parse(readFileSync(join(float32, 'pretrain.json'), 'utf8'))).not.toHaveProperty('precision');
    const bf16 = join(scratch, 'precision-bf16');
    setComputeDevice({ device: 'cpu', precision: 'bf16' });
    try {
      await expect(pretrain(short(float32))).rejects.toThrow(/holds a pretraining run with other settings/);
      await pretrain(short(bf16));
      expect(JSON.parse(readFileSync(join(bf16, 'pretrain.json'), 'utf8'))).toMatchObject({ precision: 'bf16', steps: 10 });
    } finally {
      setComputeDevice({ device: 'cpu', precision: 'float32' });
    }
    await expect(pretrain(short(bf16))).rejects.toThrow(/holds a pretraining run with other settings/);
  });

  it('refuses a folder that holds a run with other settings, and a corpus shorter than a window', async () => {
    await expect(pretrain(input(join(scratch, 'full'), { lr: 1e-3 }))).rejects.toThrow(/holds a pretraining run with other settings/);
    const tiny = join(scratch, 'tiny.txt');
    writeFileSync(tiny, 'short');
    await expect(pretrain({ ...input(join(scratch, 'tiny')), corpus: tiny })).rejects.toThrow(/the corpus has 7 tokens, fewer than seqLen \+ 1 = 33/);
  });

  it('with a Hugging Face tokenizer: the vocabulary is checked, its files are copied into the folder, which then loads with them; one EOS between documents where BOS is EOS', async () => {
    const tokenizerDir = tinyTokenizer(join(scratch, 'tok'), [['Ġ', 't'], ['o', 'n'], ['Ġ', 'a']]);
    const tokenizer = await loadTokenizer(tokenizerDir);
    const eot = tokenizer.eosId!;
    expect(tokenizer.bosId).toBe(eot);
    const twoDocs = join(scratch, 'two.jsonl');
    writeFileSync(twoDocs, '{"text":"on"}\n{"text":"to"}\n');
    expect(Array.from(await corpusTokens(twoDocs, tokenizer))).toEqual([257, eot, 't'.charCodeAt(0), 'o'.charCodeAt(0), eot]);
    // The byte tokenizer's BOS and EOS differ: each document is wrapped in both.
    const bytes = await loadTokenizer(FAMILY_TOKENIZER);
    expect(Array.from(await corpusTokens(twoDocs, bytes))).toEqual([bytes.bosId, ...bytes.encode('on'), bytes.eosId, bytes.bosId, ...bytes.encode('to'), bytes.eosId]);

    const out = join(scratch, 'hf');
    const hf = { ...input(out), tokenizerSpec: tokenizerDir, settings: { ...input(out).settings, tokens: 8 * 32 * 4 } };
    await expect(pretrain(hf)).rejects.toThrow(`the tokenizer ${tokenizerDir} has ${tokenizer.vocabSize} ids but the model's vocabSize is ${FAMILY.nano.vocabSize}`);
    await pretrain({ ...hf, config: { ...FAMILY.nano, vocabSize: tokenizer.vocabSize } });
    expect(existsSync(join(out, TOKENIZER_FILE))).toBe(false);
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(tokenizerDir, 'tokenizer.json'), 'utf8'));
    expect(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(tokenizerDir, 'tokenizer_config.json'), 'utf8')));
    const { config } = await loadCheckpoint(out);
    expect(checkpointTokenizerSpec(out, config)).toBe(resolve(out));
    // Beside the checkpoint's config.json (model_type llama), the tokenizer is still GPT-2's kind.
    const own = await loadTokenizer(out);
    expect([own.vocabSize, own.bosId, own.eosId, own.specials]).toEqual([tokenizer.vocabSize, eot, eot, tokenizer.specials]);
  });

  it('a Hugging Face tokenizer folder naming no class: refused without EOS; with eos_token, saved with its class stated so that it reads the same beside the config.json', async () => {
    const bare = tinyTokenizer(join(scratch, 'bare'), [['Ġ', 't'], ['o', 'n'], ['Ġ', 'a']]);
    rmSync(join(bare, 'tokenizer_config.json'));
    const config = { ...FAMILY.nano, vocabSize: 260 };
    const out = join(scratch, 'bare-out');
    const run = { ...input(out), config, tokenizerSpec: bare, settings: { ...input(out).settings, tokens: 8 * 32 * 2 } };
    await expect(pretrain(run)).rejects.toThrow(`the tokenizer ${bare} has no EOS token to end each document with`);
    writeFileSync(join(bare, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>' }));
    await pretrain(run);
    expect(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'))).toEqual({ eos_token: '<|endoftext|>', tokenizer_class: 'PreTrainedTokenizerFast' });
    const [source, own] = [await loadTokenizer(bare), await loadTokenizer(out)];
    expect([own.bosId, own.eosId, own.padId, own.specials]).toEqual([source.bosId, source.eosId, source.padId, source.specials]);
    expect(own.eosId).toBe(259);
  });

  it("built-in specs stay built-in even where a folder of that name is in the working directory", async () => {
    const cwd = process.cwd();
    const dir = join(scratch, 'cwd');
    tinyTokenizer(join(dir, FAMILY_TOKENIZER), [['Ġ', 't']]);
    process.chdir(dir);
    try {
      const out = join(scratch, 'builtin');
      await pretrain({ ...input(out), settings: { ...input(out).settings, tokens: 8 * 32 * 2 } });
      expect(readFileSync(join(out, TOKENIZER_FILE), 'utf8')).toBe(`${FAMILY_TOKENIZER}\n`);
      expect(existsSync(join(out, 'tokenizer.json'))).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });
});
