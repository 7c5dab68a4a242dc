// `w2s sweep --queue URL`: the grid planned here (as for a local sweep), its runs enqueued as one
// BullMQ flow (jobs.ts), then followed until every run is done or failed, or until interrupted;
// the same sweep enqueued again (the same runs, the same artifact mode) is attached to, not
// enqueued twice. Finished runs land in this machine's results store (downloaded from Redis, or
// written there directly by the workers when the store is a shared folder), and the experiments
// are summarised from it exactly as a local sweep summarises them, so that `w2s report` reads
// both alike and a local and a queued sweep of one grid give the same numbers.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FlowProducer, Queue, type Job } from 'bullmq';
import {
  StoreError,
  canonicalJson,
  configHash,
  planSweep,
  summariseExperiments,
  type ModelSource,
  type ResultsStore,
  type SweepConfig,
  type SweepOutcome,
} from '@w2s/pipeline';
import { ArtifactError, RedisArtifacts } from './artifacts.js';
import { checkQueueReachable, redisClient, type QueueAddress } from './connection.js';
import {
  QUEUE_NAME,
  QUEUE_PREFIX,
  runJobId,
  runJobOptions,
  sharedFolderMarker,
  sweepJobId,
  type ArtifactMode,
  type RunJobData,
  type RunJobResult,
  type RunNode,
  type RunProgressData,
  type SweepJobData,
} from './jobs.js';

export class QueuedSweepError extends Error {}

export interface QueuedSweepOptions {
  address: QueueAddress;
  /** The results store the runs end in (with `artifacts: 'shared'`, the folder the workers write to). */
  store: ResultsStore;
  artifacts: ArtifactMode['kind'];
  /** Tries of a run that fails for its worker's reasons (a run's own error fails at once). */
  attempts: number;
  /** Replace a finished sweep of the same runs in the queue (finished runs are reused from their artifacts). */
  requeue?: boolean;
  /** Model sources for some of the config's model names; the rest are resolved. */
  models?: Map<string, ModelSource>;
  progress?: QueuedSweepProgress;
  /** Aborting stops following; the sweep goes on in the queue. */
  signal?: AbortSignal;
  pollMs?: number;
}

export interface ActiveRun {
  name: string;
  worker?: string;
  progress?: RunProgressData;
}

export interface QueuedSweepStatus {
  total: number;
  done: number;
  running: number;
  waiting: number;
  failed: number;
  /** Workers connected to the queue (of any sweep); null when the server does not say. */
  workers: number | null;
  active: ActiveRun[];
}

export interface QueuedSweepProgress {
  started?(info: { sweepId: string; attached: boolean; total: number }): void;
  status?(status: QueuedSweepStatus): void;
  runFinished?(name: string, reused: boolean, worker: string): void;
  runFailed?(name: string, message: string): void;
  /** A run lost its worker (it died, or lost the job's lock): back in the queue for another. */
  runLost?(name: string, worker: string | undefined): void;
  /** An attempt at a run failed for its worker's reasons; the run is tried again. */
  runRetried?(name: string, reason: string): void;
  /** The queue could not be read this time (the follower retries). */
  connectionTrouble?(message: string): void;
}

export interface QueuedSweepOutcome extends SweepOutcome {
  sweepId: string;
  attached: boolean;
  /** The sweep is in the queue (false: interrupted before it was enqueued). */
  enqueued: boolean;
  /** Following stopped before the sweep finished: no summaries. */
  interrupted: boolean;
}

type RunState = { kind: 'waiting' } | { kind: 'running'; active: ActiveRun } | { kind: 'done'; result: RunJobResult } | { kind: 'failed'; message: string };

