// The sweep scheduler on its own, over a scripted executor: dependency order, failures failing
// their dependents only, retries within the attempts, lost workers, tallies, an executor with no
// worker left, and interruption.
import { describe, expect, it } from 'vitest';
import { schedule, type RunConfig, type RunCounts, type RunEvent, type RunExecutor, type RunNode } from '../src/index.js';
import { progressRecorder } from './progress-recorder.js';

/** A graph from `supervisor: [dependents]` edges; nodes listed supervisors first. */
function graph(names: string[], edges: Record<string, string[]> = {}): RunNode[] {
  const nodes = new Map(names.map((name) => [name, { name, config: { role: name } as unknown as RunConfig, data: { dataset: 'd' }, dependents: [] as RunNode[] }]));
  for (const [supervisor, dependents] of Object.entries(edges)) nodes.get(supervisor)!.dependents.push(...dependents.map((d) => nodes.get(d)!));
  return [...nodes.values()];
}

/**
 * Answers each submission with the events `script(name, attempt)` gives (default: started, then
 * finished), all at the next call of next(); takes `capacity` runs at a time.
 */
class ScriptedExecutor implements RunExecutor {
  readonly submitted: { name: string; attempt: number }[] = [];
  /** Each run's submission, by the order in which runs finished before it. */
  readonly finishedBefore = new Map<string, string[]>();
  private readonly finished: string[] = [];
  private pending: RunEvent[] = [];
  private inFlight = 0;

  constructor(
    private readonly script: (name: string, attempt: number) => RunEvent[] | undefined = () => undefined,
    private readonly capacity = 2,
  ) {}

  idle(): number {
    return this.capacity - this.inFlight;
  }

  submit(node: RunNode, attempt: number): void {
    this.submitted.push({ name: node.name, attempt });
    this.finishedBefore.set(node.name, [...this.finished]);
    this.inFlight++;
    this.pending.push(...(this.script(node.name, attempt) ?? [{ kind: 'started', name: node.name, worker: 'w1' }, { kind: 'finished', name: node.name, reused: false, worker: 'w1' }]));
  }

  async next(): Promise<RunEvent[]> {
    const events = this.pending.splice(0);
    for (const e of events)
      if (e.kind === 'finished' || e.kind === 'failed') {
        this.inFlight--;
        if (e.kind === 'finished') this.finished.push(e.name);
      }
    return events;
  }
}

