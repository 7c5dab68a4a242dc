// The memory check before a run: `w2s run`'s models (checkModelsFitMemory) against a fake
// availability, and pretrain refusing, before it reads anything, a batch no machine could hold.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { FAMILY, InsufficientMemoryError, PRESETS, estimateTrainingMemory, withHead } from '@w2s/model';
import { checkModelsFitMemory, type ModelSource } from '../src/models.js';
import { DEFAULT_PRETRAIN_SETTINGS, pretrain } from '../src/pretrain.js';
import { DEFAULT_TRAIN_SETTINGS } from '../src/settings.js';

const source = (spec: string, config = FAMILY.nano, checkpoint: string | null = null): ModelSource => ({
  spec,
  identity: spec,
  tokenizerSpec: 'byte',
  tokenizerIdentity: 'byte',
  tokenizerSpecials: { bos: false, eos: false },
  config,
  checkpoint,
});

describe('checkModelsFitMemory', () => {
  const training = { ...DEFAULT_TRAIN_SETTINGS, minibatchSize: 8, evalBatchSize: 32, batchSize: 32, earlyStopping: 'none' as const };
  const medium = source('/models/gpt2-medium', PRESETS['gpt2-medium'], '/models/gpt2-medium');
  // What gpt2-medium needs as a classifier at the evaluation batch (32) of 256 tokens, with its checkpoint's weights held in JavaScript.
  const needed = estimateTrainingMemory(withHead(PRESETS['gpt2-medium'], { kind: 'classifier', numClasses: 2 }), { batch: 32, seqLen: 256, threads: 1, stepRows: 32, hostWeightCopies: 1 });

  it('passes models that fit', () => {
    expect(() => checkModelsFitMemory([source('nano'), medium], training, 256, { available: { bytes: 2 * needed.total, source: 'a test' }, mode: '' })).not.toThrow();
  });

  it('refuses a model that does not fit even at the shortest sequences, naming it, the estimate and what is available', () => {
    const run = () => checkModelsFitMemory([source('nano'), medium], training, 256, { available: { bytes: 2 ** 30, source: 'a fake MemAvailable' }, mode: '' });
    expect(run).toThrow(InsufficientMemoryError);
    expect(run).toThrow(/^not enough memory: model \/models\/gpt2-medium \(a classifier, batches of 32 sequences of up to 256 tokens\) needs about \d+\.\d GiB .*weights held in JavaScript 1\.3 GiB\), and 1\.0 GiB is available \(a fake MemAvailable\)/);
  });

  it('warns where the model fits only if the examples are shorter than --max-tokens', () => {
    const warnings: string[] = [];
    const available = { bytes: needed.parts.slice(0, 3).reduce((s, p) => s + p.bytes, 0) + 2 * 4 * needed.parameters, source: 'a test' };
    checkModelsFitMemory([medium], training, 256, { available, warn: (m) => warnings.push(m), mode: '' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: model \/models\/gpt2-medium .* it fits only if its sequences stay shorter/);
  });
});

describe('pretrain', () => {
  it('refuses a batch that would not fit in memory before reading the corpus', async () => {
    const out = join(tmpdir(), 'w2s-never-written');
    await expect(
      pretrain({
        corpus: '/nonexistent/corpus.jsonl',
        config: FAMILY.nano,
        tokenizerSpec: 'byte',
        modelName: 'nano',
        out,
        settings: { ...DEFAULT_PRETRAIN_SETTINGS, tokens: 1, seqLen: 512, batchSize: 10_000_000 },
      }),
    ).rejects.toThrow(/^not enough memory: model nano \(pretraining, batches of 10000000 x 512 tokens\) needs about \d+\.\d TiB/);
  });
});
