// `w2s demo` as a newcomer runs it, with a fresh cache: world, pretraining, runs, tables, report;
// then again, warm: everything reused. (One seed, to keep CI short: several minutes on 2 cores.)
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bin } from './fixtures.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-demo-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function demo(out: string) {
  const r = spawnSync(process.execPath, [bin, 'demo', '--seeds', '1', '--out', out], {
    encoding: 'utf8',
    timeout: 1_200_000,
    env: { ...process.env, W2S_CACHE_DIR: join(scratch, 'cache') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('w2s demo', () => {
  it('runs end to end from a cold cache, prints the PGR table and writes the report; a warm rerun reuses everything', () => {
    const out = join(scratch, 'out');
    const cold = demo(out);
    expect(cold.status, cold.stderr).toBe(0);
    expect(cold.stderr).toMatch(/pretraining nano/);
    expect(cold.stderr).toMatch(/pretraining mini/);
    expect(cold.stdout).toMatch(/Performance gap recovered \(PGR\)/);
    for (const pair of ['nano.*micro', 'nano.*mini', 'micro.*mini']) expect(cold.stdout).toMatch(new RegExp(`synthetic_world.*${pair}.*logconf`));
    expect(cold.stdout).toMatch(/10 runs trained, 0 reused/);
    const summaries = readdirSync(join(out, 'experiments'));
    expect(summaries.sort()).toEqual(['synthetic_world-micro-mini-seed0.summary.json', 'synthetic_world-nano-micro-seed0.summary.json', 'synthetic_world-nano-mini-seed0.summary.json']);
    const summary = JSON.parse(readFileSync(join(out, 'experiments', 'synthetic_world-micro-mini-seed0.summary.json'), 'utf8'));
    expect(summary.transfer.map((t: { loss: string }) => t.loss)).toEqual(['xent', 'logconf']);
    expect(existsSync(join(out, 'report', 'report.md'))).toBe(true);

    const warm = demo(join(scratch, 'again'));
    expect(warm.status, warm.stderr).toBe(0);
    expect(warm.stderr).toMatch(/reusing pretrained mini/);
    expect(warm.stdout).toMatch(/0 runs trained, 10 reused/);
    expect(JSON.parse(readFileSync(join(scratch, 'again', 'experiments', 'synthetic_world-micro-mini-seed0.summary.json'), 'utf8'))).toEqual(summary);
  }, 1_500_000);
});
