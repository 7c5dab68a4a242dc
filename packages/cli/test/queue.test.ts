// `w2s sweep --queue` and `w2s worker` as users run them, on a real Redis server started here:
// a grid trained by two worker processes, one killed with SIGKILL mid-job (its run is retried by
// the other once the lock expires), every run completed exactly once, the results equal to a local
// sweep's; re-running the sweep attaches to it; a run with bad data fails once, visibly, without
// retries; the shared-folder artifact mode; and a Redis server that is missing or refusing.
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, redisServerPath, startRedis, type RedisServer } from '../../queue/test/redis-server.js';
import { startW2s, stopChild, sweepSummaries, until, vowelSweepConfig, w2s, writeVowelCsv } from './fixtures.js';

const cuda = (createRequire(import.meta.url)('@w2s/native') as typeof import('@w2s/native')).backendInfo();
const scratch = mkdtempSync(join(tmpdir(), 'w2s-queue-cli-'));
const csv = join(scratch, 'vowels.csv');
const env = { ...process.env, W2S_CACHE_DIR: join(scratch, 'cache') };
// Per seed: weak, ceiling and two transfer runs.
const DISTINCT_RUNS = 8;

function writeConfig(name: string, fields: Record<string, unknown>): string {
  const file = join(scratch, name);
  writeFileSync(file, vowelSweepConfig(csv, fields));
  return file;
}

/** A long-running `w2s ...` child, its output collected. */
function start(...args: string[]) {
  return startIn({ cwd: scratch }, ...args);
}

function startIn(where: { cwd: string; detached?: boolean; env?: NodeJS.ProcessEnv }, ...args: string[]) {
  return startW2s({ env, ...where }, ...args);
}

function startWorker(queue: string, name: string, ...extra: string[]) {
  return start('worker', '--queue', queue, '--threads', '1', '--lock-seconds', '2', '--store', join(scratch, `store-${name}`), ...extra);
}

/** The runs a worker's log says it trained (not reused). */
function trainedBy(log: string): string[] {
  return [...log.matchAll(/: trained (\S+) in /g)].map((m) => m[1]);
}

