// Progress on stderr while runs train: on a terminal, cli-progress bars (one for the whole job,
// one per run in flight with its step and loss); otherwise one line per finished run, so logs
// stay readable. stdout is left to the results.
import cliProgress from 'cli-progress';
import type { RunConfig, SweepProgress } from '@w2s/pipeline';

export class ProgressDisplay implements SweepProgress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly bars = new cliProgress.MultiBar(
    { stream: process.stderr, format: ' {bar} {value}/{total} {label}', hideCursor: true, clearOnComplete: false, barsize: 24, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
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

  /** A line above the bars. */
  log(line: string): void {
    if (this.tty) this.bars.log(line + '\n');
    else process.stderr.write(line + '\n');
  }

  stop(): void {
    if (this.tty) this.bars.stop();
  }

  private removeRun(name: string): void {
    const bar = this.runs.get(name);
    if (bar) {
      this.bars.remove(bar);
      this.runs.delete(name);
    }
  }
}
