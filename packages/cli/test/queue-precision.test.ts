// `w2s sweep --queue --precision bf16` and workers of two precisions, on a real Redis server
// started here: the queued runs are planned in bf16; a float32 worker hands each one back without
// using an attempt (the job waits, attemptsMade unchanged); a bf16 worker then trains them all.
// --precision float32 plans the same sweep as no --precision; --device stays refused with --queue.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerPath, startRedis, type RedisServer } from '../../queue/test/redis-server.js';
import { QUEUE_NAME, QUEUE_PREFIX, type RunJobData, type SweepJobData } from '../../queue/src/jobs.js';
import { startW2s, stopChild, until, vowelSweepConfig, w2s, writeVowelCsv } from './fixtures.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-queue-precision-'));
const csv = join(scratch, 'vowels.csv');
const env = { ...process.env, W2S_CACHE_DIR: join(scratch, 'cache') };
// One seed, one loss: weak, ceiling and one transfer run.
const RUNS = 3;

function start(...args: string[]) {
  return startW2s({ env, cwd: scratch }, ...args);
}

const sweepIdOf = (stderr: string) => stderr.match(/sweep ([0-9a-f]{16}): (?:enqueued|attached)/)?.[1];

describe.skipIf(!redisServerPath)('w2s sweep --queue --precision with workers of two precisions', () => {
  let redis: RedisServer;
  let config: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    writeVowelCsv(csv, 120, 3);
    config = join(scratch, 'sweep.json');
    writeFileSync(config, vowelSweepConfig(csv, { seeds: [0], losses: ['xent'], nTest: 40 }));
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(children.map(stopChild));
    await redis?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('a bf16 sweep: a float32 worker hands its runs back with their attempts untouched; a bf16 worker trains them', async () => {
    const float32 = start('worker', '--queue', redis.url, '--threads', '1', '--lock-seconds', '2', '--store', join(scratch, 'store-float32'));
    children.push(float32.child);
    await until('the float32 worker to connect', () => float32.out.stderr.includes('taking jobs'));
    const out = join(scratch, 'bf16');
    const sweep = start('sweep', '--config', config, '--out', out, '--queue', redis.url, '--precision', 'bf16', '--json');
    children.push(sweep.child);
    await until('the sweep to be enqueued', () => sweepIdOf(sweep.out.stderr) !== undefined);
    const sweepId = sweepIdOf(sweep.out.stderr)!;

    // The runs that need no supervisor (weak, ceiling) are in the queue: each handed back, said once.
    const handedBack = () => [...float32.out.stderr.matchAll(/handed back (\S+): it is planned in bf16, this worker computes in float32/g)].map((m) => m[1]);
    await until('the float32 worker to hand both runs back', () => new Set(handedBack()).size === 2, 30_000);
    expect(float32.out.stderr).toContain('it waits in the queue, its attempts untouched, for a `w2s worker --precision bf16`');
    // Long enough for the worker to take them again after their delay (2 s): still not one attempt used.
    await new Promise((r) => setTimeout(r, 4_500));
    expect(handedBack()).toHaveLength(2); // said once per run
    const queue = new Queue<RunJobData | SweepJobData>(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port }, prefix: QUEUE_PREFIX });
    try {
      const jobs = (await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed'])).filter((j) => j.data.sweepId === sweepId && j.data.kind !== 'sweep');
      expect(jobs).toHaveLength(2);
      for (const job of jobs) {
        const data = job.data as RunJobData;
        expect(data.node.config.precision).toBe('bf16');
        expect(job.attemptsMade).toBe(0);
        expect(job.failedReason ?? '').toBe('');
        expect(['waiting', 'prioritized', 'delayed', 'active']).toContain(await job.getState());
      }
    } finally {
      await queue.close();
    }
    expect(float32.out.stderr).not.toMatch(/started |failed /);

    const bf16 = start('worker', '--queue', redis.url, '--precision', 'bf16', '--threads', '1', '--lock-seconds', '2', '--store', join(scratch, 'store-bf16'));
    children.push(bf16.child);
    const finished = await sweep.exited;
    expect(finished.status, sweep.out.stderr).toBe(0);
    const outcome = JSON.parse(sweep.out.stdout);
    expect(outcome.failed).toEqual([]);
    expect(outcome.runsComputed).toHaveLength(RUNS);
    // Neither a hand-back nor a completion is shown as a failed attempt.
    expect(sweep.out.stderr).not.toContain('an attempt failed');
    // Every run trained by the bf16 worker at its first attempt, none by the float32 one.
    for (const name of outcome.runsComputed as string[]) {
      expect(bf16.out.stderr).toContain(`started ${name} (attempt 1 of 3)`);
      expect(bf16.out.stderr).toMatch(new RegExp(`trained ${name} in `));
      expect(JSON.parse(readFileSync(join(out, 'runs', name, 'config.json'), 'utf8')).precision).toBe('bf16');
    }
    expect(float32.out.stderr).not.toMatch(/started |trained |failed /);
    await Promise.all([stopChild(float32.child), stopChild(bf16.child)]);
  }, 300_000);

  it('--precision float32 plans the same sweep as no --precision (another than the bf16 one); --device is refused with --queue', async () => {
    const enqueue = async (...extra: string[]) => {
      const sweep = start('sweep', '--config', config, '--out', join(scratch, 'float32'), '--queue', redis.url, ...extra);
      await until('the sweep to be enqueued', () => sweepIdOf(sweep.out.stderr) !== undefined, 60_000);
      sweep.child.kill('SIGINT');
      expect((await sweep.exited).status).toBe(130);
      return sweep.out.stderr;
    };
    const explicit = await enqueue('--precision', 'float32');
    expect(explicit).toContain(`enqueued, ${RUNS} runs`);
    const implicit = await enqueue();
    expect(implicit).toContain('attached to the sweep already in the queue');
    expect(sweepIdOf(implicit)).toBe(sweepIdOf(explicit));
    const bf16 = w2s('sweep', '--config', config, '--out', join(scratch, 'bf16'), '--queue', redis.url, '--precision', 'bf16', '--json');
    expect(bf16.status, bf16.stderr).toBe(0); // the finished bf16 sweep, attached to
    expect(JSON.parse(bf16.stdout).queue.sweepId).not.toBe(sweepIdOf(explicit));

    const device = w2s('sweep', '--config', config, '--out', join(scratch, 'x'), '--queue', redis.url, '--device', 'cuda');
    expect(device.status).not.toBe(0);
    expect(device.stderr).toContain('--device belongs to a local sweep; with --queue, the workers train where `w2s worker --device` says');
  }, 120_000);
});
