// The queue's follower under the sweep scheduler, over a scripted stand-in for BullMQ's queue (no
// Redis): what each poll's reading of the jobs becomes (a run started, lost, retried, finished or
// failed), the dependents it follows once their supervisor is done, and a sweep gone from the queue.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Queue } from 'bullmq';
import { ResultsStore, schedule, type RunConfig, type RunCounts, type RunNode } from '@w2s/pipeline';
import { QueueFollower, QueuedSweepError, runJobId, sweepJobId, type RedisArtifacts, type RunJobResult } from '../src/index.js';
import { progressRecorder } from '../../pipeline/test/progress-recorder.js';

const SWEEP = 'abc123';

/** A job as the follower reads it. */
interface FakeJob {
  state: 'waiting' | 'delayed' | 'active' | 'waiting-children' | 'completed' | 'failed';
  attemptsMade?: number;
  stalledCounter?: number;
  failedReason?: string;
  processedBy?: string;
  returnvalue?: RunJobResult;
  released?: RunJobResult;
  progress?: { step: number; totalSteps: number; loss: number };
}

/** The jobs at each poll (a poll starts by reading the sweep's root job); the last poll's stay. */
function scriptedQueue(polls: Record<string, FakeJob>[], { rootGoneAt = Infinity, onPoll = (_poll: number) => undefined as void } = {}) {
  let poll = -1;
  const jobs = () => polls[Math.min(poll, polls.length - 1)];
  const read = (id: string) => {
    const job = jobs()[id];
    if (!job) return undefined;
    return {
      attemptsMade: job.attemptsMade ?? 0,
      stalledCounter: job.stalledCounter ?? 0,
      failedReason: job.failedReason,
      processedBy: job.processedBy,
      returnvalue: job.returnvalue,
      progress: job.progress ?? 0,
      data: { released: job.released },
      getState: async () => job.state,
    };
  };
  const queue = {
    getJob: async (id: string) => {
      if (id !== sweepJobId(SWEEP)) return read(id);
      onPoll(++poll);
      return poll >= rootGoneAt ? undefined : { id };
    },
    getRanges: async (lists: string[]) => Object.keys(jobs()).filter((id) => lists.includes(jobs()[id].state)),
    getWorkersCount: async () => 2,
  };
  return { queue: queue as unknown as Queue, polls: () => poll + 1 };
}

function node(name: string, dependents: RunNode[] = [], supervisor: RunConfig | null = null): RunNode {
  return { name, config: { role: name, supervisor } as unknown as RunConfig, data: { dataset: 'd' }, dependents };
}

function follower(queue: Queue) {
  const downloaded: string[] = [];
  const redisArtifacts = { download: async (config: RunConfig) => (downloaded.push(config.role), true) } as unknown as RedisArtifacts;
  const troubles: string[] = [];
  const f = new QueueFollower(queue, {
    sweepId: SWEEP,
    store: new ResultsStore('/nowhere'),
    artifacts: { kind: 'redis' },
    redisArtifacts,
    display: 'redis://test',
    pollMs: 0,
    connectionTrouble: (m) => troubles.push(m),
  });
  return { f, downloaded, troubles };
}

