// `w2s demo` as a newcomer runs it, with a fresh cache: world, pretraining, runs, tables, report,
// and the demo's bar on its default seed (each weak model a real supervisor, each ceiling clearly
// above it, PGR above 0 with every loss and at least 0.20 with xent), computed here from the
// summaries; then again, warm: everything reused. `--seed` is checked on the seconds-long smoke
// design: another seed is another world, pretraining and split, with caches that never mix.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bin } from './fixtures.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-demo-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function demo(out: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, 'demo', '--out', out, ...args], {
    encoding: 'utf8',
    timeout: 1_200_000,
    env: { ...process.env, W2S_CACHE_DIR: join(scratch, 'cache') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Scores {
  model: string;
  accuracy: number;
}
interface Summary {
  dataset: string;
  seed: number;
  weak: Scores;
  ceiling: Scores;
  transfer: (Scores & { loss: string })[];
  counts: { test: number };
}

function summariesIn(out: string): Summary[] {
  const dir = join(out, 'experiments');
  return readdirSync(dir).map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Summary);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const PAIRS = [{ weak: 'micro', strong: 'mini' }];
const SEEDS = 3;

describe('w2s demo', () => {
  it('runs end to end from a cold cache, meets its bar on the default seed and writes the report; a warm rerun reuses everything', () => {
    const out = join(scratch, 'out');
    const cold = demo(out);
    expect(cold.status, cold.stderr).toBe(0);
    for (const size of ['micro', 'mini']) expect(cold.stderr).toMatch(new RegExp(`pretraining ${size} `));
    expect(cold.stdout).toMatch(/Performance gap recovered \(PGR\) on accuracy, per model pair/);
    for (const { weak, strong } of PAIRS) expect(cold.stdout).toMatch(new RegExp(`synthetic_world:0 .*${weak} .*${strong} .*logconf`));
    // Per seed: a weak model for each pair, one ceiling, two losses for each pair.
    const runs = SEEDS * (PAIRS.length + 1 + 2 * PAIRS.length);
    expect(cold.stdout).toMatch(new RegExp(`${runs} runs trained, 0 reused`));
    expect(existsSync(join(out, 'report', 'report.md'))).toBe(true);

    const summaries = summariesIn(out);
    expect(summaries).toHaveLength(PAIRS.length * SEEDS);
    for (const { weak, strong } of PAIRS) {
      const pair = summaries.filter((s) => s.weak.model === weak && s.ceiling.model === strong);
      expect(pair.map((s) => s.seed).sort()).toEqual([0, 1, 2]);
      expect(pair.every((s) => s.dataset === 'synthetic_world:0' && s.counts.test >= 400)).toBe(true);
      const weakAccuracy = median(pair.map((s) => s.weak.accuracy));
      const gap = median(pair.map((s) => s.ceiling.accuracy - s.weak.accuracy));
      const pgr = (loss: string) =>
        median(pair.map((s) => (s.transfer.find((t) => t.loss === loss)!.accuracy - s.weak.accuracy) / (s.ceiling.accuracy - s.weak.accuracy)));
      const label = `${weak} → ${strong}: weak ${weakAccuracy}, gap ${gap}, PGR xent ${pgr('xent')}, logconf ${pgr('logconf')}`;
      expect(weakAccuracy, label).toBeGreaterThanOrEqual(0.6);
      expect(gap, label).toBeGreaterThanOrEqual(0.1);
      expect(pgr('xent'), label).toBeGreaterThanOrEqual(0.2);
      expect(pgr('logconf'), label).toBeGreaterThan(0);
    }

    const warm = demo(join(scratch, 'again'));
    expect(warm.status, warm.stderr).toBe(0);
    expect(warm.stderr).toMatch(/reusing pretrained mini/);
    expect(warm.stdout).toMatch(new RegExp(`0 runs trained, ${runs} reused`));
    const key = 'synthetic_world_0-micro-mini-seed0.summary.json';
    expect(JSON.parse(readFileSync(join(scratch, 'again', 'experiments', key), 'utf8'))).toEqual(JSON.parse(readFileSync(join(out, 'experiments', key), 'utf8')));
  }, 1_500_000);

  it('--seed draws another world, pretraining and splits, cached apart (smoke design)', () => {
    const seeded = (seed: number, out: string) => demo(join(scratch, out), '--smoke', '--seeds', '1', '--seed', String(seed));
    const first = seeded(1, 'seed1');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/generated world 1/);
    const second = seeded(2, 'seed2');
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/generated world 2/);
    expect(second.stderr).not.toMatch(/reusing/);
    const [one] = summariesIn(join(scratch, 'seed1'));
    const [two] = summariesIn(join(scratch, 'seed2'));
    // Experiment seeds N·1000 + i, and each world its own dataset name.
    expect([one.seed, two.seed]).toEqual([1000, 2000]);
    expect(one.dataset).not.toEqual(two.dataset);
    expect(one.dataset).toMatch(/^synthetic_world:1~/);
    const again = seeded(1, 'seed1-again');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/reusing world 1/);
    expect(again.stdout).toMatch(/0 runs trained/);
    expect(summariesIn(join(scratch, 'seed1-again'))).toEqual([one]);
  }, 300_000);

  it('refuses a --seed that is not an integer in range, naming the flag', () => {
    for (const bad of ['-1', '1.5', 'x', '1000001']) {
      const r = demo(join(scratch, 'bad'), '--seed', bad);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/--seed/);
    }
  });
});
