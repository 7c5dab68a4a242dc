// The results store: hash-keyed folders, real reloading of finished runs, recovery after a
// process is killed mid-run (kill -9), and locking between processes computing the same run.
// The multi-process tests run child Node processes on the built dist/store.js (nx builds the
// package before its tests; run `npm run build` first when calling vitest directly).
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ResultsStore, canonicalJson, configHash } from '../src/store.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-store-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const distStore = resolve(fileURLToPath(new URL('.', import.meta.url)), '../dist/store.js');

const config = (extra: Record<string, unknown> = {}) => ({ dataset: { name: 'SciQ test', seed: 1 }, role: 'weak', model: 'nano', ...extra });
const output = (accuracy: number) => ({
  metrics: { accuracy },
  test: { ids: ['a', 'b'], probs: [0.25, 0.75] },
  labels: { ids: ['c'], probs: [0.5] },
});

describe('configHash and run names', () => {
  it('ignores key order, changes with any value, and names the folder by dataset, role and hash', () => {
    expect(configHash({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(configHash({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    expect(configHash({ a: 1, b: { c: [1, 2] } })).not.toBe(configHash({ a: 1, b: { c: [2, 1] } }));
    expect(configHash(config())).not.toBe(configHash(config({ dataset: { name: 'SciQ test', seed: 2 } })));
    const store = new ResultsStore(scratch);
    expect(store.runName(config())).toBe(`sciq_test-weak-${configHash(config())}`);
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
  });
});

describe('ResultsStore', () => {
  it('computes a run once; a new store instance reloads it from disk without computing', async () => {
    const root = join(scratch, 'reuse');
    let computed = 0;
    const first = await new ResultsStore(root).getOrCompute(config(), async (writer) => {
      computed++;
      writer.log({ event: 'step', step: 0 });
      return output(0.5);
    });
    expect(first.reused).toBe(false);
    const again = await new ResultsStore(root).getOrCompute(config(), async () => {
      computed++;
      return output(0.9);
    });
    expect(computed).toBe(1);
    expect(again.reused).toBe(true);
    expect(again.metrics).toEqual({ accuracy: 0.5 });
    expect(again.test).toEqual(output(0.5).test);
    expect(again.labels).toEqual(output(0.5).labels);
    const files = readdirSync(again.dir).sort();
    expect(files).toEqual(['config.json', 'labels.json', 'log.jsonl', 'metrics.json', 'predictions.json']);
    expect(JSON.parse(readFileSync(join(again.dir, 'config.json'), 'utf8'))).toEqual(config());
    expect(readFileSync(join(again.dir, 'log.jsonl'), 'utf8')).toBe('{"event":"step","step":0}\n');
  });

  it('reports a damaged finished run by file name, and a compute failure leaves no finished run', async () => {
    const root = join(scratch, 'damaged');
    const store = new ResultsStore(root);
    await expect(store.getOrCompute(config(), async () => { throw new Error('bad data'); })).rejects.toThrow('bad data');
    expect(await store.load(config())).toBeNull();
    const run = await store.getOrCompute(config(), async () => output(0.5));
    writeFileSync(join(run.dir, 'predictions.json'), '{"ids": ["a"], "probs": [');
    await expect(store.load(config())).rejects.toThrow(/predictions\.json is not valid JSON/);
    writeFileSync(join(run.dir, 'predictions.json'), '{"ids": ["a"], "probs": [1.5]}');
    await expect(store.load(config())).rejects.toThrow(/predictions\.json: every prob must be a number in \[0, 1\]/);
    writeFileSync(join(run.dir, 'config.json'), JSON.stringify(config({ model: 'other' })));
    await expect(store.load(config())).rejects.toThrow(/config\.json does not hold the configuration/);
  });

  // A child process: computes `config` under the store's lock; with hang, it stops mid-run
  // (after writing its log) and waits to be killed; otherwise it counts its computation in
  // counter.txt, takes a while, and reports whether it computed or reused.
  const childScript = (root: string) => `
    import { appendFileSync } from 'node:fs';
    import { join } from 'node:path';
    import { ResultsStore } from ${JSON.stringify(distStore)};
    const [mode, configJson] = process.argv.slice(2);
    const store = new ResultsStore(${JSON.stringify(root)}, { lockStaleMs: 2000 });
    const run = await store.getOrCompute(JSON.parse(configJson), async (writer) => {
      writer.log({ event: 'start', pid: process.pid });
      if (mode === 'hang') { process.send('computing'); setInterval(() => {}, 1000); await new Promise(() => {}); } // alive until killed
      appendFileSync(join(${JSON.stringify(root)}, 'counter.txt'), 'x');
      await new Promise((r) => setTimeout(r, 700));
      return { metrics: { pid: process.pid }, test: { ids: ['a'], probs: [1] } };
    });
    process.send(JSON.stringify({ reused: run.reused, metrics: run.metrics }));
    process.disconnect();
  `;

  function child(root: string, mode: 'hang' | 'run', cfg: unknown) {
    const script = join(root, 'child.mjs');
    if (!existsSync(script)) writeFileSync(script, childScript(root));
    const proc = fork(script, [mode, JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const firstMessage = new Promise<string>((resolveMessage, reject) => {
      proc.once('message', (m) => resolveMessage(String(m)));
      proc.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting`)));
    });
    return { proc, firstMessage };
  }

  it('after kill -9 mid-run, the next process takes over the stale lock and computes the run', async () => {
    const root = join(scratch, 'killed');
    rmSync(root, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(root, { recursive: true });
    const hung = child(root, 'hang', config());
    expect(await hung.firstMessage).toBe('computing');
    const store = new ResultsStore(root, { lockStaleMs: 2000 });
    expect(existsSync(join(store.runDir(config()), 'log.jsonl'))).toBe(true);
    const exited = new Promise<string | null>((r) => hung.proc.once('exit', (_, signal) => r(signal)));
    hung.proc.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL'); // it died holding the lock: no exit handler ran
    expect(await store.load(config())).toBeNull(); // no metrics.json: not a finished run
    const after = child(root, 'run', config());
    const result = JSON.parse(await after.firstMessage);
    expect(result.reused).toBe(false);
    expect(readFileSync(join(root, 'counter.txt'), 'utf8')).toBe('x');
    const log = readFileSync(join(store.runDir(config()), 'log.jsonl'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(1); // the killed attempt's leftovers were cleared
    expect(JSON.parse(log[0]).pid).toBe(after.proc.pid);
  }, 30_000);

  it('two processes needing the same run: one computes it, the other waits and reloads it', async () => {
    const root = join(scratch, 'locked');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(root, { recursive: true });
    const a = child(root, 'run', config());
    const b = child(root, 'run', config());
    const [ra, rb] = (await Promise.all([a.firstMessage, b.firstMessage])).map((m) => JSON.parse(m));
    expect(readFileSync(join(root, 'counter.txt'), 'utf8')).toBe('x');
    expect([ra.reused, rb.reused].sort()).toEqual([false, true]);
    expect(ra.metrics).toEqual(rb.metrics);
  }, 30_000);
});

describe('ResultsStore export and import (runs carried to another machine)', () => {
  it('an exported run imports into another store file for file, and is then reused there', async () => {
    const source = new ResultsStore(join(scratch, 'export-a'));
    const made = await source.getOrCompute(config({ model: 'exported' }), async (writer) => {
      writer.log({ event: 'step', step: 3 });
      return output(0.625);
    });
    const artifact = await source.exportRun(config({ model: 'exported' }));
    expect(artifact.name).toBe(made.name);
    expect(Object.keys(artifact.files).sort()).toEqual(['config.json', 'labels.json', 'log.jsonl', 'metrics.json', 'predictions.json']);

    const target = new ResultsStore(join(scratch, 'export-b'));
    expect(await target.importRun(config({ model: 'exported' }), artifact)).toBe(true);
    const dir = target.runDir(config({ model: 'exported' }));
    for (const file of Object.keys(artifact.files)) expect(readFileSync(join(dir, file), 'utf8')).toBe(readFileSync(join(made.dir, file), 'utf8'));
    let computed = 0;
    const reused = await target.getOrCompute(config({ model: 'exported' }), async () => {
      computed++;
      return output(0);
    });
    expect(computed).toBe(0);
    expect(reused.metrics).toEqual({ accuracy: 0.625 });
    // A second import of a complete run changes nothing.
    expect(await target.importRun(config({ model: 'exported' }), artifact)).toBe(false);
  });

  it('refuses an artifact of another run, a mismatched config.json, malformed JSON and bad predictions, naming the file', async () => {
    const source = new ResultsStore(join(scratch, 'export-c'));
    await source.getOrCompute(config({ model: 'checked' }), async () => output(0.5));
    const artifact = await source.exportRun(config({ model: 'checked' }));
    const target = new ResultsStore(join(scratch, 'export-d'));
    const other = config({ model: 'another' });
    await expect(target.importRun(other, artifact)).rejects.toThrow(/is named/);
    const renamed = { ...artifact, name: target.runName(other) };
    await expect(target.importRun(other, renamed)).rejects.toThrow(/config\.json holds another configuration/);
    const withFiles = (files: Record<string, string>) => ({ ...artifact, files: { ...artifact.files, ...files } });
    await expect(target.importRun(config({ model: 'checked' }), withFiles({ 'metrics.json': '{"accuracy": ' }))).rejects.toThrow(/metrics\.json is not valid JSON/);
    await expect(target.importRun(config({ model: 'checked' }), withFiles({ 'predictions.json': '{"ids": ["a"], "probs": [2]}' }))).rejects.toThrow(/predictions\.json: every prob must be a number in \[0, 1\]/);
    const { 'metrics.json': _, ...incomplete } = artifact.files;
    await expect(target.importRun(config({ model: 'checked' }), { ...artifact, files: incomplete })).rejects.toThrow(/has no metrics\.json/);
    expect(await target.load(config({ model: 'checked' }))).toBeNull();
    await expect(target.exportRun(config({ model: 'checked' }))).rejects.toThrow(/is not a complete run/);
  });
});
