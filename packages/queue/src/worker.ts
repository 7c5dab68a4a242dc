// A queue worker: takes run jobs from the queue (one at a time per worker), finds what the run
// needs on this machine, trains it (or reuses it), hands its artifact on, and releases the runs
// that learn from its labels (see jobs.ts).
//
// Failures: a run that fails for a reason of its own (bad rows, a loss that diverges: any other
// worker would fail the same way) fails at once, with its error on the job. A failure of this
// machine's (a checkpoint or data file it lacks, a lost connection) is retried, by whichever
// worker takes the job next, up to the sweep's attempts. A worker that dies mid-job stops renewing
// the job's lock; once the lock expires another worker's stalled-job check puts the job back in
// the queue (at most MAX_STALLS times, then it fails as stalled).
import { hostname } from 'node:os';
import { Queue, UnrecoverableError, WaitingChildrenError, Worker, type Job } from 'bullmq';
import { existsSync } from 'node:fs';
import { DataMismatchError, InvalidArtifactError, ResultsStore, StoreError, executeRun, type ModelSource, type RunConfig, type RunContext } from '@w2s/pipeline';
import { ArtifactError, RedisArtifacts } from './artifacts.js';
import { redisClient, type QueueAddress } from './connection.js';
import { QUEUE_NAME, QUEUE_PREFIX, runJobId, runJobOptions, sharedFolderMarker, type RunJobData, type RunJobResult, type RunProgressData, type SweepJobData } from './jobs.js';
import { LocalResources, WorkerResourceError } from './resources.js';

/** How often a job may lose its worker (kill -9, a lost machine) before it fails as stalled. */
export const MAX_STALLS = 3;

export interface QueueWorkerOptions {
  address: QueueAddress;
  /** Where this worker keeps the runs it trains and the supervisors' runs it downloads (Redis artifacts). */
  storeDir: string;
  /** Folders holding checkpoints, found by content hash. */
  checkpointDirs?: string[];
  /** This machine's data folder (else the sweep's, else $W2S_DATA_DIR). */
  dataDir?: string;
  /** How long a job's lock lives unrenewed: a dead worker's job is retried after about this long. */
  lockMs?: number;
  /** One line per event (started, trained, reused, failed). */
  log?: (line: string) => void;
}

export interface RunningQueueWorker {
  name: string;
  /** Stops taking jobs; waits for the job in hand unless forced. */
  close(force?: boolean): Promise<void>;
}

