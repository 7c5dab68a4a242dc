// The executor that runs a sweep's runs in worker processes (`w2s sweep --workers N`), one run
// at a time per process, and the body of such a process (serveSweepWorker). They speak over the
// processes' IPC channel: a WorkerJob down, WorkerMessages up.
import type { ChildProcess } from 'node:child_process';
import { ResultsStore } from '../store.js';
import type { DataSource } from '../data.js';
import { LossError, loadLossModule, type LossDefinition } from '../losses.js';
import type { ModelSource } from '../models.js';
import { executeRun, type RunConfig, type RunContext } from '../runs.js';
import type { RunNode } from './plan.js';
import { RunEvents, type RunEvent, type RunExecutor } from './scheduler.js';

/** A training run handed to a worker process. */
export interface WorkerJob {
  id: number;
  config: RunConfig;
  data: DataSource;
  models: [string, ModelSource][];
  /** The loss modules the run may need, loaded by the worker and checked against their hashes. */
  lossModules: { path: string; sha256: string }[];
  storeRoot: string;
}

export type WorkerMessage =
  | { type: 'step'; id: number; step: number; totalSteps: number; loss: number }
  | { type: 'done'; id: number; name: string; reused: boolean }
  | { type: 'error'; id: number; message: string };

export class ProcessPoolExecutor implements RunExecutor {
  private readonly events = new RunEvents();
  private readonly inFlight = new Map<ChildProcess, { id: number; name: string }>();
  private nextId = 0;

  /** workers: started processes (each running serveSweepWorker); the rest of a WorkerJob, shared by every run. */
  constructor(
    private readonly workers: ChildProcess[],
    private readonly shared: Pick<WorkerJob, 'models' | 'lossModules' | 'storeRoot'>,
  ) {
    for (const worker of workers) {
      worker.on('message', (message: WorkerMessage) => this.heard(worker, message));
      worker.on('exit', (code, signal) => {
        const job = this.inFlight.get(worker);
        if (job) this.settle(worker, { kind: 'failed', name: job.name, message: `its worker process died (${signal ?? `exit code ${code}`})`, retryable: true });
      });
    }
  }

  idle(): number {
    return this.workers.filter((w) => w.connected && !this.inFlight.has(w)).length;
  }

  submit(node: RunNode): void {
    const worker = this.workers.find((w) => w.connected && !this.inFlight.has(w))!;
    const job: WorkerJob = { id: this.nextId++, config: node.config, data: node.data, ...this.shared };
    this.inFlight.set(worker, { id: job.id, name: node.name });
    this.events.push({ kind: 'started', name: node.name });
    worker.send(job);
  }

  next(): Promise<RunEvent[]> {
    return this.events.take();
  }

  /** Lets the processes end (they exit once disconnected). */
  close(): void {
    for (const worker of this.workers) if (worker.connected) worker.disconnect();
  }

  private heard(worker: ChildProcess, message: WorkerMessage): void {
    const job = this.inFlight.get(worker);
    if (!job || message.id !== job.id) return;
    if (message.type === 'step') this.events.push({ kind: 'step', name: job.name, step: message.step, totalSteps: message.totalSteps, loss: message.loss });
    else if (message.type === 'done') this.settle(worker, { kind: 'finished', name: job.name, reused: message.reused });
    else this.settle(worker, { kind: 'failed', name: job.name, message: message.message, retryable: false });
  }

  private settle(worker: ChildProcess, event: RunEvent): void {
    this.inFlight.delete(worker);
    this.events.push(event);
  }
}

/** The body of a worker process: runs the jobs its parent sends, one at a time, until disconnected. */
export function serveSweepWorker(): void {
  if (!process.send) throw new Error('the sweep worker must be started by `w2s sweep` (it needs an IPC channel)');
  const send = (message: WorkerMessage) => process.send!(message);
  const dataCache: RunContext['dataCache'] = new Map();
  const loaded = new Map<string, Promise<LossDefinition>>(); // by content hash
  process.on('message', async (job: WorkerJob) => {
    try {
      const losses = await Promise.all(job.lossModules.map((m) => loadChecked(m, loaded)));
      const result = await executeRun(job.config, {
        store: new ResultsStore(job.storeRoot),
        data: job.data,
        models: new Map(job.models),
        losses,
        dataCache,
        progress: { step: (_, step, totalSteps, loss) => send({ type: 'step', id: job.id, step, totalSteps, loss }) },
      });
      send({ type: 'done', id: job.id, name: result.name, reused: result.reused });
    } catch (err) {
      send({ type: 'error', id: job.id, message: (err as Error).message });
    }
  });
}

/** A worker's copy of a loss module: the file must still have the content the sweep planned with. */
function loadChecked(module: { path: string; sha256: string }, loaded: Map<string, Promise<LossDefinition>>): Promise<LossDefinition> {
  let definition = loaded.get(module.sha256);
  if (!definition) {
    definition = loadLossModule(module.path).then((d) => {
      if (d.module!.sha256 !== module.sha256) throw new LossError(`${module.path} changed since the sweep was planned (sha256:${module.sha256}, now sha256:${d.module!.sha256})`);
      return d;
    });
    definition.catch(() => loaded.delete(module.sha256)); // a later job tries again
    loaded.set(module.sha256, definition);
  }
  return definition;
}