export async function runQueuedSweep(config: SweepConfig, opts: QueuedSweepOptions): Promise<QueuedSweepOutcome> {
  await checkQueueReachable(opts.address);
  const plan = await planSweep(config, opts.models);
  const { store } = opts;
  const nodes = new Map<string, RunNode>(); // by run name, supervisors first
  const roots: RunNode[] = [];
  for (const run of plan.runs) {
    const node: RunNode = { name: store.runName(run.config), config: run.config, data: run.data, dependents: [] };
    nodes.set(node.name, node);
    if (run.config.supervisor) nodes.get(store.runName(run.config.supervisor))!.dependents.push(node);
    else roots.push(node);
  }
  const artifactMode: ArtifactMode = opts.artifacts === 'shared' ? { kind: 'shared', root: store.root } : { kind: 'redis' };
  const sweepId = configHash({ runs: [...nodes.keys()].sort(), artifacts: artifactMode });
  const models = [...plan.models];
  const jobData = (node: RunNode): RunJobData => ({ kind: 'run', sweepId, node, models, artifacts: artifactMode });

  const connection = { ...opts.address.redis };
  const queue = new Queue<RunJobData | SweepJobData>(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  queue.on('error', () => undefined); // reported by the calls that fail
  const client = redisClient(opts.address);
  client.on('error', () => undefined);
  const artifacts = new RedisArtifacts(client);
  try {
    if (opts.signal?.aborted) return { sweepId, attached: false, enqueued: false, interrupted: true, computed: [], reused: [], failed: [], summaries: [] };
    let root = await queue.getJob(sweepJobId(sweepId));
    if (root && opts.requeue) {
      const state = await root.getState();
      if (state !== 'completed') throw new QueuedSweepError(`sweep ${sweepId} is still in the queue (${state}): --requeue replaces only a finished sweep`);
      await root.remove({ removeChildren: true });
      root = undefined;
    }
    const attached = root !== undefined;
    if (artifactMode.kind === 'shared') {
      // The mark by which workers know the folder they see at this path is this one.
      await mkdir(dirname(sharedFolderMarker(store.root, sweepId)), { recursive: true });
      await writeFile(sharedFolderMarker(store.root, sweepId), `${sweepId}\n`);
    }
    if (!attached) {
      // Runs already in the results store need no worker: their artifacts are handed on.
      if (artifactMode.kind === 'redis') for (const node of nodes.values()) if (await store.load(node.config)) await artifacts.upload(node.config, store);
      const flow = new FlowProducer({ connection, prefix: QUEUE_PREFIX });
      flow.on('error', () => undefined);
      try {
        await flow.add({
          name: 'sweep',
          queueName: QUEUE_NAME,
          data: { kind: 'sweep', sweepId, runs: nodes.size },
          opts: { jobId: sweepJobId(sweepId) },
          children: roots.map((node) => ({ name: 'run', queueName: QUEUE_NAME, data: jobData(node), opts: runJobOptions(sweepId, node, opts.attempts) })),
        });
      } finally {
        await flow.close();
      }
    }
    opts.progress?.started?.({ sweepId, attached, total: nodes.size });

    const states = new Map<string, RunState>([...nodes.keys()].map((name) => [name, { kind: 'waiting' }]));
    const seen = new Map<string, Observation>(); // each run's last observation of its job
    const missingSince = new Map<string, number>(); // runs whose supervisor is done but whose job is not there
    const settle = async (node: RunNode, next: RunState) => {
      if (next.kind === 'done') next = await collect(node, next);
      states.set(node.name, next);
      if (next.kind === 'done') opts.progress?.runFinished?.(node.name, next.result.reused, next.result.worker);
      if (next.kind === 'failed') opts.progress?.runFailed?.(node.name, next.message);
    };
    /** A finished run's files into this machine's store (from Redis; or, shared, already there). */
    const collect = async (node: RunNode, done: RunState & { kind: 'done' }): Promise<RunState> => {
      try {
        if (artifactMode.kind === 'shared')
          return (await store.load(node.config)) ? done : { kind: 'failed', message: `its job completed but the run is not in ${store.root} (do the workers mount this folder at this path?)` };
        return (await artifacts.download(node.config, store)) ? done : { kind: 'failed', message: 'its job completed but its artifact is not in Redis' };
      } catch (err) {
        // A run that cannot be read or stored as it is; anything else (the connection, a full
        // disk) is tried again at the next poll.
        if (err instanceof ArtifactError || err instanceof StoreError) return { kind: 'failed', message: `its results cannot be used: ${err.message}` };
        throw err;
      }
    };
    const finished = (s: RunState) => s.kind === 'done' || s.kind === 'failed';
    /** What an observation of a run's job says: a transition to report, a state to keep, a run to settle. */
    const look = async (node: RunNode, observation: Observation | null) => {
      if (observation === null) {
        // Not enqueued yet: its supervisor releases it, unless the supervisor failed. Once the
        // supervisor is done its dependents exist; one still missing after a grace period was
        // removed from Redis (by hand, or evicted: BullMQ needs maxmemory-policy noeviction).
        const supervisor = node.config.supervisor ? states.get(store.runName(node.config.supervisor))! : null;
        if (supervisor?.kind === 'failed') await settle(node, { kind: 'failed', message: 'its supervisor failed' });
        else if (supervisor?.kind === 'done') {
          const since = missingSince.get(node.name) ?? Date.now();
          missingSince.set(node.name, since);
          if (Date.now() - since > MISSING_JOB_GRACE_MS)
            await settle(node, { kind: 'failed', message: "its supervisor finished but its job is not in the queue (was the queue's data removed or evicted?)" });
        }
        return;
      }
      const before = seen.get(node.name);
      seen.set(node.name, observation);
      const { state } = observation;
      if (before && observation.attemptsMade > before.attemptsMade && state.kind !== 'failed') opts.progress?.runRetried?.(node.name, observation.failedReason);
      if (before && observation.stalledCounter > before.stalledCounter) opts.progress?.runLost?.(node.name, before.state.kind === 'running' ? before.state.active.worker : undefined);
      if (finished(state)) await settle(node, state);
      else states.set(node.name, state);
    };
    let vanished = false;
    while (!vanished && ![...states.values()].every(finished)) {
      if (opts.signal?.aborted) return { sweepId, attached, enqueued: true, interrupted: true, ...tally(nodes, states), summaries: [] };
      const troubles = new Set<string>();
      // A server that went away does not answer at all (the client waits to reconnect): say so.
      const asked = Date.now();
      const silence = setInterval(() => opts.progress?.connectionTrouble?.(`no answer from ${opts.address.display} for ${Math.round((Date.now() - asked) / 1000)} s; still trying`), SILENCE_MS);
      try {
        // A sweep whose root job is gone (Redis restarted without persistence, or flushed) will never finish.
        vanished = (await queue.getJob(sweepJobId(sweepId))) === undefined;
        if (vanished) break;
        const pending = [...nodes.values()].filter((node) => !finished(states.get(node.name)!));
        // The waiting jobs, listed at once: a run found in the same list as before is not read again.
        const [waiting, delayed] = await Promise.all([queue.getRanges(['waiting', 'prioritized'], 0, -1), queue.getRanges(['delayed'], 0, -1)]);
        const listed = new Map<string, Listed>([...waiting.map((id) => [id, 'waiting'] as const), ...delayed.map((id) => [id, 'delayed'] as const)]);
        const observed = await Promise.all(pending.map(async (node) => [node, await observe(queue, runJobId(sweepId, node.name), node, seen.get(node.name), listed)] as const));
        // One run's trouble (its artifact unreadable for now) leaves the others to go on.
        for (const [node, observation] of observed) await look(node, observation).catch((err: Error) => troubles.add(err.message));
        const counts = { done: 0, running: 0, waiting: 0, failed: 0 };
        const active: ActiveRun[] = [];
        for (const s of states.values()) {
          counts[s.kind]++;
          if (s.kind === 'running') active.push(s.active);
        }
        const workers = await queue.getWorkersCount().catch(() => null); // CLIENT LIST may be refused by an ACL
        opts.progress?.status?.({ total: nodes.size, ...counts, workers, active });
      } catch (err) {
        troubles.add((err as Error).message);
      } finally {
        clearInterval(silence);
      }
      for (const message of troubles) opts.progress?.connectionTrouble?.(`cannot follow the sweep at ${opts.address.display}: ${message}; retrying`);
      if (!vanished && ![...states.values()].every(finished)) await sleep(opts.pollMs ?? 1000, opts.signal);
    }
    if (vanished)
      throw new QueuedSweepError(
        `sweep ${sweepId} is no longer in the queue at ${opts.address.display} (Redis restarted without persistence, or its data was removed); the same command enqueues it again, reusing the runs already in ${store.root}`,
      );

    const outcome = tally(nodes, states);
    const failedKeys = new Set(outcome.failed.map((f) => canonicalJson(nodes.get(f.name)!.config)));
    const summaries = await summariseExperiments(plan, failedKeys, { store, ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}) });
    return { sweepId, attached, enqueued: true, interrupted: false, ...outcome, summaries };
  } finally {
    await queue.close().catch(() => undefined);
    client.disconnect();
  }
}

