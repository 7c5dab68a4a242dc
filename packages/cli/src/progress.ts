// Progress on stderr while runs train: on a terminal, cli-progress bars (one for the whole job,
// one per run in flight with its step and loss); otherwise one line per finished run, so logs
// stay readable. stdout is left to the results.
import cliProgress from 'cli-progress';
import type { RunConfig, SweepProgress } from '@w2s/pipeline';
import type { QueuedSweepProgress, QueuedSweepStatus } from '@w2s/queue';

/** Bars on a terminal's stderr, and the lines logged above them (plain lines off a terminal). */
class StderrBars {
  protected readonly tty = Boolean(process.stderr.isTTY);
  protected readonly bars = new cliProgress.MultiBar(
    { stream: process.stderr, format: ' {bar} {value}/{total} {label}', hideCursor: true, clearOnComplete: false, barsize: 24, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );

  /** A line above the bars. */
  log(line: string): void {
    if (this.tty) this.bars.log(line + '\n');
    else process.stderr.write(line + '\n');
  }

  stop(): void {
    if (this.tty) this.bars.stop();
  }
}

export class ProgressDisplay extends StderrBars implements SweepProgress {
  private total: cliProgress.SingleBar | null = null;
  private readonly runs = new Map<string, cliProgress.SingleBar>();
  private readonly finishedNames = new Set<string>();
  private totalRuns = 0;

  planned(totalRuns: number): void {
    this.totalRuns = totalRuns;
    if (this.tty) this.total = this.bars.create(totalRuns, 0, { label: 'runs done' });
  }

  runStarted(name: string, config: RunConfig): void {
    if (this.tty) this.runs.set(name, this.bars.create(1, 0, { label: `${name} (${config.model.identity.slice(0, 20)})` }));
  }

  runStep(name: string, step: number, totalSteps: number, loss: number): void {
    const bar = this.runs.get(name);
    if (!bar) return;
    bar.setTotal(totalSteps);
    bar.update(step, { label: `${name} loss ${loss.toFixed(4)}` });
  }

  /** A run is counted once, however often it is asked for (a supervisor serves several students). */
  runFinished(name: string, reused: boolean): void {
    this.removeRun(name);
    if (this.finishedNames.has(name)) return;
    this.finishedNames.add(name);
    if (this.total) this.total.update(this.finishedNames.size);
    else process.stderr.write(`[${this.finishedNames.size}/${this.totalRuns || '?'}] ${reused ? 'reused' : 'trained'} ${name}\n`);
  }

  runFailed(name: string, message: string): void {
    this.removeRun(name);
    this.finishedNames.add(name);
    if (this.total) this.total.update(this.finishedNames.size);
    this.log(`failed ${name}: ${message}`);
  }

  private removeRun(name: string): void {
    const bar = this.runs.get(name);
    if (bar) {
      this.bars.remove(bar);
      this.runs.delete(name);
    }
  }
}

/**
 * A queued sweep (`w2s sweep --queue`): one bar for the whole sweep, done / running / waiting /
 * failed and the workers connected, with a line above it for each finished or failed run; off a
 * terminal, a line whenever the counts change.
 */
export class QueueProgressDisplay extends StderrBars implements QueuedSweepProgress {
  private bar: cliProgress.SingleBar | null = null;
  private lastLine = '';

  started(info: { sweepId: string; attached: boolean; total: number }): void {
    this.log(`sweep ${info.sweepId}: ${info.attached ? 'attached to the sweep already in the queue' : 'enqueued'}, ${info.total} runs`);
    if (this.tty) this.bar = this.bars.create(info.total, 0, { label: 'waiting for the queue' });
  }

  status(s: QueuedSweepStatus): void {
    const running = s.active
      .filter((a) => a.progress)
      .map((a) => `${a.name} ${a.progress!.step}/${a.progress!.totalSteps}`)
      .slice(0, 2);
    const line = `done ${s.done} · running ${s.running} · waiting ${s.waiting} · failed ${s.failed} · workers ${s.workers ?? '?'}`;
    if (this.bar) this.bar.update(s.done + s.failed, { label: running.length ? `${line} · ${running.join(', ')}` : line });
    else if (line !== this.lastLine) process.stderr.write(`[${s.done + s.failed}/${s.total}] ${line}\n`);
    this.lastLine = line;
  }

  runFinished(name: string, reused: boolean, worker: string): void {
    this.log(`${reused ? 'reused' : 'trained'} ${name} (${worker})`);
  }

  runFailed(name: string, message: string): void {
    this.log(`failed ${name}: ${message}`);
  }

  runLost(name: string, worker: string | undefined): void {
    this.log(`${name} lost its worker${worker ? ` ${worker}` : ''}: back in the queue for another`);
  }

  runRetried(name: string, reason: string): void {
    this.log(`${name}: an attempt failed (${reason}); tried again`);
  }

  connectionTrouble(message: string): void {
    this.log(message);
  }
}
