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
//
// Precision: a run is planned with a precision (RunConfig.precision: `w2s sweep --queue
// --precision`), and only a worker whose process computes in it (`w2s worker --precision`) trains
// it. A worker of another precision hands the job back untouched, before loading anything: it is
// delayed for a moment (without using one of its attempts) so that a worker of the right precision
// can take it. With no such worker the job waits in the queue until one starts.
import { hostname } from 'node:os';
import { DelayedError, Queue, UnrecoverableError, WaitingChildrenError, Worker, type Job } from 'bullmq';
import { existsSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { DataMismatchError, InvalidArtifactError, ResultsStore, StoreError, executeRun, processPrecision, runPrecision, type ModelSource, type RunConfig, type RunContext, type RunResult } from '@w2s/pipeline';
import { ArtifactError, RedisArtifacts } from './artifacts.js';
import { redisClient, type QueueAddress } from './connection.js';
import { QUEUE_NAME, QUEUE_PREFIX, runJobId, runJobOptions, sharedFolderMarker, type RunJobData, type RunJobResult, type RunProgressData, type SweepJobData } from './jobs.js';
import { LocalResources, WorkerResourceError } from './resources.js';

/** How often a job may lose its worker (kill -9, a lost machine) before it fails as stalled. */
export const MAX_STALLS = 3;

/** How long a job of another precision is put aside when a worker hands it back (so that another worker may take it). */
export const HAND_BACK_DELAY_MS = 2_000;

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
  /** How long a job of another precision than this worker's is put aside when handed back (default HAND_BACK_DELAY_MS). */
  handBackMs?: number;
  /** One line per event (started, trained, reused, failed, handed back). */
  log?: (line: string) => void;
}

export interface RunningQueueWorker {
  name: string;
  /** Stops taking jobs; waits for the job in hand unless forced. */
  close(force?: boolean): Promise<void>;
}

export async function startQueueWorker(opts: QueueWorkerOptions): Promise<RunningQueueWorker> {
  const worker = new QueueWorker(opts);
  await worker.start();
  return worker;
}

/** One worker: a BullMQ worker taking one job at a time, and what a run's job needs around it. */
class QueueWorker implements RunningQueueWorker {
  readonly name = `${hostname()}:${process.pid}`;
  private readonly log: (line: string) => void;
  private readonly lockMs: number;
  private readonly client: Redis;
  private readonly artifacts: RedisArtifacts;
  private readonly queue: Queue;
  private readonly resources: LocalResources;
  /**
   * A run's lock in a store (shared with this machine's other worker processes, or by every
   * machine) goes stale as fast as a job's lock: a dead worker's run is not held up twice.
   */
  private readonly storeOptions: { lockStaleMs: number };
  private readonly localStore: ResultsStore;
  private readonly dataCache: RunContext['dataCache'] = new Map();
  private worker: Worker<RunJobData | SweepJobData, RunJobResult | { runs: number }> | null = null;
  /** The jobs of another precision this worker has handed back (and said so, once each). */
  private readonly handedBack = new Set<string>();

  constructor(private readonly opts: QueueWorkerOptions) {
    this.log = opts.log ?? (() => undefined);
    this.lockMs = opts.lockMs ?? 30_000;
    this.client = redisClient(opts.address);
    this.client.on('error', () => undefined); // reconnects on its own; the commands that fail say why
    this.artifacts = new RedisArtifacts(this.client);
    this.queue = new Queue(QUEUE_NAME, { connection: { ...opts.address.redis }, prefix: QUEUE_PREFIX });
    this.queue.on('error', () => undefined);
    this.resources = new LocalResources(opts.checkpointDirs ?? [], opts.dataDir);
    this.storeOptions = { lockStaleMs: this.lockMs };
    this.localStore = new ResultsStore(opts.storeDir, this.storeOptions);
  }