/** How long a poll may go unanswered before the display says so (and again every as long). */
const SILENCE_MS = 10_000;

/** How long a run may be missing from the queue after its supervisor finished before it counts as lost. */
const MISSING_JOB_GRACE_MS = 60_000;

/** A run's job as last read: its state, and the counters that say what happened since the read before. */
/** The lists of waiting jobs: ready to run, or in the backoff before a retry. */
type Listed = 'waiting' | 'delayed';

interface Observation {
  state: RunState;
  /** The list the job was in, if it was waiting. */
  listed: Listed | undefined;
  /** Failed attempts (each one retried unless it was the last). */
  attemptsMade: number;
  /** Times it lost its worker. */
  stalledCounter: number;
  failedReason: string;
}

/**
 * A run's job; null when it does not exist (yet). A run found in the same list of waiting jobs
 * as before is not read again: a poll reads the jobs that changed and the few running ones.
 */
async function observe(queue: Queue, id: string, node: RunNode, before: Observation | undefined, listed: Map<string, Listed>): Promise<Observation | null> {
  const list = listed.get(id);
  if (list !== undefined && before?.listed === list) return before;
  let job = (await queue.getJob(id)) as Job<RunJobData, RunJobResult> | undefined;
  if (!job) return null;
  const observation = (s: RunState): Observation => ({ state: s, listed: list, attemptsMade: job!.attemptsMade, stalledCounter: job!.stalledCounter, failedReason: job!.failedReason ?? '' });
  if (list !== undefined) return observation({ kind: 'waiting' });
  const state = await job.getState();
  // A job read just before it finished lacks its result: read it again.
  if (state === 'completed' || state === 'failed' || state === 'waiting-children') job = ((await queue.getJob(id)) as Job<RunJobData, RunJobResult> | undefined) ?? job;
  if (state === 'completed' && job.returnvalue) return observation({ kind: 'done', result: job.returnvalue });
  // waiting-children: done, and its dependents enqueued, once `released` is set.
  if (state === 'waiting-children' && job.data.released) return observation({ kind: 'done', result: job.data.released });
  if (state === 'failed') return observation({ kind: 'failed', message: job.failedReason || 'failed without a reason' });
  if (state === 'active' || state === 'waiting-children' || state === 'completed') {
    const progress = job.progress as Partial<RunProgressData> | number;
    return observation({
      kind: 'running',
      active: { name: node.name, ...(job.processedBy ? { worker: job.processedBy } : {}), ...(typeof progress === 'object' && typeof progress.step === 'number' ? { progress: progress as RunProgressData } : {}) },
    });
  }
  return observation({ kind: 'waiting' });
}

function tally(nodes: Map<string, RunNode>, states: Map<string, RunState>): Omit<SweepOutcome, 'summaries'> {
  const outcome: Omit<SweepOutcome, 'summaries'> = { computed: [], reused: [], failed: [] };
  for (const name of nodes.keys()) {
    const s = states.get(name)!;
    if (s.kind === 'done') (s.result.reused ? outcome.reused : outcome.computed).push(name);
    else if (s.kind === 'failed') outcome.failed.push({ name, message: s.message });
  }
  return outcome;
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