describe('QueueFollower', () => {
  it('reports what each poll shows: started, lost, retried, finished (collected) and failed; follows a dependent once its supervisor is done', async () => {
    const transfer = node('transfer', [], { role: 'weak' } as unknown as RunConfig);
    const runs = [node('weak', [transfer]), node('ceiling'), transfer];
    const id = (name: string) => runJobId(SWEEP, name);
    const weakDone: RunJobResult = { name: 'weak', reused: false, worker: 'w2' };
    const { queue, polls } = scriptedQueue([
      { [id('weak')]: { state: 'active', processedBy: 'w1' }, [id('ceiling')]: { state: 'waiting' } },
      { [id('weak')]: { state: 'waiting', stalledCounter: 1 }, [id('ceiling')]: { state: 'active', processedBy: 'w2', progress: { step: 3, totalSteps: 10, loss: 0.6 } } },
      { [id('weak')]: { state: 'active', stalledCounter: 1, processedBy: 'w2' }, [id('ceiling')]: { state: 'delayed', attemptsMade: 1, failedReason: 'no file' } },
      {
        [id('weak')]: { state: 'waiting-children', stalledCounter: 1, released: weakDone },
        [id('ceiling')]: { state: 'failed', attemptsMade: 3, failedReason: 'no file, again' },
        [id('transfer')]: { state: 'waiting' },
      },
      { [id('weak')]: { state: 'completed', returnvalue: weakDone }, [id('transfer')]: { state: 'completed', returnvalue: { name: 'transfer', reused: true, worker: 'w3' } } },
    ]);
    const { f, downloaded, troubles } = follower(queue);
    const { calls, progress } = progressRecorder();
    const statuses: (RunCounts & { workers: number | null; active: string[] })[] = [];
    const outcome = await schedule(runs, f, { attempts: Infinity, progress, counted: (c) => statuses.push({ ...c, workers: f.workers, active: f.active().map((a) => `${a.name}@${a.worker}`) }) });

    expect(outcome).toEqual({ computed: ['weak'], reused: ['transfer'], failed: [{ name: 'ceiling', message: 'no file, again' }], interrupted: false });
    expect(calls).toEqual([
      ['started', 'weak', 'weak', 'w1'],
      ['lost', 'weak', 'w1'],
      ['started', 'ceiling', 'ceiling', 'w2'],
      ['started', 'weak', 'weak', 'w2'],
      ['retried', 'ceiling', 'no file'],
      ['finished', 'weak', false, 'w2'],
      ['failed', 'ceiling', 'no file, again'],
      ['finished', 'transfer', true, 'w3'],
    ]);
    // Finished runs are collected into this machine's store before they count as finished.
    expect(downloaded).toEqual(['weak', 'transfer']);
    expect(troubles).toEqual([]);
    expect(statuses.map(({ running, waiting, done, failed }) => [running, waiting, done, failed])).toEqual([
      [1, 2, 0, 0],
      [1, 2, 0, 0],
      [1, 2, 0, 0],
      [0, 1, 1, 1],
      [0, 0, 2, 1],
    ]);
    expect(statuses[1].active).toEqual(['ceiling@w2']);
    expect(statuses[0].workers).toBe(2);
    // The dependent was released in the fourth poll and read at once in a fifth.
    expect(polls()).toBe(5);
  });

  afterEach(() => vi.restoreAllMocks());

  it("a run's job missing from the queue for over a minute fails the run (a removed or evicted job), and its dependents with it", async () => {
    let clock = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => clock);
    const transfer = node('transfer', [node('bootstrap')], { role: 'weak' } as unknown as RunConfig);
    const weakDone: RunJobResult = { name: 'weak', reused: false, worker: 'w1' };
    const { queue } = scriptedQueue([{ [runJobId(SWEEP, 'weak')]: { state: 'completed', returnvalue: weakDone } }], { onPoll: (poll) => (clock = poll * 40_000) });
    const { f } = follower(queue);
    const outcome = await schedule([node('weak', [transfer]), transfer, transfer.dependents[0]], f);
    expect(outcome.failed).toEqual([
      { name: 'transfer', message: "its supervisor finished but its job is not in the queue (was the queue's data removed or evicted?)" },
      { name: 'bootstrap', message: 'its supervisor failed' },
    ]);
    expect(clock).toBe(3 * 40_000); // missing since the second poll (40 s), failed at the fourth (120 s)
  });

  it('a job missing for a moment is waited for; a sweep gone from the queue is an error naming it', async () => {
    const { queue } = scriptedQueue([{}, {}], { rootGoneAt: 2 });
    const { f } = follower(queue);
    const err = (await schedule([node('weak')], f).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(QueuedSweepError);
    expect(err.message).toBe(
      `sweep ${SWEEP} is no longer in the queue at redis://test (Redis restarted without persistence, or its data was removed); the same command enqueues it again, reusing the runs already in /nowhere`,
    );
  });
});
