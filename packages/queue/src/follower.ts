// The executor of a queued sweep, for the scheduler of @w2s/pipeline: the runs are enqueued
// already (sweep.ts) and released by the workers themselves (jobs.ts), so that the sweep goes on
// in the queue while nobody follows it; the follower reads the jobs of the runs it was handed,
// poll after poll, and reports what happened to each since the last read. A finished run's files
// are brought into this machine's results store before it is reported finished.
//
// The queue retries a job itself (BullMQ's attempts, set when it was enqueued): the follower
// reports each failed attempt that BullMQ tries again as retryable and BullMQ's last as final.
import type { Job, Queue } from 'bullmq';
import { StoreError, type ResultsStore, type RunEvent, type RunExecutor, type RunNode } from '@w2s/pipeline';
import { ArtifactError, type RedisArtifacts } from './artifacts.js';
import { runJobId, sweepJobId, type ArtifactMode, type RunJobData, type RunJobResult, type RunProgressData } from './jobs.js';

/** A queued sweep that cannot go on as asked (still running where it must be finished; gone from the queue). */
export class QueuedSweepError extends Error {}

/** A run in a worker's hands, as the sweep's display shows it. */
export interface ActiveRun {
  name: string;
  worker?: string;
  progress?: RunProgressData;
}

export interface QueueFollowerOptions {
  sweepId: string;
  /** Where finished runs are collected: this machine's results store (with `shared` artifacts, the workers' folder). */
  store: ResultsStore;
  artifacts: ArtifactMode;
  redisArtifacts: RedisArtifacts;
  /** The queue's URL, safe to print. */
  display: string;
  /** Time between polls while no new run was handed over. */
  pollMs: number;
  /** Aborting ends the wait for the next poll. */
  signal?: AbortSignal;
  /** The queue could not be read this time (the follower retries at the next poll). */
  connectionTrouble?(message: string): void;
}

/** How long a poll may go unanswered before the follower says so (and again every as long). */
const SILENCE_MS = 10_000;

/** How long a run handed over may be missing from the queue before it counts as lost. */
const MISSING_JOB_GRACE_MS = 60_000;

type JobState = { kind: 'waiting' } | { kind: 'running'; active: ActiveRun } | { kind: 'done'; result: RunJobResult } | { kind: 'failed'; message: string };

/** The lists of waiting jobs: ready to run, or in the backoff before a retry. */
type Listed = 'waiting' | 'delayed';

/** A run's job as last read: its state, and the counters that say what happened since the read before. */
interface Observation {
  state: JobState;
  /** The list the job was in, if it was waiting. */
  listed: Listed | undefined;
  /** Failed attempts (each one retried unless it was the last). */
  attemptsMade: number;
  /** Times it lost its worker. */
  stalledCounter: number;
  failedReason: string;
}

/** A run handed over: its last observation, whether it was reported running, and since when its job has been missing. */
interface Followed {
  node: RunNode;
  seen?: Observation;
  running: boolean;
  missingSince?: number;
}

export class QueueFollower implements RunExecutor {
  /** Workers connected to the queue (of any sweep) at the last poll; null when the server does not say. */
  workers: number | null = null;
  private readonly followed = new Map<string, Followed>();
  private handedOver = false;
  private polled = false;

  constructor(
    private readonly queue: Queue,
    private readonly opts: QueueFollowerOptions,
  ) {}

  idle(): number {
    return Infinity;
  }

  submit(node: RunNode): void {
    if (!this.followed.has(node.name)) this.followed.set(node.name, { node, running: false });
    this.handedOver = true;
  }

  /** Polls, at once for runs just handed over, else after pollMs; none when aborted meanwhile. */
  async next(): Promise<RunEvent[]> {
    if (this.polled && !this.handedOver) await sleep(this.opts.pollMs, this.opts.signal);
    if (this.opts.signal?.aborted) return [];
    this.polled = true;
    this.handedOver = false;
    return this.poll();
  }

  /** The runs in a worker's hands at the last poll. */
  active(): ActiveRun[] {
    return [...this.followed.values()].flatMap((f) => (f.seen?.state.kind === 'running' ? [f.seen.state.active] : []));
  }

  private async poll(): Promise<RunEvent[]> {
    const { sweepId, display } = this.opts;
    const events: RunEvent[] = [];
    const troubles = new Set<string>();
    // A server that went away does not answer at all (the client waits to reconnect): say so.
    const asked = Date.now();
    const silence = setInterval(() => this.opts.connectionTrouble?.(`no answer from ${display} for ${Math.round((Date.now() - asked) / 1000)} s; still trying`), SILENCE_MS);
    let vanished = false;
    try {
      // A sweep whose root job is gone (Redis restarted without persistence, or flushed) will never finish.
      vanished = (await this.queue.getJob(sweepJobId(sweepId))) === undefined;
      if (!vanished) {
        // The waiting jobs, listed at once: a run found in the same list as before is not read again.
        const [waiting, delayed] = await Promise.all([this.queue.getRanges(['waiting', 'prioritized'], 0, -1), this.queue.getRanges(['delayed'], 0, -1)]);
        const listed = new Map<string, Listed>([...waiting.map((id) => [id, 'waiting'] as const), ...delayed.map((id) => [id, 'delayed'] as const)]);
        const followed = [...this.followed.values()];
        const observed = await Promise.all(followed.map((f) => this.observe(f, listed)));
        // One run's trouble (its artifact unreadable for now) leaves the others to go on.
        for (const [i, f] of followed.entries()) await this.look(f, observed[i], events).catch((err: Error) => troubles.add(err.message));
        this.workers = await this.queue.getWorkersCount().catch(() => null); // CLIENT LIST may be refused by an ACL
      }
    } catch (err) {
      troubles.add((err as Error).message);
    } finally {
      clearInterval(silence);
    }
    if (vanished)
      throw new QueuedSweepError(
        `sweep ${sweepId} is no longer in the queue at ${display} (Redis restarted without persistence, or its data was removed); the same command enqueues it again, reusing the runs already in ${this.opts.store.root}`,
      );
    for (const message of troubles) this.opts.connectionTrouble?.(`cannot follow the sweep at ${display}: ${message}; retrying`);
    return events;
  }