export async function startQueueWorker(opts: QueueWorkerOptions): Promise<RunningQueueWorker> {
  const name = `${hostname()}:${process.pid}`;
  const log = opts.log ?? (() => undefined);
  const lockMs = opts.lockMs ?? 30_000;
  const connection = { ...opts.address.redis };
  const client = redisClient(opts.address);
  client.on('error', () => undefined); // reconnects on its own; the commands that fail say why
  const artifacts = new RedisArtifacts(client);
  const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  queue.on('error', () => undefined);
  const resources = new LocalResources(opts.checkpointDirs ?? [], opts.dataDir);
  // A run's lock in a store (shared with this machine's other worker processes, or by every
  // machine) goes stale as fast as a job's lock: a dead worker's run is not held up twice.
  const storeOptions = { lockStaleMs: lockMs };
  const localStore = new ResultsStore(opts.storeDir, storeOptions);
  const dataCache: RunContext['dataCache'] = new Map();

  const processRun = async (job: Job<RunJobData>, token: string): Promise<RunJobResult> => {
    const data = job.data;
    if (data.released) {
      // The run is done and its dependents enqueued: the second pass once they have all finished,
      // or a retry after a worker died before parking the job (it waits for them as it would have).
      if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
      return data.released;
    }
    const { node } = data;
    const attempts = job.opts.attempts ?? 1;
    const lost = job.stalledCounter > 0 ? `, after ${job.stalledCounter} lost worker${job.stalledCounter > 1 ? 's' : ''}` : '';
    log(`started ${node.name} (attempt ${job.attemptsMade + 1} of ${attempts}${lost})`);
    const store = sweepStore(data);
    // The supervisors are done (the last of them released this job): their stored runs are
    // needed, not their models.
    const supervisors: RunConfig[] = [];
    for (let c = node.config.supervisor; c; c = c.supervisor) supervisors.push(c);
    await artifactStep(async () => {
      if (data.artifacts.kind === 'redis') {
        await artifacts.download(node.config, store); // done already, if a worker died after storing it
        for (const supervisor of supervisors)
          if (!(await artifacts.download(supervisor, store))) throw new WorkerResourceError(`the artifact of ${store.runName(supervisor)}, a supervisor of ${node.name}, is not in Redis`);
      } else {
        for (const supervisor of supervisors)
          if (!(await store.load(supervisor))) throw new WorkerResourceError(`${store.runName(supervisor)}, a supervisor of ${node.name}, is not in the shared folder ${store.root}`);
      }
    });
    // A run that is done already (a worker died before finishing its job) needs no model.
    const models = new Map<string, ModelSource>();
    if (!(await store.load(node.config))) {
      const identity = node.config.model.identity;
      const source = data.models.find(([id]) => id === identity)?.[1];
      if (!source) throw new UnrecoverableError(`the job of ${node.name} names no model source for ${identity}`);
      models.set(identity, await resources.model(source));
    }
    const dataSource = resources.data(node.data);
    let lastProgress = 0;
    let result;
    try {
      result = await executeRun(node.config, {
        store,
        data: dataSource,
        models,
        dataCache,
        progress: {
          step: (_, step, totalSteps, loss) => {
            const now = Date.now();
            if (now - lastProgress < 500 && step < totalSteps) return;
            lastProgress = now;
            const progress: RunProgressData = { step, totalSteps, loss };
            job.updateProgress(progress as unknown as object).catch(() => undefined);
          },
        },
      });
    } catch (err) {
      throw isMachineProblem(err) ? err : new UnrecoverableError((err as Error).message);
    }
    if (data.artifacts.kind === 'redis') await artifactStep(() => artifacts.upload(node.config, store));
    const outcome: RunJobResult = { name: node.name, reused: result.reused, worker: name };
    log(`${result.reused ? 'reused' : 'trained'} ${node.name}${result.reused ? '' : ` in ${(result.metrics.seconds ?? 0).toFixed(1)} s`}`);
    if (node.dependents.length === 0) return outcome;
    // Dependents first, then `released`: a worker dying in between leaves a job whose retry adds
    // the missing ones (never twice: a dependent's job, once it exists, is this job's child).
    const parent = { id: job.id!, queue: job.queueQualifiedName };
    for (const dependent of node.dependents) {
      if (await queue.getJob(runJobId(data.sweepId, dependent.name))) continue;
      await queue.add('run', { ...data, node: dependent, released: undefined }, { ...runJobOptions(data.sweepId, dependent, attempts), parent });
    }
    await job.updateData({ ...data, released: outcome });
    if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
    return outcome;
  };

  /** The results store of the job's sweep: this worker's own, or the shared folder (checked to be the sweep's). */
  const sweepStore = (data: RunJobData): ResultsStore => {
    if (data.artifacts.kind === 'redis') return localStore;
    const { root } = data.artifacts;
    if (!existsSync(sharedFolderMarker(root, data.sweepId)))
      throw new WorkerResourceError(`${root} on this machine is not the sweep's shared folder (it lacks ${sharedFolderMarker(root, data.sweepId)}): mount the folder at that path`);
    return new ResultsStore(root, storeOptions);
  };

  const worker = new Worker<RunJobData | SweepJobData, RunJobResult | { runs: number }>(
    QUEUE_NAME,
    async (job, token) => {
      if (job.data.kind === 'sweep') return { runs: job.data.runs };
      try {
        return await processRun(job as Job<RunJobData>, token!);
      } catch (err) {
        if (!(err instanceof WaitingChildrenError)) {
          const retried = err instanceof UnrecoverableError ? "the run's own error: not retried" : `this machine's problem: ${job.attemptsMade + 1 < (job.opts.attempts ?? 1) ? 'retried' : 'no attempts left'}`;
          log(`failed ${(job.data as RunJobData).node.name}: ${(err as Error).message} (${retried})`);
        }
        throw err;
      }
    },
    { connection, prefix: QUEUE_PREFIX, name, concurrency: 1, lockDuration: lockMs, stalledInterval: lockMs, maxStalledCount: MAX_STALLS },
  );
  worker.on('error', (err) => log(`queue error: ${err.message}`));
  await worker.waitUntilReady();
  return {
    name,
    close: async (force = false) => {
      await worker.close(force);
      await queue.close();
      client.disconnect();
    },
  };
}

/**
 * Moves artifacts; one that cannot be stored or read as it is (too large, malformed, another
 * run's) fails the run at once, since no retry would change it. Everything else (the connection,
 * this machine's store) is retried.
 */
async function artifactStep(step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    if (err instanceof ArtifactError || err instanceof InvalidArtifactError) throw new UnrecoverableError((err as Error).message);
    throw err;
  }
}

/** Errors of this machine, which another worker (or a later try) may not have. */
function isMachineProblem(err: unknown): boolean {
  if (err instanceof WorkerResourceError || err instanceof DataMismatchError || err instanceof StoreError) return true;
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'EACCES' || code === 'EMFILE' || code === 'ENOSPC';
}