describe.skipIf(!redisServerPath)('w2s sweep --queue with w2s worker', () => {
  let redis: RedisServer;
  let longConfig: string;
  let shortConfig: string;
  const workers: ChildProcess[] = [];
  beforeAll(async () => {
    writeVowelCsv(csv, 240, 3);
    // Runs of a few seconds each, so that a worker can be killed in the middle of one.
    longConfig = writeConfig('long.json', { training: { epochs: 40, batchSize: 16, minibatchSize: 16, lr: 1e-3 } });
    shortConfig = writeConfig('short.json', {});
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(workers.map(stopChild));
    await redis?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('two workers, one killed with SIGKILL mid-job: every run completes exactly once, and the results equal a local sweep', async () => {
    const local = w2s('sweep', '--config', longConfig, '--out', join(scratch, 'local'), '--threads', '1', '--json');
    expect(local.status, local.stderr).toBe(0);

    const doomed = startWorker(redis.url, 'doomed');
    const survivor = startWorker(redis.url, 'survivor');
    workers.push(doomed.child, survivor.child);
    await until('both workers to connect', () => doomed.out.stderr.includes('taking jobs') && survivor.out.stderr.includes('taking jobs'));
    const out = join(scratch, 'queued');
    const sweep = start('sweep', '--config', longConfig, '--out', out, '--queue', redis.url, '--json');

    // Kill the doomed worker while a run is in its hands: stop it (SIGSTOP: it can do nothing more)
    // once it has started a run, and look in its store, which it can no longer change: if that run
    // is not complete there (metrics.json, written before the artifact is uploaded and the run
    // logged as trained), it is in hand; otherwise let the worker go on to its next run.
    const startedBy = (log: string) => [...log.matchAll(/started (\S+)/g)].map((m) => m[1]);
    let inHand: string | undefined;
    while (inHand === undefined) {
      const seen = startedBy(doomed.out.stderr).length;
      await until('the doomed worker to start a run', () => startedBy(doomed.out.stderr).length > seen);
      doomed.child.kill('SIGSTOP');
      const latest = startedBy(doomed.out.stderr).at(-1)!;
      if (!existsSync(join(scratch, 'store-doomed', 'runs', latest, 'metrics.json'))) inHand = latest;
      else doomed.child.kill('SIGCONT');
    }
    doomed.child.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');
    expect(trainedBy(doomed.out.stderr)).not.toContain(inHand);

    const finished = await sweep.exited;
    expect(finished.status, sweep.out.stderr).toBe(0);
    const outcome = JSON.parse(sweep.out.stdout);
    expect(outcome.failed).toEqual([]);
    expect(outcome.runsComputed).toHaveLength(DISTINCT_RUNS);
    // Exactly once: across both workers each run was trained once; the killed run by the survivor.
    const trained = [...trainedBy(doomed.out.stderr), ...trainedBy(survivor.out.stderr)];
    expect(trained.sort()).toEqual([...outcome.runsComputed].sort());
    expect(new Set(trained).size).toBe(DISTINCT_RUNS);
    expect(trainedBy(survivor.out.stderr)).toContain(inHand);
    expect(survivor.out.stderr).toMatch(new RegExp(`started ${inHand} \\(attempt 1 of 3, after 1 lost worker\\)`));
    expect(sweep.out.stderr).toContain(`${inHand} lost its worker`);

    // The same numbers as the local sweep, and the same report.
    expect(sweepSummaries(out)).toEqual(sweepSummaries(join(scratch, 'local')));
    const [queuedReport, localReport] = [w2s('report', out, '--json'), w2s('report', join(scratch, 'local'), '--json')];
    expect(queuedReport.status, queuedReport.stderr).toBe(0);
    expect(JSON.parse(queuedReport.stdout).tables).toEqual(JSON.parse(localReport.stdout).tables);
    expect(JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).queue).toEqual({ url: redis.url, sweepId: outcome.queue.sweepId });

    // The same command again attaches to the finished sweep: nothing is enqueued or trained again.
    const trainedBefore = trainedBy(survivor.out.stderr).length;
    const again = w2s('sweep', '--config', longConfig, '--out', out, '--queue', redis.url, '--json');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toContain(`sweep ${outcome.queue.sweepId}: attached to the sweep already in the queue`);
    expect(JSON.parse(again.stdout).runsComputed.sort()).toEqual([...outcome.runsComputed].sort());
    expect(trainedBy(survivor.out.stderr)).toHaveLength(trainedBefore);

    // Ctrl-C: the worker stops cleanly.
    survivor.child.kill('SIGINT');
    expect((await survivor.exited).status).toBe(0);
    expect(survivor.out.stderr).toContain('SIGINT: finishing the run in hand, then stopping');
  }, 600_000);

  it("a run that fails for a reason of its own (bad data) fails once, not retried, its error in the sweep's display, sweep.json and report", async () => {
    const worker = startWorker(redis.url, 'bad-data');
    workers.push(worker.child);
    const badConfig = writeConfig('bad.json', { datasets: [{ path: csv, textColumn: 'no_such_column', labelColumn: 'label' }], seeds: [0] });
    const out = join(scratch, 'bad');
    const r = w2s('sweep', '--config', badConfig, '--out', out, '--queue', redis.url, '--json');
    expect(r.status).toBe(1);
    const failed: { name: string; message: string }[] = JSON.parse(r.stdout).failed;
    expect(failed).toHaveLength(4);
    const own = failed.filter((f) => /no column named "no_such_column"/.test(f.message));
    expect(own.map((f) => f.name.replace(/-[0-9a-f]{16}$/, '')).sort()).toEqual(['vowels_csv-ceiling', 'vowels_csv-weak']);
    expect(failed.filter((f) => f.message === 'its supervisor failed')).toHaveLength(2);
    // (w2s() blocked this process: let the worker's log catch up.)
    await until("the worker's log", () => own.every(({ name }) => worker.out.stderr.includes(`failed ${name}`)), 10_000);
    for (const { name } of own) {
      expect(r.stderr).toContain(`failed ${name}: `);
      expect(worker.out.stderr.match(new RegExp(`started ${name}`, 'g'))).toHaveLength(1);
    }
    expect(worker.out.stderr).toContain("(the run's own error: not retried)");
    expect(JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).failed).toEqual(failed);
    const report = w2s('report', out);
    expect(report.status).toBe(1); // no experiment could be summarised
    expect(report.stderr).toContain(`failed run ${own[0].name}: `);
    await stopChild(worker.child);
  }, 300_000);

  it('a checkpoint is found by content hash: a worker without a copy says so (retried, then failed); --requeue retries with a worker that has one', async () => {
    // The sweep's machine knows the checkpoint as launch/ckpt; the worker's working folder has no such path.
    const launch = join(scratch, 'launch');
    const corpus = join(scratch, 'corpus.txt');
    writeFileSync(corpus, 'the quick brown fox jumps over the lazy dog. '.repeat(200));
    const pre = w2s('pretrain', '--corpus', corpus, '--model', 'nano', '--tokens', '2048', '--seq-len', '32', '--batch-size', '4', '--out', join(launch, 'ckpt'), '--threads', '1');
    expect(pre.status, pre.stderr).toBe(0);
    const config = writeConfig('checkpoint.json', { models: undefined, pairs: [{ weak: 'nano', strong: 'ckpt' }], losses: ['xent'], seeds: [0] });
    const out = join(scratch, 'checkpoint-sweep');
    const lacking = startWorker(redis.url, 'lacking');
    workers.push(lacking.child);
    const first = startIn({ cwd: launch }, 'sweep', '--config', config, '--out', out, '--queue', redis.url, '--attempts', '2', '--json');
    expect((await first.exited).status, first.out.stderr).toBe(1);
    const failed: { name: string; message: string }[] = JSON.parse(first.out.stdout).failed;
    expect(failed.map((f) => f.name.replace(/-[0-9a-f]{16}$/, '')).sort()).toEqual(['vowels_csv-ceiling', 'vowels_csv-transfer']);
    for (const f of failed) expect(f.message).toMatch(/^this worker has no copy of checkpoint ckpt \(content sha256:[0-9a-f]{64}\): ckpt does not exist here; no --checkpoints folder given/);
    expect(first.out.stderr).toMatch(/: an attempt failed \(this worker has no copy of checkpoint ckpt .*\); tried again/);
    await until("the worker's log", () => lacking.out.stderr.includes('no attempts left'), 10_000);
    expect(lacking.out.stderr).toContain("(this machine's problem: retried)");
    await stopChild(lacking.child);

    const equipped = startWorker(redis.url, 'equipped', '--checkpoints', launch);
    workers.push(equipped.child);
    const second = startIn({ cwd: launch }, 'sweep', '--config', config, '--out', out, '--queue', redis.url, '--requeue', '--json');
    expect((await second.exited).status, second.out.stderr).toBe(0);
    const outcome = JSON.parse(second.out.stdout);
    expect(outcome.failed).toEqual([]);
    expect(outcome.runsComputed.map((n: string) => n.replace(/-[0-9a-f]{16}$/, '')).sort()).toEqual(['vowels_csv-ceiling', 'vowels_csv-transfer']);
    expect(outcome.runsReused.map((n: string) => n.replace(/-[0-9a-f]{16}$/, ''))).toEqual(['vowels_csv-weak']);
    expect(sweepSummaries(out)['vowels.csv-nano-ckpt-seed0.summary.json']).toMatchObject({ ceiling: { model: 'ckpt' } });
    await stopChild(equipped.child);
  }, 300_000);

  it('--artifacts shared: the workers write the runs into the sweep folder itself; the results equal a local sweep', async () => {
    // A worker that does not see the sweep's folder at that path (here: its mark removed) says so.
    const unmounted = join(scratch, 'unmounted');
    const lone = start('sweep', '--config', writeConfig('unmounted.json', { seeds: [7] }), '--out', unmounted, '--queue', redis.url, '--artifacts', 'shared', '--attempts', '1', '--json');
    await until('the sweep to be enqueued', () => lone.out.stderr.includes('enqueued'));
    rmSync(join(unmounted, '.w2s-sweeps'), { recursive: true });
    const blind = startWorker(redis.url, 'blind');
    workers.push(blind.child);
    expect((await lone.exited).status).toBe(1);
    const { failed, queue } = JSON.parse(lone.out.stdout);
    const mark = join(unmounted, '.w2s-sweeps', queue.sweepId);
    expect(failed[0].message).toBe(`${unmounted} on this machine is not the sweep's shared folder (it lacks ${mark}): mount the folder at that path`);
    await stopChild(blind.child);

    const worker = startWorker(redis.url, 'shared');
    workers.push(worker.child);
    const out = join(scratch, 'shared-folder');
    const r = w2s('sweep', '--config', shortConfig, '--out', out, '--queue', redis.url, '--artifacts', 'shared', '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).runsComputed).toHaveLength(DISTINCT_RUNS);
    // Trained straight into the shared folder, not into the worker's own store.
    expect(existsSync(join(scratch, 'store-shared', 'runs'))).toBe(false);
    const local = w2s('sweep', '--config', shortConfig, '--out', join(scratch, 'shared-local'), '--threads', '1', '--json');
    expect(local.status, local.stderr).toBe(0);
    expect(sweepSummaries(out)).toEqual(sweepSummaries(join(scratch, 'shared-local')));

    // Queued on a folder whose runs are all finished: they are handed to the workers, not retrained.
    const seeded = w2s('sweep', '--config', shortConfig, '--out', join(scratch, 'shared-local'), '--queue', redis.url, '--json');
    expect(seeded.status, seeded.stderr).toBe(0);
    expect(JSON.parse(seeded.stdout).runsReused, seeded.stdout).toHaveLength(DISTINCT_RUNS);
    await until("the worker's log", () => (worker.out.stderr.match(/: reused /g) ?? []).length === DISTINCT_RUNS, 10_000);
    expect(trainedBy(worker.out.stderr)).toHaveLength(DISTINCT_RUNS); // only the shared-folder sweep's
    await stopChild(worker.child);
  }, 300_000);

  it('Ctrl-C stops following, not the sweep: the same command attaches later; a second Ctrl-C stops a worker at once; --concurrency 2 runs two worker processes, replaces one that dies, and stops on a terminal Ctrl-C', async () => {
    const config = writeConfig('interrupted.json', { seeds: [5], training: { epochs: 40, batchSize: 16, minibatchSize: 16, lr: 1e-3 } });
    const out = join(scratch, 'interrupted');
    const first = start('sweep', '--config', config, '--out', out, '--queue', redis.url);
    await until('the sweep to be enqueued', () => first.out.stderr.includes('enqueued, 4 runs'));
    first.child.kill('SIGINT');
    expect((await first.exited).status).toBe(130);
    expect(first.out.stderr).toMatch(/stopped following sweep [0-9a-f]{16}: it goes on in the queue at redis:\/\/127\.0\.0\.1:\d+; the same command attaches to it again/);

    // Ctrl-C twice: the worker gives up the run in hand at once (it goes back to the queue).
    const hasty = startWorker(redis.url, 'hasty');
    workers.push(hasty.child);
    await until('the worker to start a run', () => /started \S+/.test(hasty.out.stderr));
    hasty.child.kill('SIGINT');
    await until('the first Ctrl-C to be heard', () => hasty.out.stderr.includes('SIGINT: finishing the run in hand'));
    hasty.child.kill('SIGINT');
    expect((await hasty.exited).status).toBe(130);
    expect(hasty.out.stderr).toContain('SIGINT again: stopping now');
    expect(trainedBy(hasty.out.stderr)).toEqual([]);

    const pool = startIn({ cwd: scratch, detached: true }, 'worker', '--queue', redis.url, '--concurrency', '2', '--threads', '1', '--lock-seconds', '2', '--store', join(scratch, 'store-pool'));
    workers.push(pool.child);
    const taking = () => [...pool.out.stderr.matchAll(/w2s worker (\d+): taking jobs/g)].map((m) => Number(m[1]));
    await until('two worker processes', () => taking().length === 2);
    process.kill(taking()[0], 'SIGKILL');
    await until('a replacement process', () => taking().length === 3);
    expect(pool.out.stderr).toContain(`process ${taking()[0]} died (SIGKILL); starting another`);

    const second = w2s('sweep', '--config', config, '--out', out, '--queue', redis.url, '--json');
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toContain('attached to the sweep already in the queue');
    expect(JSON.parse(second.stdout).runsComputed).toHaveLength(4);
    // A terminal's Ctrl-C reaches the whole process group: each worker process hears it once.
    process.kill(-pool.child.pid!, 'SIGINT');
    expect((await pool.exited).status).toBe(0);
    expect(pool.out.stderr.match(/SIGTERM: finishing the run in hand/g)).toHaveLength(2);
    expect(pool.out.stderr).not.toContain('again: stopping now');
  }, 300_000);

  it('Redis restarted without its data while a sweep is followed: the follower says it hears nothing, then that the sweep is gone, and exits', async () => {
    const own = await startRedis();
    const follower = start('sweep', '--config', writeConfig('vanishing.json', { seeds: [13] }), '--out', join(scratch, 'vanishing'), '--queue', own.url);
    try {
      await until('the sweep to be enqueued', () => follower.out.stderr.includes('enqueued'));
      await own.stop();
      await until('the follower to notice', () => follower.out.stderr.includes(`no answer from ${own.url} for`), 60_000);
      const restarted = await startRedis([], own.port);
      const { status } = await follower.exited;
      await restarted.stop();
      expect(status).toBe(1);
      expect(follower.out.stderr).toMatch(new RegExp(`w2s: sweep [0-9a-f]{16} is no longer in the queue at ${own.url} \\(Redis restarted without persistence`));
    } finally {
      follower.child.kill('SIGKILL');
      await own.stop();
    }
  }, 180_000);

  it('Redis missing or refusing: the sweep and the worker fail with the URL (password hidden) and the refusal, no hang', async () => {
    const port = await freePort();
    for (const args of [
      ['sweep', '--config', shortConfig, '--out', join(scratch, 'nowhere'), '--queue', `redis://:hunter2@127.0.0.1:${port}`],
      ['worker', '--queue', `redis://:hunter2@127.0.0.1:${port}`],
    ]) {
      const r = w2s(...args); // a hang would end at w2s()'s limit, killed: status null, not 1
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(`w2s: cannot use the Redis server at redis://:***@127.0.0.1:${port}: `);
      expect(r.stderr).toMatch(/ECONNREFUSED/); // the refusal itself, not a timeout
      expect(r.stderr).not.toContain('hunter2');
    }
    const guarded = await startRedis(['--requirepass', 'letmein']);
    try {
      const r = w2s('sweep', '--config', shortConfig, '--out', join(scratch, 'refused'), '--queue', guarded.url);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`cannot use the Redis server at ${guarded.url}: .*NOAUTH`));
    } finally {
      await guarded.stop();
    }
    expect(w2s('sweep', '--config', shortConfig, '--out', join(scratch, 'x'), '--queue', 'http://127.0.0.1:1').stderr).toContain('the scheme http: is not redis: or rediss:');
    expect(w2s('sweep', '--config', shortConfig, '--out', join(scratch, 'x'), '--queue', redis.url, '--workers', '2').stderr).toContain('--workers and --threads belong to a local sweep');
    expect(w2s('sweep', '--config', shortConfig, '--out', join(scratch, 'x'), '--attempts', '2').stderr).toContain('--artifacts, --attempts and --requeue belong to a sweep on a queue');
  }, 120_000);

  it('a run whose worker is killed mid-run again and again fails as stalled after MAX_STALLS (3) returns to the queue; its dependents fail with it', async () => {
    const own = await startRedis();
    const config = writeConfig('stalling.json', { seeds: [21], losses: ['xent'], training: { epochs: 40, batchSize: 16, minibatchSize: 16, lr: 1e-3 } });
    const sweep = start('sweep', '--config', config, '--out', join(scratch, 'stalling'), '--queue', own.url, '--attempts', '3', '--json');
    let ended = false;
    void sweep.exited.then(() => (ended = true));
    const kills = new Map<string, number>();
    try {
      // One worker at a time, each killed while it holds a run (stopped once it logs the start;
      // killed only if that run is not complete in its store, as in the first test), until the
      // sweep ends. A new worker's stalled-job check returns the dead one's run to the queue.
      for (let i = 0; !ended; i++) {
        expect(i, 'workers started').toBeLessThan(30);
        const worker = startWorker(own.url, `stall-${i}`);
        workers.push(worker.child);
        const startedBy = () => [...worker.out.stderr.matchAll(/started (\S+)/g)].map((m) => m[1]);
        let killed = false;
        while (!killed && !ended) {
          const seen = startedBy().length;
          await until('a worker to start a run, or the sweep to end', () => startedBy().length > seen || ended);
          if (ended) break;
          worker.child.kill('SIGSTOP');
          const latest = startedBy().at(-1)!;
          if (existsSync(join(scratch, `store-stall-${i}`, 'runs', latest, 'metrics.json'))) worker.child.kill('SIGCONT');
          else {
            worker.child.kill('SIGKILL');
            await worker.exited;
            kills.set(latest, (kills.get(latest) ?? 0) + 1);
            killed = true;
          }
        }
        if (!killed) await stopChild(worker.child);
      }
      const { status } = await sweep.exited;
      expect(status, sweep.out.stderr).toBe(1);
      const failed: { name: string; message: string }[] = JSON.parse(sweep.out.stdout).failed;
      const byRole = (role: string) => failed.filter((f) => f.name.includes(`-${role}-`));
      // The roots (weak and ceiling) were killed in hand each time they were taken: returned to the
      // queue three times, failed as stalled at the fourth loss. The transfer never ran.
      for (const role of ['weak', 'ceiling']) {
        const [run] = byRole(role);
        expect(run, `${role} failed`).toBeDefined();
        expect(run.message).toMatch(/stalled/);
        expect(kills.get(run.name), `${run.name} killed in hand`).toBe(4);
        expect(sweep.out.stderr).toContain(`${run.name} lost its worker`);
      }
      expect(byRole('transfer').map((f) => f.message)).toEqual(['its supervisor failed']);
      expect(failed).toHaveLength(3);
    } finally {
      sweep.child.kill('SIGKILL');
      await own.stop();
    }
  }, 300_000);

  it('W2S_REDIS_PASSWORD: the worker and the sweep use it where the URL has none', async () => {
    const secret = 'from-the-environment';
    const guarded = await startRedis(['--requirepass', secret]);
    const withSecret = { ...env, W2S_REDIS_PASSWORD: secret };
    const worker = startIn({ cwd: scratch, env: withSecret }, 'worker', '--queue', guarded.url, '--threads', '1', '--lock-seconds', '2', '--store', join(scratch, 'store-password'));
    workers.push(worker.child);
    try {
      // Without it, and with a wrong one: refused by the server, naming the URL.
      for (const password of [undefined, 'wrong']) {
        const r = startIn({ cwd: scratch, env: { ...env, W2S_REDIS_PASSWORD: password } }, 'worker', '--queue', guarded.url);
        expect((await r.exited).status, `W2S_REDIS_PASSWORD=${password}`).toBe(1);
        expect(r.out.stderr, `W2S_REDIS_PASSWORD=${password}`).toMatch(new RegExp(`cannot use the Redis server at ${guarded.url}: .*(NOAUTH|WRONGPASS)`));
      }
      await until('the worker with the password to take jobs', () => worker.out.stderr.includes('taking jobs'));
      const sweep = startIn({ cwd: scratch, env: withSecret }, 'sweep', '--config', shortConfig, '--out', join(scratch, 'password'), '--queue', guarded.url, '--json');
      const { status } = await sweep.exited;
      expect(status, sweep.out.stderr).toBe(0);
      const outcome = JSON.parse(sweep.out.stdout);
      expect(outcome.failed).toEqual([]);
      expect(trainedBy(worker.out.stderr).sort()).toEqual([...outcome.runsComputed].sort());
      expect(outcome.runsComputed).toHaveLength(DISTINCT_RUNS);
    } finally {
      await stopChild(worker.child);
      await guarded.stop();
    }
  }, 180_000);

  // Whether a GPU is usable here decides which of the two holds (as in device.test.ts).
  it.skipIf(cuda.cudaAvailable)('w2s worker --device cuda without a usable GPU fails at once with the reason', () => {
    const r = w2s('worker', '--queue', redis.url, '--device', 'cuda');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`--device cuda: CUDA is unavailable here: ${cuda.cudaReason}`);
  });

  it.runIf(cuda.cudaAvailable)('w2s worker --device cuda with a usable GPU takes jobs, and stops on Ctrl-C', async () => {
    const worker = startWorker(redis.url, 'cuda', '--device', 'cuda');
    workers.push(worker.child);
    await until('the cuda worker to take jobs', () => worker.out.stderr.includes('taking jobs'));
    worker.child.kill('SIGINT');
    expect((await worker.exited).status, worker.out.stderr).toBe(0);
  });
});
