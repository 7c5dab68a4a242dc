// `w2s sweep --queue URL`: the grid planned here (as for a local sweep), its runs enqueued as one
// BullMQ flow (jobs.ts), then followed (follower.ts) by the scheduler every sweep has, until every
// run is done or failed, or until interrupted; the same sweep enqueued again (the same runs, the
// same artifact mode) is attached to, not enqueued twice. Finished runs land in this machine's
// results store (downloaded from Redis, or written there directly by the workers when the store
// is a shared folder), and the experiments are summarised from it exactly as a local sweep
// summarises them, so that `w2s report` reads both alike and a local and a queued sweep of one
// grid give the same numbers.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FlowProducer, Queue } from 'bullmq';
import {
  configHash,
  planSweep,
  schedule,
  summariseExperiments,
  type ModelSource,
  type Precision,
  type ResultsStore,
  type RunCounts,
  type ScheduleProgress,
  type SweepConfig,
  type SweepOutcome,
  type SweepPlan,
} from '@w2s/pipeline';
import { RedisArtifacts } from './artifacts.js';
import { checkQueueReachable, redisClient, type QueueAddress, type RedisEndpoint } from './connection.js';
import { QueueFollower, QueuedSweepError, type ActiveRun } from './follower.js';
import { QUEUE_NAME, QUEUE_PREFIX, runJobOptions, sharedFolderMarker, sweepJobId, type ArtifactMode, type RunJobData, type SweepJobData } from './jobs.js';

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
  /**
   * The arithmetic the runs are planned with (RunConfig.precision), trained only by workers of
   * that precision (`w2s worker --precision`); default float32, whatever this process's device.
   */
  precision?: Precision;
  progress?: QueuedSweepProgress;
  /** Aborting stops following; the sweep goes on in the queue. */
  signal?: AbortSignal;
  pollMs?: number;
}

export interface QueuedSweepStatus extends RunCounts {
  /** Workers connected to the queue (of any sweep); null when the server does not say. */
  workers: number | null;
  active: ActiveRun[];
}

export interface QueuedSweepProgress extends ScheduleProgress {
  started?(info: { sweepId: string; attached: boolean; total: number }): void;
  status?(status: QueuedSweepStatus): void;
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

export async function runQueuedSweep(config: SweepConfig, opts: QueuedSweepOptions): Promise<QueuedSweepOutcome> {
  await checkQueueReachable(opts.address);
  const plan = await planSweep(config, opts.models, opts.precision ?? 'float32');
  const { store, progress } = opts;
  const artifacts: ArtifactMode = opts.artifacts === 'shared' ? { kind: 'shared', root: store.root } : { kind: 'redis' };
  const sweepId = configHash({ runs: plan.runs.map((r) => r.name).sort(), artifacts });
  const connection = { ...opts.address.redis };
  const queue = new Queue<RunJobData | SweepJobData>(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  queue.on('error', () => undefined); // reported by the calls that fail
  const client = redisClient(opts.address);
  client.on('error', () => undefined);
  const redisArtifacts = new RedisArtifacts(client);
  try {
    if (opts.signal?.aborted) return { sweepId, attached: false, enqueued: false, interrupted: true, computed: [], reused: [], failed: [], summaries: [] };
    const attached = await enqueueSweep({ queue, connection, plan, sweepId, artifacts, redisArtifacts, store, attempts: opts.attempts, requeue: opts.requeue ?? false });
    progress?.started?.({ sweepId, attached, total: plan.runs.length });
    const follower = new QueueFollower(queue, {
      sweepId,
      store,
      artifacts,
      redisArtifacts,
      display: opts.address.display,
      pollMs: opts.pollMs ?? 1000,
      signal: opts.signal,
      connectionTrouble: (message) => progress?.connectionTrouble?.(message),
    });
    // The queue limits a job's attempts itself (the follower reports its last failure as final).
    const { interrupted, ...tally } = await schedule(plan.runs, follower, {
      attempts: Infinity,
      progress,
      signal: opts.signal,
      counted: (counts) => progress?.status?.({ ...counts, workers: follower.workers, active: follower.active() }),
    });
    const summaries = interrupted ? [] : await summariseExperiments(plan, new Set(tally.failed.map((f) => f.name)), { store, ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}) });
    return { sweepId, attached, enqueued: true, interrupted, ...tally, summaries };
  } finally {
    await queue.close().catch(() => undefined);
    client.disconnect();
  }
}

/**
 * Enqueues the sweep as one flow (its root and the runs that need no supervisor), unless it is in
 * the queue already; true when it was (attached to). With `requeue`, a finished sweep is replaced.
 */
async function enqueueSweep(s: {
  queue: Queue;
  connection: RedisEndpoint;
  plan: SweepPlan;
  sweepId: string;
  artifacts: ArtifactMode;
  redisArtifacts: RedisArtifacts;
  store: ResultsStore;
  attempts: number;
  requeue: boolean;
}): Promise<boolean> {
  const { queue, plan, sweepId, artifacts, store } = s;
  let root = await queue.getJob(sweepJobId(sweepId));
  if (root && s.requeue) {
    const state = await root.getState();
    if (state !== 'completed') throw new QueuedSweepError(`sweep ${sweepId} is still in the queue (${state}): --requeue replaces only a finished sweep`);
    await root.remove({ removeChildren: true });
    root = undefined;
  }
  if (artifacts.kind === 'shared') {
    // The mark by which workers know the folder they see at this path is this one.
    await mkdir(dirname(sharedFolderMarker(store.root, sweepId)), { recursive: true });
    await writeFile(sharedFolderMarker(store.root, sweepId), `${sweepId}\n`);
  }
  if (root) return true;
  // Runs already in the results store need no worker: their artifacts are handed on.
  if (artifacts.kind === 'redis') for (const node of plan.runs) if (await store.load(node.config)) await s.redisArtifacts.upload(node.config, store);
  const models = [...plan.models];
  const flow = new FlowProducer({ connection: s.connection, prefix: QUEUE_PREFIX });
  flow.on('error', () => undefined);
  try {
    await flow.add({
      name: 'sweep',
      queueName: QUEUE_NAME,
      data: { kind: 'sweep', sweepId, runs: plan.runs.length },
      opts: { jobId: sweepJobId(sweepId) },
      children: plan.roots.map((node) => ({
        name: 'run',
        queueName: QUEUE_NAME,
        data: { kind: 'run', sweepId, node, models, artifacts } satisfies RunJobData,
        opts: runJobOptions(sweepId, node, s.attempts),
      })),
    });
  } finally {
    await flow.close();
  }
  return false;
}