  /** What an observation of a run's job says since the one before: the events to report. */
  private async look(f: Followed, observation: Observation | null, events: RunEvent[]): Promise<void> {
    const { name } = f.node;
    if (observation === null) {
      // A run is handed over once its supervisor is done, whose worker enqueued it first; one
      // still missing after a grace period was removed from Redis (by hand, or evicted: BullMQ
      // needs maxmemory-policy noeviction).
      f.missingSince ??= Date.now();
      if (Date.now() - f.missingSince > MISSING_JOB_GRACE_MS) {
        const whose = f.node.config.supervisor ? 'its supervisor finished but its job' : 'its job';
        this.settle(f, events, { kind: 'failed', name, message: `${whose} is not in the queue (was the queue's data removed or evicted?)`, retryable: false });
      }
      return;
    }
    f.missingSince = undefined;
    const before = f.seen;
    f.seen = observation;
    const { state } = observation;
    // A finished job counts its last attempt too (BullMQ adds it on completion): only a new
    // failure's reason says that an attempt failed before it finished.
    const retried = state.kind !== 'failed' && (state.kind !== 'done' || observation.failedReason !== before?.failedReason);
    if (before && observation.attemptsMade > before.attemptsMade && retried) {
      events.push({ kind: 'failed', name, message: observation.failedReason, retryable: true });
      f.running = false;
    }
    if (before && observation.stalledCounter > before.stalledCounter) {
      events.push({ kind: 'lost', name, worker: before.state.kind === 'running' ? before.state.active.worker : undefined });
      f.running = false;
    }
    if (state.kind === 'running' && !f.running) {
      events.push({ kind: 'started', name, ...(state.active.worker ? { worker: state.active.worker } : {}) });
      f.running = true;
    }
    if (state.kind === 'done') this.settle(f, events, await this.collect(f.node, state.result));
    if (state.kind === 'failed') this.settle(f, events, { kind: 'failed', name, message: state.message, retryable: false });
  }

  private settle(f: Followed, events: RunEvent[], event: RunEvent): void {
    events.push(event);
    this.followed.delete(f.node.name);
  }

  /** A finished run's files into this machine's store (from Redis; or, shared, already there). */
  private async collect(node: RunNode, result: RunJobResult): Promise<RunEvent> {
    const { store, artifacts, redisArtifacts } = this.opts;
    const failed = (message: string): RunEvent => ({ kind: 'failed', name: node.name, message, retryable: false });
    try {
      if (artifacts.kind === 'shared') {
        if (!(await store.load(node.config))) return failed(`its job completed but the run is not in ${store.root} (do the workers mount this folder at this path?)`);
      } else if (!(await redisArtifacts.download(node.config, store))) return failed('its job completed but its artifact is not in Redis');
      return { kind: 'finished', name: node.name, reused: result.reused, worker: result.worker };
    } catch (err) {
      // A run that cannot be read or stored as it is; anything else (the connection, a full
      // disk) is tried again at the next poll.
      if (err instanceof ArtifactError || err instanceof StoreError) return failed(`its results cannot be used: ${err.message}`);
      throw err;
    }
  }

  /**
   * A run's job; null when it does not exist (yet). A run found in the same list of waiting jobs
   * as before is not read again: a poll reads the jobs that changed and the few running ones.
   */
  private async observe(f: Followed, listed: Map<string, Listed>): Promise<Observation | null> {
    const id = runJobId(this.opts.sweepId, f.node.name);
    const list = listed.get(id);
    if (list !== undefined && f.seen?.listed === list) return f.seen;
    let job = (await this.queue.getJob(id)) as Job<RunJobData, RunJobResult> | undefined;
    if (!job) return null;
    const observation = (s: JobState): Observation => ({ state: s, listed: list, attemptsMade: job!.attemptsMade, stalledCounter: job!.stalledCounter, failedReason: job!.failedReason ?? '' });
    if (list !== undefined) return observation({ kind: 'waiting' });
    const state = await job.getState();
    // A job read just before it finished lacks its result: read it again.
    if (state === 'completed' || state === 'failed' || state === 'waiting-children') job = ((await this.queue.getJob(id)) as Job<RunJobData, RunJobResult> | undefined) ?? job;
    if (state === 'completed' && job.returnvalue) return observation({ kind: 'done', result: job.returnvalue });
    // waiting-children: done, and its dependents enqueued, once `released` is set.
    if (state === 'waiting-children' && job.data.released) return observation({ kind: 'done', result: job.data.released });
    if (state === 'failed') return observation({ kind: 'failed', message: job.failedReason || 'failed without a reason' });
    if (state === 'active' || state === 'waiting-children' || state === 'completed') {
      const progress = job.progress as Partial<RunProgressData> | number;
      return observation({
        kind: 'running',
        active: { name: f.node.name, ...(job.processedBy ? { worker: job.processedBy } : {}), ...(typeof progress === 'object' && typeof progress.step === 'number' ? { progress: progress as RunProgressData } : {}) },
      });
    }
    return observation({ kind: 'waiting' });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
