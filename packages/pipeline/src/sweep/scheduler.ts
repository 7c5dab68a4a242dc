// The one scheduler of a sweep's runs, whatever executes them: this process (in-process.ts),
// worker processes (processes.ts), or queue workers on any number of machines (@w2s/queue's
// follower). It hands the executor each run once the run's supervisor is done, fails the
// dependents of a failed run (and theirs), gives a run that failed for its executor's reasons
// another attempt while it has attempts left, and tallies what was computed, reused or failed.
import type { RunConfig } from '../runs.js';
import type { RunNode } from './plan.js';

/** What an executor reports about the runs it was handed, by run name. */
export type RunEvent =
  | { kind: 'started'; name: string; worker?: string }
  | { kind: 'step'; name: string; step: number; totalSteps: number; loss: number }
  | { kind: 'finished'; name: string; reused: boolean; worker?: string }
  /**
   * An attempt failed. retryable: another attempt may succeed (a lost process, a machine that
   * lacks a file); false for the run's own errors, which any attempt would meet, and for an
   * executor that has given up on the run itself.
   */
  | { kind: 'failed'; name: string; message: string; retryable: boolean }
  /** The run lost its worker and waits for another; this costs no attempt. */
  | { kind: 'lost'; name: string; worker?: string };

export interface RunExecutor {
  /** How many more runs it takes now (Infinity: every run it is given). */
  idle(): number;
  /** Hands it a run whose supervisor is done; `attempt` counts from 1. */
  submit(node: RunNode, attempt: number): void;
  /** The events since the last call; waits for some, though a polling executor may return none. */
  next(): Promise<RunEvent[]>;
}

export interface ScheduleProgress {
  runStarted?(name: string, config: RunConfig, worker?: string): void;
  runStep?(name: string, step: number, totalSteps: number, loss: number): void;
  runFinished?(name: string, reused: boolean, worker?: string): void;
  runFailed?(name: string, message: string): void;
  /** An attempt failed for its executor's reasons; the run is tried again. */
  runRetried?(name: string, reason: string): void;
  /** The run lost its worker: it waits for another. */
  runLost?(name: string, worker: string | undefined): void;
}

export interface RunCounts {
  total: number;
  done: number;
  running: number;
  /** Waiting for their supervisor or for a worker. */
  waiting: number;
  failed: number;
}

export interface ScheduleOptions {
  /** Attempts at a run whose failures are retryable (default 1). */
  attempts?: number;
  progress?: ScheduleProgress;
  /** Called after each batch of events. */
  counted?(counts: RunCounts): void;
  /** Aborting stops scheduling (checked between batches of events): the outcome says so. */
  signal?: AbortSignal;
}

export interface ScheduleOutcome {
  /** The runs computed, reused and failed, in the order of the plan. */
  computed: string[];
  reused: string[];
  failed: { name: string; message: string }[];
  /** Stopped by the signal before every run was done or failed. */
  interrupted: boolean;
}

/** Runs every node (supervisors before their dependents) on the executor until each is done or failed, or the signal aborts. */
export function schedule(runs: RunNode[], executor: RunExecutor, opts: ScheduleOptions = {}): Promise<ScheduleOutcome> {
  return new Scheduler(runs, executor, opts).run();
}

type RunState =
  | { kind: 'blocked' } // its supervisor is not done
  | { kind: 'ready'; attempt: number }
  | { kind: 'submitted'; attempt: number; started: boolean }
  | { kind: 'done'; reused: boolean }
  | { kind: 'failed'; message: string };

class Scheduler {
  private readonly states = new Map<string, RunState>();
  private readonly nodes = new Map<string, RunNode>();
  private readonly attempts: number;
  private unsettled: number;

  constructor(
    runs: RunNode[],
    private readonly executor: RunExecutor,
    private readonly opts: ScheduleOptions,
  ) {
    this.attempts = opts.attempts ?? 1;
    const dependents = new Set(runs.flatMap((node) => node.dependents.map((d) => d.name)));
    for (const node of runs) {
      this.nodes.set(node.name, node);
      this.states.set(node.name, dependents.has(node.name) ? { kind: 'blocked' } : { kind: 'ready', attempt: 1 });
    }
    this.unsettled = runs.length;
  }