describe('schedule', () => {
  it('hands a run to the executor only once its supervisor is done, and tallies in the order of the plan', async () => {
    // weak supervises t1 and t2; t1 supervises t3 (a chain); ceiling needs nobody.
    const runs = graph(['weak', 'ceiling', 't1', 't2', 't3'], { weak: ['t1', 't2'], t1: ['t3'] });
    const executor = new ScriptedExecutor((name) => (name === 'ceiling' ? [{ kind: 'finished', name, reused: true }] : undefined));
    const { calls, progress } = progressRecorder();
    const outcome = await schedule(runs, executor, { progress });
    expect(executor.submitted.map((s) => s.name)).toEqual(['weak', 'ceiling', 't1', 't2', 't3']);
    expect(executor.finishedBefore.get('t1')).toContain('weak');
    expect(executor.finishedBefore.get('t2')).toContain('weak');
    expect(executor.finishedBefore.get('t3')).toEqual(expect.arrayContaining(['weak', 't1']));
    expect(executor.finishedBefore.get('weak')).toEqual([]);
    expect(outcome).toEqual({ computed: ['weak', 't1', 't2', 't3'], reused: ['ceiling'], failed: [], interrupted: false });
    expect(calls.filter((c) => c[0] === 'started')).toEqual([
      ['started', 'weak', 'weak', 'w1'],
      ['started', 't1', 't1', 'w1'],
      ['started', 't2', 't2', 'w1'],
      ['started', 't3', 't3', 'w1'],
    ]);
    expect(calls.filter((c) => c[0] === 'finished')).toEqual([
      ['finished', 'weak', false, 'w1'],
      ['finished', 'ceiling', true, undefined],
      ['finished', 't1', false, 'w1'],
      ['finished', 't2', false, 'w1'],
      ['finished', 't3', false, 'w1'],
    ]);
  });

  it("takes no more runs at a time than the executor is idle for", async () => {
    const runs = graph(['a', 'b', 'c', 'd']);
    let most = 0;
    const executor = new ScriptedExecutor(undefined, 1);
    const submit = executor.submit.bind(executor);
    executor.submit = (node, attempt) => {
      submit(node, attempt);
      most = Math.max(most, 1 - executor.idle());
    };
    expect((await schedule(runs, executor)).computed).toEqual(['a', 'b', 'c', 'd']);
    expect(most).toBe(1);
  });

  it('a failed run fails its dependents and theirs, never handed out, and nothing else', async () => {
    const runs = graph(['weak', 'ceiling', 't1', 't2', 't3', 'other', 'u1'], { weak: ['t1', 't2'], t1: ['t3'], other: ['u1'] });
    const executor = new ScriptedExecutor((name) => (name === 'weak' ? [{ kind: 'failed', name, message: 'bad rows', retryable: false }] : undefined));
    const { calls, progress } = progressRecorder();
    const outcome = await schedule(runs, executor, { progress, attempts: 3 });
    expect(executor.submitted.map((s) => s.name).sort()).toEqual(['ceiling', 'other', 'u1', 'weak']);
    expect(outcome.computed).toEqual(['ceiling', 'other', 'u1']);
    expect(outcome.failed).toEqual([
      { name: 'weak', message: 'bad rows' },
      { name: 't1', message: 'its supervisor failed' },
      { name: 't2', message: 'its supervisor failed' },
      { name: 't3', message: 'its supervisor failed' },
    ]);
    // The run's own error is not retried, whatever the attempts.
    expect(executor.submitted.filter((s) => s.name === 'weak')).toEqual([{ name: 'weak', attempt: 1 }]);
    expect(calls.filter((c) => c[0] === 'retried')).toEqual([]);
    expect(calls.filter((c) => c[0] === 'failed').map((c) => c[1])).toEqual(['weak', 't1', 't3', 't2']);
  });

  it('a retryable failure is tried again while attempts are left, then fails with its last reason', async () => {
    const runs = graph(['flaky', 'doomed', 'student'], { doomed: ['student'] });
    const executor = new ScriptedExecutor((name, attempt) => {
      if (name === 'flaky' && attempt < 3) return [{ kind: 'failed', name, message: `no file (try ${attempt})`, retryable: true }];
      if (name === 'doomed') return [{ kind: 'failed', name, message: `lost disk (try ${attempt})`, retryable: true }];
      return undefined;
    });
    const { calls, progress } = progressRecorder();
    const outcome = await schedule(runs, executor, { progress, attempts: 3 });
    expect(executor.submitted.filter((s) => s.name === 'flaky').map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(executor.submitted.filter((s) => s.name === 'doomed').map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(outcome.computed).toEqual(['flaky']);
    expect(outcome.failed).toEqual([
      { name: 'doomed', message: 'lost disk (try 3)' },
      { name: 'student', message: 'its supervisor failed' },
    ]);
    expect(calls.filter((c) => c[0] === 'retried')).toEqual([
      ['retried', 'flaky', 'no file (try 1)'],
      ['retried', 'doomed', 'lost disk (try 1)'],
      ['retried', 'flaky', 'no file (try 2)'],
      ['retried', 'doomed', 'lost disk (try 2)'],
    ]);
    // With one attempt (the default), the first retryable failure is final.
    const once = await schedule(graph(['doomed']), new ScriptedExecutor((name) => [{ kind: 'failed', name, message: 'lost disk', retryable: true }]));
    expect(once.failed).toEqual([{ name: 'doomed', message: 'lost disk' }]);
  });

  it('a lost worker costs no attempt: the run waits for another and is counted as waiting meanwhile', async () => {
    const runs = graph(['a']);
    const batches: RunEvent[][] = [
      [{ kind: 'started', name: 'a', worker: 'w1' }],
      [{ kind: 'lost', name: 'a', worker: 'w1' }],
      [{ kind: 'started', name: 'a', worker: 'w2' }],
      [{ kind: 'step', name: 'a', step: 3, totalSteps: 4, loss: 0.5 }],
      [{ kind: 'finished', name: 'a', reused: false, worker: 'w2' }],
    ];
    const executor: RunExecutor = { idle: () => 1, submit: () => undefined, next: async () => batches.shift()! };
    const { calls, progress } = progressRecorder();
    const counts: RunCounts[] = [];
    const outcome = await schedule(runs, executor, { progress, attempts: 1, counted: (c) => counts.push(c) });
    expect(outcome).toEqual({ computed: ['a'], reused: [], failed: [], interrupted: false });
    expect(calls).toEqual([
      ['started', 'a', 'a', 'w1'],
      ['lost', 'a', 'w1'],
      ['started', 'a', 'a', 'w2'],
      ['step', 'a', 3, 4, 0.5],
      ['finished', 'a', false, 'w2'],
    ]);
    const at = (running: number, waiting: number, done: number) => ({ total: 1, done, running, waiting, failed: 0 });
    expect(counts).toEqual([at(1, 0, 0), at(0, 1, 0), at(1, 0, 0), at(1, 0, 0), at(0, 0, 1)]);
  });

  it('ignores events of runs it did not hand out or that are settled', async () => {
    const runs = graph(['a', 'b'], { a: ['b'] });
    const batches: RunEvent[][] = [
      [{ kind: 'finished', name: 'b', reused: false }, { kind: 'finished', name: 'nobody', reused: false }],
      [{ kind: 'finished', name: 'a', reused: false }, { kind: 'failed', name: 'a', message: 'late', retryable: false }],
      [{ kind: 'finished', name: 'b', reused: true }],
    ];
    const executor: RunExecutor = { idle: () => Infinity, submit: () => undefined, next: async () => batches.shift()! };
    expect(await schedule(runs, executor)).toEqual({ computed: ['a'], reused: ['b'], failed: [], interrupted: false });
  });

  it('with no run in flight and no worker to take one, the remaining runs fail', async () => {
    const runs = graph(['a', 'b', 'c'], { a: ['c'] });
    // One worker, which dies with its first run.
    let alive = true;
    const submitted: string[] = [];
    const pending: RunEvent[] = [];
    const executor: RunExecutor = {
      idle: () => (alive && pending.length === 0 ? 1 : 0),
      submit: (node) => {
        submitted.push(node.name);
        pending.push({ kind: 'failed', name: node.name, message: 'its worker process died (SIGKILL)', retryable: true });
      },
      next: async () => {
        alive = false;
        return pending.splice(0);
      },
    };
    const outcome = await schedule(runs, executor, { attempts: 2 });
    expect(submitted).toEqual(['a']);
    expect(outcome.failed).toEqual([
      { name: 'a', message: 'no worker left to run it' },
      { name: 'b', message: 'no worker left to run it' },
      { name: 'c', message: 'its supervisor failed' },
    ]);
  });

  it('an abort stops scheduling between batches: the outcome holds what was settled and says it was interrupted', async () => {
    const runs = graph(['a', 'b'], { a: ['b'] });
    const abort = new AbortController();
    const executor = new ScriptedExecutor((name) => {
      abort.abort();
      return [{ kind: 'finished', name, reused: false }];
    });
    const outcome = await schedule(runs, executor, { signal: abort.signal });
    expect(outcome).toEqual({ computed: ['a'], reused: [], failed: [], interrupted: true });
    expect(executor.submitted.map((s) => s.name)).toEqual(['a']);
    expect(await schedule(runs, new ScriptedExecutor(), { signal: abort.signal })).toEqual({ computed: [], reused: [], failed: [], interrupted: true });
  });
});
