// Schedules over training progress: the learning rate per step, and the auxiliary-confidence
// weight α of the logconf loss. Steps count from 0 to totalSteps − 1; progress f = step / totalSteps.

export type LrSchedule = 'constant' | 'cosine' | 'warmup-cosine';

export interface LrScheduleOptions {
  kind: LrSchedule;
  /** Peak learning rate. */
  lr: number;
  /** Fraction of the steps spent ramping linearly from 0 to lr ('warmup-cosine' only). */
  warmupFrac: number;
}

/**
 * The learning rate of `step` of `totalSteps`:
 *   constant       lr
 *   cosine         lr · ½(1 + cos(π·f)), from lr at the first step towards 0 (the reference's schedule)
 *   warmup-cosine  lr · (step + 1)/w for the w = ⌈warmupFrac·totalSteps⌉ first steps, then cosine over the rest
 */
export function learningRate(opts: LrScheduleOptions, step: number, totalSteps: number): number {
  checkStep(step, totalSteps);
  if (opts.kind === 'constant') return opts.lr;
  if (opts.kind === 'cosine') return opts.lr * 0.5 * (1 + Math.cos((Math.PI * step) / totalSteps));
  if (opts.kind !== 'warmup-cosine') throw new RangeError(`unknown learning-rate schedule ${JSON.stringify(opts.kind)}: expected constant, cosine or warmup-cosine`);
  const warmup = Math.ceil(opts.warmupFrac * totalSteps);
  if (step < warmup) return (opts.lr * (step + 1)) / warmup;
  return opts.lr * 0.5 * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, totalSteps - warmup)));
}

export type AlphaSchedule = 'linear' | 'jump';

export interface AlphaScheduleOptions {
  alphaMax: number;
  warmupFrac: number;
  /**
   * 'linear' (the paper): α = alphaMax · min(1, f / warmupFrac), a linear ramp from 0 to alphaMax.
   * 'jump' (the reference code's behaviour, kept only as an explicit option): openai/weak-to-strong's
   * logconf_loss_fn sets `coef = 1.0 if step_frac > warmup_frac else step_frac`, so α = alphaMax·f
   * during the warm-up (reaching only warmupFrac·alphaMax) and then jumps to alphaMax.
   */
  schedule: AlphaSchedule;
}

/** α of the logconf loss at `step` of `totalSteps`. */
export function logconfAlpha(opts: AlphaScheduleOptions, step: number, totalSteps: number): number {
  checkStep(step, totalSteps);
  const f = step / totalSteps;
  if (opts.schedule !== 'linear' && opts.schedule !== 'jump') throw new RangeError(`unknown logconf schedule ${JSON.stringify(opts.schedule)}: expected linear or jump`);
  if (opts.warmupFrac <= 0) return opts.alphaMax;
  if (opts.schedule === 'jump') return f > opts.warmupFrac ? opts.alphaMax : opts.alphaMax * f;
  return opts.alphaMax * Math.min(1, f / opts.warmupFrac);
}

function checkStep(step: number, totalSteps: number): void {
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new RangeError(`totalSteps must be a positive integer, got ${totalSteps}`);
  if (!Number.isInteger(step) || step < 0 || step >= totalSteps) throw new RangeError(`step must be an integer in [0, ${totalSteps}), got ${step}`);
}
