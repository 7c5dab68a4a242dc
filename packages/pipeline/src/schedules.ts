// The learning-rate schedule over training (the losses' own schedules, such as logconf's α, are
// part of their definitions in losses.ts). Steps count from 0 to totalSteps − 1; progress
// f = step / totalSteps.

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

function checkStep(step: number, totalSteps: number): void {
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new RangeError(`totalSteps must be a positive integer, got ${totalSteps}`);
  if (!Number.isInteger(step) || step < 0 || step >= totalSteps) throw new RangeError(`step must be an integer in [0, ${totalSteps}), got ${step}`);
}
