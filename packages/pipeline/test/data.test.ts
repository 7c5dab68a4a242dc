// A run's data identity: a registered dataset is identified by the content of the files it reads,
// so another copy of the data (or an edited file) is a different set of runs; a generated one
// reads no files and is identified by its examples, so a changed generator is a different set of runs;
// both are also identified by the examples they give, so a changed reader is too.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerDataset } from '@w2s/data';
import { DataMismatchError, dataConfigFor, prepareData } from '../src/data.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-data-id-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** How the file dataset's reader labels rows: changed by the test, as a new release's reader would be. */
let labelShift = 0;
registerDataset({
  name: 'file_identity_test',
  description: 'test',
  license: 'test',
  load: async ({ dataDir }) => {
    const file = join(dataDir, 'rows.txt');
    const examples = readFileSync(file, 'utf8').trim().split('\n').map((text, i) => ({ id: `r/${i}`, text, label: ((i + labelShift) % 2) as 0 | 1 }));
    return { name: 'file_identity_test', examples, report: { files: [file], rows: examples.length, kept: examples.length, skipped: {} } };
  },
});

/** What the generated dataset below generates: changed by the test, as a new release's generator would be. */
let generation = 'first';
registerDataset({
  name: 'generated_identity_test',
  description: 'test',
  license: 'test',
  needsDataDir: false,
  load: async () => {
    const examples = Array.from({ length: 8 }, (_, i) => ({ id: `g/${i}`, text: `${generation} ${i}`, label: (i % 2) as 0 | 1 }));
    return { name: 'generated_identity_test', examples, report: { files: [], rows: examples.length, kept: examples.length, skipped: {} } };
  },
});

const opts = { seed: 0, nTrain: null, nTest: null, balance: false, maxTokens: 32, lengthPolicy: 'truncate' as const };

describe('dataConfigFor', () => {
  it("hashes a registered dataset's files: same content, same identity; other content, another", async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => join(scratch, name));
    for (const dir of [a, b, c]) {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir);
    }
    writeFileSync(join(a, 'rows.txt'), 'one\ntwo\n');
    writeFileSync(join(b, 'rows.txt'), 'one\ntwo\n');
    writeFileSync(join(c, 'rows.txt'), 'one\nthree\n');
    const [ca, cb, cc] = await Promise.all([a, b, c].map((dataDir) => dataConfigFor({ dataset: 'file_identity_test', dataDir }, opts)));
    expect(ca.filesSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(cb).toEqual(ca);
    expect(cc.filesSha256).not.toBe(ca.filesSha256);
  });

  it("identifies a generated dataset by its examples: the same generator, the same identity; a changed one, another", async () => {
    const world = await dataConfigFor({ dataset: 'synthetic_world' }, opts);
    expect(world).toEqual({ name: 'synthetic_world', examplesSha256: expect.stringMatching(/^[0-9a-f]{64}$/), ...opts });
    expect(await dataConfigFor({ dataset: 'synthetic_world' }, opts)).toEqual(world);
    generation = 'first';
    const first = await dataConfigFor({ dataset: 'generated_identity_test' }, opts);
    generation = 'second';
    const second = await dataConfigFor({ dataset: 'generated_identity_test', dataDir: scratch }, { ...opts, seed: 1 });
    expect(second.examplesSha256).not.toBe(first.examplesSha256);
    expect(second.filesSha256).toBeUndefined();
  });
});

describe('prepareData', () => {
  it("refuses a registered dataset's copy, or a table file, whose content is not the run's (another machine's data folder)", async () => {
    const [good, other] = ['good', 'other'].map((name) => join(scratch, `prepare-${name}`));
    const { mkdirSync } = await import('node:fs');
    for (const dir of [good, other]) mkdirSync(dir);
    writeFileSync(join(good, 'rows.txt'), 'one\ntwo\nthree\nfour\n');
    writeFileSync(join(other, 'rows.txt'), 'one\ntwo\nthree\nfive\n');
    const config = await dataConfigFor({ dataset: 'file_identity_test', dataDir: good }, opts);
    expect((await prepareData(config, { dataset: 'file_identity_test', dataDir: good })).splits.test.length).toBeGreaterThan(0);
    const mismatch = prepareData(config, { dataset: 'file_identity_test', dataDir: other });
    await expect(mismatch).rejects.toBeInstanceOf(DataMismatchError);
    await expect(mismatch).rejects.toThrow(`are not the ones the run was configured with`);

    const table = join(scratch, 'table.csv');
    writeFileSync(table, 'text,label\na,0\nb,1\nc,0\nd,1\n');
    const tableConfig = await dataConfigFor({ dataset: { path: table, textColumn: 'text', labelColumn: 'label' } }, opts);
    writeFileSync(table, 'text,label\na,0\nb,1\nc,0\ne,1\n');
    await expect(prepareData(tableConfig, { dataset: { path: table, textColumn: 'text', labelColumn: 'label' } })).rejects.toThrow(`${table} is not the file the run was configured with`);
  });

  it('refuses a generated dataset whose generator no longer gives the examples the run was configured with', async () => {
    generation = 'third';
    const config = await dataConfigFor({ dataset: 'generated_identity_test' }, { ...opts, seed: 2 });
    expect((await prepareData(config, { dataset: 'generated_identity_test' })).splits.test.length).toBeGreaterThan(0);
    generation = 'fourth';
    // (another data folder, which a generated dataset does not read, so that this load is not the one memoized above)
    const mismatch = prepareData(config, { dataset: 'generated_identity_test', dataDir: scratch });
    await expect(mismatch).rejects.toBeInstanceOf(DataMismatchError);
    await expect(mismatch).rejects.toThrow('its generator changed');
  });

  it('refuses a registered dataset whose reader no longer gives the examples the run was configured with (same files)', async () => {
    const dir = mkdtempSync(join(scratch, 'reader-'));
    writeFileSync(join(dir, 'rows.txt'), 'a\nb\nc\nd\n');
    const source = { dataset: 'file_identity_test', dataDir: dir };
    const config = await dataConfigFor(source, { ...opts, seed: 3 });
    expect(config.filesSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(config.examplesSha256).toMatch(/^[0-9a-f]{64}$/);
    labelShift = 1;
    try {
      const changed = await dataConfigFor(source, { ...opts, seed: 4 }); // another seed: not the load memoized above
      expect(changed.filesSha256).toBe(config.filesSha256);
      expect(changed.examplesSha256).not.toBe(config.examplesSha256);
      // (the same rows in another folder, so that this load is not the one memoized above)
      const copy = mkdtempSync(join(scratch, 'reader-copy-'));
      writeFileSync(join(copy, 'rows.txt'), 'a\nb\nc\nd\n');
      const mismatch = prepareData(config, { ...source, dataDir: copy });
      await expect(mismatch).rejects.toBeInstanceOf(DataMismatchError);
      await expect(mismatch).rejects.toThrow('its reader changed');
    } finally {
      labelShift = 0;
    }
  });
});
