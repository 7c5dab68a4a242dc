// The executor that runs a sweep's runs in this process, one at a time.
import { executeRun, type RunContext } from '../runs.js';
import type { RunNode } from './plan.js';
import { RunEvents, type RunEvent, type RunExecutor } from './scheduler.js';

export class InProcessExecutor implements RunExecutor {
  private readonly events = new RunEvents();
  private running = false;

  /** ctx: what every run needs but its data source, which each node names. */
  constructor(private readonly ctx: Omit<RunContext, 'data' | 'progress'>) {}

  idle(): number {
    return this.running ? 0 : 1;
  }

  submit(node: RunNode): void {
    this.running = true;
    const { name } = node;
    const progress: RunContext['progress'] = {
      // (A supervisor missing from the store would be computed on the way: only this run is reported.)
      start: (started) => {
        if (started === name) this.events.push({ kind: 'started', name });
      },
      step: (stepped, step, totalSteps, loss) => {
        if (stepped === name) this.events.push({ kind: 'step', name, step, totalSteps, loss });
      },
    };
    executeRun(node.config, { ...this.ctx, data: node.data, progress }).then(
      (result) => this.settle({ kind: 'finished', name, reused: result.reused }),
      (err: Error) => this.settle({ kind: 'failed', name, message: err.message, retryable: false }),
    );
  }

  next(): Promise<RunEvent[]> {
    return this.events.take();
  }

  private settle(event: RunEvent): void {
    this.running = false;
    this.events.push(event);
  }
}