  async run(): Promise<ScheduleOutcome> {
    while (this.unsettled > 0) {
      if (this.opts.signal?.aborted) return this.tally(true);
      this.dispatch();
      if (this.unsettled === 0) break;
      for (const event of await this.executor.next()) this.apply(event);
      this.opts.counted?.(this.counts());
    }
    return this.tally(false);
  }

  /** Hands ready runs to the executor while it takes them; with none in flight and none taken, the rest cannot run. */
  private dispatch(): void {
    for (const [name, state] of this.states) {
      if (state.kind === 'ready' && this.executor.idle() > 0) this.submit(name, state.attempt);
    }
    const inFlight = [...this.states.values()].some((s) => s.kind === 'submitted');
    if (!inFlight) for (const [name, state] of this.states) if (state.kind === 'ready') this.fail(name, 'no worker left to run it');
  }

  private apply(event: RunEvent): void {
    const state = this.states.get(event.name);
    if (state?.kind !== 'submitted') return; // not handed out (or settled already): nothing to learn
    const { progress } = this.opts;
    switch (event.kind) {
      case 'started':
        this.states.set(event.name, { ...state, started: true });
        progress?.runStarted?.(event.name, this.nodes.get(event.name)!.config, event.worker);
        break;
      case 'step':
        progress?.runStep?.(event.name, event.step, event.totalSteps, event.loss);
        break;
      case 'lost':
        this.states.set(event.name, { ...state, started: false });
        progress?.runLost?.(event.name, event.worker);
        break;
      case 'finished':
        this.finish(event.name, event.reused, event.worker);
        break;
      case 'failed':
        if (event.retryable && state.attempt < this.attempts) {
          progress?.runRetried?.(event.name, event.message);
          this.retry(event.name, state.attempt + 1);
        } else this.fail(event.name, event.message);
    }
  }

  /**
   * Another attempt, handed out at once where the executor takes it (so that the batch's later
   * events, such as a queue's job already running again, apply to it), else when it is idle.
   */
  private retry(name: string, attempt: number): void {
    if (this.executor.idle() > 0) this.submit(name, attempt);
    else this.states.set(name, { kind: 'ready', attempt });
  }

  private submit(name: string, attempt: number): void {
    this.states.set(name, { kind: 'submitted', attempt, started: false });
    this.executor.submit(this.nodes.get(name)!, attempt);
  }

  /** A run done: its dependents are released. */
  private finish(name: string, reused: boolean, worker: string | undefined): void {
    this.states.set(name, { kind: 'done', reused });
    this.unsettled--;
    this.opts.progress?.runFinished?.(name, reused, worker);
    for (const dependent of this.nodes.get(name)!.dependents) this.states.set(dependent.name, { kind: 'ready', attempt: 1 });
  }

  /** A run failed: its dependents, and theirs, fail with it. */
  private fail(name: string, message: string): void {
    this.states.set(name, { kind: 'failed', message });
    this.unsettled--;
    this.opts.progress?.runFailed?.(name, message);
    for (const dependent of this.nodes.get(name)!.dependents) this.fail(dependent.name, 'its supervisor failed');
  }

  private counts(): RunCounts {
    const counts: RunCounts = { total: this.states.size, done: 0, running: 0, waiting: 0, failed: 0 };
    for (const s of this.states.values()) {
      if (s.kind === 'done') counts.done++;
      else if (s.kind === 'failed') counts.failed++;
      else if (s.kind === 'submitted' && s.started) counts.running++;
      else counts.waiting++;
    }
    return counts;
  }

  private tally(interrupted: boolean): ScheduleOutcome {
    const outcome: ScheduleOutcome = { computed: [], reused: [], failed: [], interrupted };
    for (const [name, s] of this.states) {
      if (s.kind === 'done') (s.reused ? outcome.reused : outcome.computed).push(name);
      else if (s.kind === 'failed') outcome.failed.push({ name, message: s.message });
    }
    return outcome;
  }
}

/**
 * The events of an executor that is told of them (by callbacks, messages) rather than asking:
 * kept until the scheduler takes them.
 */
export class RunEvents {
  private events: RunEvent[] = [];
  private wake: (() => void) | null = null;

  push(event: RunEvent): void {
    this.events.push(event);
    this.wake?.();
    this.wake = null;
  }

  async take(): Promise<RunEvent[]> {
    while (this.events.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.events.splice(0);
  }
}
