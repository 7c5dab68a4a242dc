// Pretraining: the loss falls on a learnable corpus, an interrupted run resumes from its last
// checkpoint to exactly the weights of an uninterrupted one, the output folder loads as a model
// with its tokenizer, and a folder holding another run is refused.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAMILY, FAMILY_TOKENIZER, checkpointTokenizerSpec, loadCheckpoint } from '@w2s/model';
import { DEFAULT_PRETRAIN_SETTINGS, pretrain, type PretrainInput } from '../src/pretrain.js';

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

  it('refuses a folder that holds a run with other settings, and a corpus shorter than a window', async () => {
    await expect(pretrain(input(join(scratch, 'full'), { lr: 1e-3 }))).rejects.toThrow(/holds a pretraining run with other settings/);
    const tiny = join(scratch, 'tiny.txt');
    writeFileSync(tiny, 'short');
    await expect(pretrain({ ...input(join(scratch, 'tiny')), corpus: tiny })).rejects.toThrow(/the corpus has 7 tokens, fewer than seqLen \+ 1 = 33/);
  });
});
