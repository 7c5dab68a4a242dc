// `w2s sweep` as a user runs it, on a generated CSV dataset (no downloaded data needed): worker
// processes, every distinct run trained once, resume after kill -9 with the same results as an
// uninterrupted sweep, two sweeps sharing one results folder, and bad sweep files.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResultsStore } from '@w2s/pipeline';
import { bin, sweepSummaries, until, vowelSweepConfig, w2s, writeVowelCsv } from './fixtures.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-sweep-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const csv = join(scratch, 'vowels.csv');
const configFile = join(scratch, 'sweep.json');
// Per seed: weak, ceiling and two transfer runs.
const DISTINCT_RUNS = 8;

beforeAll(() => {
  writeVowelCsv(csv, 240, 3);
  writeFileSync(configFile, vowelSweepConfig(csv));
});

/** Resolves once ok() holds (checked every 50 ms), or fails naming what it waited for after `ms`. */
function runsIn(out: string): string[] {
  return readdirSync(join(out, 'runs')).filter((f) => !f.endsWith('.lock') && existsSync(join(out, 'runs', f, 'metrics.json'))).sort();
}

function sweepAsync(out: string, ...extra: string[]) {
  const child = spawn(process.execPath, [bin, 'sweep', '--config', configFile, '--out', out, '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (status, signal) => resolve({ status, signal, stdout, stderr })),
  );
  return { child, done };
}

let reference: Record<string, unknown>;

describe('w2s sweep', () => {
  it('trains every distinct run once across two worker processes and summarises every experiment', () => {
    const out = join(scratch, 'workers');
    const r = w2s('sweep', '--config', configFile, '--out', out, '--workers', '2', '--json');
    expect(r.status, r.stderr).toBe(0);
    const outcome = JSON.parse(r.stdout);
    expect(outcome.runsComputed).toHaveLength(DISTINCT_RUNS);
    expect(new Set(outcome.runsComputed).size).toBe(DISTINCT_RUNS);
    expect(outcome.failed).toEqual([]);
    expect(runsIn(out)).toEqual([...outcome.runsComputed].sort());
    reference = sweepSummaries(out);
    expect(Object.keys(reference)).toEqual(['vowels.csv-nano-micro-seed0.summary.json', 'vowels.csv-nano-micro-seed1.summary.json']);
    const report = w2s('report', out);
    expect(report.status, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/logconf/);
    expect(readdirSync(join(out, 'report'))).toContain('report.md');
  }, 300_000);

  it('resumes after kill -9: finished runs are reused, and the results equal an uninterrupted sweep', async () => {
    const out = join(scratch, 'killed');
    // This test holds the lock of one transfer run (its configuration as the first sweep stored it)
    // until the sweep is killed: the sweep cannot finish that run, so it is killed with some runs
    // finished and that one not, whatever the machine's speed. The transfer's weak run, which
    // needs no lock of ours, finishes first.
    const referenceRuns = join(scratch, 'workers', 'runs');
    const heldName = readdirSync(referenceRuns).filter((f) => f.includes('-transfer-') && !f.endsWith('.lock')).sort()[0];
    expect(heldName, 'the first test\'s sweep stored a transfer run').toBeDefined();
    const heldConfig = JSON.parse(readFileSync(join(referenceRuns, heldName, 'config.json'), 'utf8'));
    let release!: () => void;
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holding = new ResultsStore(out)
      .getOrCompute(heldConfig, async () => {
        locked();
        await new Promise<void>((resolve) => (release = resolve));
        throw new Error('released by the test without computing the run');
      })
      .catch((err: unknown) => err as Error);
    await lockTaken;

    const first = sweepAsync(out, '--threads', '1');
    // Wait until at least one run has finished, then kill the sweep outright.
    await until('a run of the sweep to finish', () => existsSync(join(out, 'runs')) && runsIn(out).length >= 1);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const finishedBefore = runsIn(out);
    release();
    expect((await holding).message).toBe('released by the test without computing the run');
    expect(finishedBefore).not.toContain(heldName);
    expect(finishedBefore.length).toBeLessThan(DISTINCT_RUNS);
    const mtimes = finishedBefore.map((r) => statSync(join(out, 'runs', r, 'metrics.json')).mtimeMs);

    const second = w2s('sweep', '--config', configFile, '--out', out, '--json', '--threads', '1');
    expect(second.status, second.stderr).toBe(0);
    const outcome = JSON.parse(second.stdout);
    expect([...outcome.runsReused].sort()).toEqual(finishedBefore);
    expect(outcome.runsComputed.length + outcome.runsReused.length).toBe(DISTINCT_RUNS);
    expect(finishedBefore.map((r) => statSync(join(out, 'runs', r, 'metrics.json')).mtimeMs)).toEqual(mtimes);
    expect(sweepSummaries(out)).toEqual(reference);
  }, 300_000);

  it('two sweeps on one results folder: each run is trained by exactly one of them, both finish', async () => {
    const out = join(scratch, 'shared');
    const [a, b] = await Promise.all([sweepAsync(out, '--threads', '1').done, sweepAsync(out, '--threads', '1').done]);
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    const computed = [...JSON.parse(a.stdout).runsComputed, ...JSON.parse(b.stdout).runsComputed];
    expect(computed).toHaveLength(DISTINCT_RUNS);
    expect(new Set(computed).size).toBe(DISTINCT_RUNS);
    expect(sweepSummaries(out)).toEqual(reference);
  }, 300_000);

  it('a loss module in the sweep file (relative to it) runs in worker processes, with its options from lossOptions', () => {
    const dir = join(scratch, 'module-sweep');
    mkdirSync(join(dir, 'losses'), { recursive: true });
    writeFileSync(
      join(dir, 'losses', 'scaled.mjs'),
      `export default {\n  options: { scale: { type: 'number', default: 1, min: 0, max: 10, help: 'multiplies xent' } },\n` +
        `  loss: (logits, targets, { tf, options }) => tf.mul(-options.scale, tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))),\n};\n`,
    );
    const file = join(dir, 'sweep.json');
    writeFileSync(file, vowelSweepConfig(csv, { losses: ['xent', './losses/scaled.mjs'], seeds: [0], lossOptions: { scaled: { scale: 2 } } }));
    const out = join(dir, 'out');
    const r = w2s('sweep', '--config', file, '--out', out, '--workers', '2', '--json');
    expect(r.status, r.stderr).toBe(0);
    const outcome = JSON.parse(r.stdout);
    expect(outcome.failed).toEqual([]);
    expect(outcome.summaries[0].transfer.map((t: { loss: string }) => t.loss)).toEqual(['xent', 'scaled']);
    const scaled = runsIn(out).map((run) => JSON.parse(readFileSync(join(out, 'runs', run, 'config.json'), 'utf8')).loss).filter((l) => l.name === 'scaled');
    expect(scaled).toMatchObject([{ name: 'scaled', options: { scale: 2 } }]);
    writeFileSync(file, vowelSweepConfig(csv, { losses: ['xent', './losses/scaled.mjs'], seeds: [0], lossOptions: { scaled: { scale: 20 } } }));
    const bad = w2s('sweep', '--config', file, '--out', out);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('lossOptions.scaled.scale must be a number in [0, 10], got 20');
    const queued = w2s('sweep', '--config', file, '--out', out, '--queue', 'redis://127.0.0.1:1');
    expect(queued.stderr).toMatch(/loss modules .*scaled\.mjs.* run in local sweeps only/);
  }, 300_000);

  it('rejects a bad sweep file naming the file and the field', () => {
    const bad = join(scratch, 'bad.json');
    writeFileSync(bad, JSON.stringify({ datasets: ['sst2'], models: ['nano'], losses: ['xent'], seeds: [0] }));
    let r = w2s('sweep', '--config', bad, '--out', join(scratch, 'bad'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${bad}: models must be at least two models`);
    writeFileSync(bad, JSON.stringify({ datasets: ['sst2'], pairs: [{ weak: 'nano', strong: 'micro' }], losses: ['xent'], seeds: [0], epochs: 2 }));
    r = w2s('sweep', '--config', bad, '--out', join(scratch, 'bad'));
    expect(r.stderr).toMatch(/"epochs" must be one of the known fields/);
    // The training settings take the bounds of the CLI's flags (--dropout: [0, 0.99]).
    writeFileSync(bad, JSON.stringify({ datasets: ['sst2'], pairs: [{ weak: 'nano', strong: 'micro' }], losses: ['xent'], seeds: [0], training: { dropout: 5 } }));
    r = w2s('sweep', '--config', bad, '--out', join(scratch, 'bad'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${bad}: training.dropout must be a number in [0, 0.99], got 5`);
    writeFileSync(bad, '{"datasets": [');
    r = w2s('sweep', '--config', bad, '--out', join(scratch, 'bad'));
    expect(r.stderr).toContain(`${bad} is not valid JSON`);
  });
});