  async start(): Promise<void> {
    const { lockMs } = this;
    this.worker = new Worker(QUEUE_NAME, (job, token) => this.take(job, token!), {
      connection: { ...this.opts.address.redis },
      prefix: QUEUE_PREFIX,
      name: this.name,
      concurrency: 1,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: MAX_STALLS,
    });
    this.worker.on('error', (err) => this.log(`queue error: ${err.message}`));
    await this.worker.waitUntilReady();
  }

  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    await this.queue.close();
    this.client.disconnect();
  }

  /** A job taken from the queue: a sweep's root completes with its count; a run is processed, its failure logged. */
  private async take(job: Job<RunJobData | SweepJobData>, token: string): Promise<RunJobResult | { runs: number }> {
    if (job.data.kind === 'sweep') return { runs: job.data.runs };
    try {
      return await this.processRun(job as Job<RunJobData>, token);
    } catch (err) {
      if (!(err instanceof WaitingChildrenError) && !(err instanceof DelayedError)) {
        const retried = err instanceof UnrecoverableError ? "the run's own error: not retried" : `this machine's problem: ${job.attemptsMade + 1 < (job.opts.attempts ?? 1) ? 'retried' : 'no attempts left'}`;
        this.log(`failed ${(job.data as RunJobData).node.name}: ${(err as Error).message} (${retried})`);
      }
      throw err;
    }
  }

  private async processRun(job: Job<RunJobData>, token: string): Promise<RunJobResult> {
    const data = job.data;
    if (data.released) {
      // The run is done and its dependents enqueued: the second pass once they have all finished,
      // or a retry after a worker died before parking the job (it waits for them as it would have).
      if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
      return data.released;
    }
    const { node } = data;
    // Before anything is loaded: a run of another precision is left to a worker of that precision.
    const wanted = runPrecision(node.config);
    const own = processPrecision();
    if (wanted !== own) {
      await job.moveToDelayed(Date.now() + (this.opts.handBackMs ?? HAND_BACK_DELAY_MS), token);
      if (!this.handedBack.has(job.id!)) {
        this.handedBack.add(job.id!);
        this.log(
          `handed back ${node.name}: it is planned in ${wanted}, this worker computes in ${own} (--precision); ` +
            `it waits in the queue, its attempts untouched, for a \`w2s worker --precision ${wanted}\``,
        );
      }
      throw new DelayedError();
    }
    const lost = job.stalledCounter > 0 ? `, after ${job.stalledCounter} lost worker${job.stalledCounter > 1 ? 's' : ''}` : '';
    this.log(`started ${node.name} (attempt ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1}${lost})`);
    const store = this.sweepStore(data);
    await this.fetchSupervisors(data, store);
    const result = await this.train(job, store);
    if (data.artifacts.kind === 'redis') await artifactStep(() => this.artifacts.upload(node.config, store));
    this.log(`${result.reused ? 'reused' : 'trained'} ${node.name}${result.reused ? '' : ` in ${(result.metrics.seconds ?? 0).toFixed(1)} s`}`);
    const outcome: RunJobResult = { name: node.name, reused: result.reused, worker: this.name };
    return node.dependents.length === 0 ? outcome : this.release(job, token, outcome);
  }

  /**
   * The supervisors are done (the last of them released this job): their stored runs are needed
   * here, not their models. With Redis artifacts, the run itself too, if a worker died after
   * storing it.
   */
  private async fetchSupervisors(data: RunJobData, store: ResultsStore): Promise<void> {
    const { node } = data;
    const supervisors: RunConfig[] = [];
    for (let c = node.config.supervisor; c; c = c.supervisor) supervisors.push(c);
    await artifactStep(async () => {
      if (data.artifacts.kind === 'redis') {
        await this.artifacts.download(node.config, store);
        for (const supervisor of supervisors)
          if (!(await this.artifacts.download(supervisor, store))) throw new WorkerResourceError(`the artifact of ${store.runName(supervisor)}, a supervisor of ${node.name}, is not in Redis`);
      } else {
        for (const supervisor of supervisors)
          if (!(await store.load(supervisor))) throw new WorkerResourceError(`${store.runName(supervisor)}, a supervisor of ${node.name}, is not in the shared folder ${store.root}`);
      }
    });
  }

  /** Trains the run (or reuses it from the store), its progress on the job; the run's own errors are not retried. */
  private async train(job: Job<RunJobData>, store: ResultsStore): Promise<RunResult> {
    const { node } = job.data;
    // A run that is done already (a worker died before finishing its job) needs no model.
    const models = new Map<string, ModelSource>();
    if (!(await store.load(node.config))) {
      const identity = node.config.model.identity;
      const source = job.data.models.find(([id]) => id === identity)?.[1];
      if (!source) throw new UnrecoverableError(`the job of ${node.name} names no model source for ${identity}`);
      models.set(identity, await this.resources.model(source));
    }
    let lastProgress = 0;
    const step = (_: string, step: number, totalSteps: number, loss: number) => {
      const now = Date.now();
      if (now - lastProgress < 500 && step < totalSteps) return;
      lastProgress = now;
      const progress: RunProgressData = { step, totalSteps, loss };
      job.updateProgress(progress as unknown as object).catch(() => undefined);
    };
    try {
      return await executeRun(node.config, { store, data: this.resources.data(node.data), models, dataCache: this.dataCache, progress: { step } });
    } catch (err) {
      throw isMachineProblem(err) ? err : new UnrecoverableError((err as Error).message);
    }
  }

  /**
   * Enqueues the runs that learn from this one as children of its job, then parks the job until
   * they finish. Dependents first, then `released`: a worker dying in between leaves a job whose
   * retry adds the missing ones (never twice: a dependent's job, once it exists, is this job's child).
   */
  private async release(job: Job<RunJobData>, token: string, outcome: RunJobResult): Promise<RunJobResult> {
    const data = job.data;
    const parent = { id: job.id!, queue: job.queueQualifiedName };
    for (const dependent of data.node.dependents) {
      if (await this.queue.getJob(runJobId(data.sweepId, dependent.name))) continue;
      await this.queue.add('run', { ...data, node: dependent, released: undefined }, { ...runJobOptions(data.sweepId, dependent, job.opts.attempts ?? 1), parent });
    }
    await job.updateData({ ...data, released: outcome });
    if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
    return outcome;
  }

  /** The results store of the job's sweep: this worker's own, or the shared folder (checked to be the sweep's). */
  private sweepStore(data: RunJobData): ResultsStore {
    if (data.artifacts.kind === 'redis') return this.localStore;
    const { root } = data.artifacts;
    if (!existsSync(sharedFolderMarker(root, data.sweepId)))
      throw new WorkerResourceError(`${root} on this machine is not the sweep's shared folder (it lacks ${sharedFolderMarker(root, data.sweepId)}): mount the folder at that path`);
    return new ResultsStore(root, this.storeOptions);
  }
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
