// Metrics (accuracy, AUROC, PGR, agreement) and the schedules (learning rate, logconf α), each
// checked against an independent computation or the formula's defining cases.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '@w2s/random';
import { accuracy, agreement, auroc, pgr } from '../src/metrics.js';
import { learningRate } from '../src/schedules.js';
import { logconfAlpha } from '../src/losses.js';

/** AUROC by its definition: over all (positive, negative) pairs, 1 if the positive scores higher, ½ on ties. */
function aurocByPairs(probs: number[], labels: number[]): number {
  let sum = 0;
  let pairs = 0;
  labels.forEach((li, i) => {
    if (li !== 1) return;
    labels.forEach((lj, j) => {
      if (lj !== 0) return;
      pairs++;
      sum += probs[i] > probs[j] ? 1 : probs[i] === probs[j] ? 0.5 : 0;
    });
  });
  return sum / pairs;
}

describe('metrics', () => {
  it('AUROC equals the pairwise definition on random scores with ties', () => {
    const uniform = mulberry32(7);
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + Math.floor(uniform() * 60);
      const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : uniform() < 0.4 ? 1 : 0)); // both classes present
      const probs = labels.map(() => Math.round(uniform() * 8) / 8); // coarse: many ties
      expect(auroc(probs, labels)).toBeCloseTo(aurocByPairs(probs, labels), 12);
    }
    expect(auroc([0.1, 0.2], [1, 1])).toBe(0.5);
  });

  it('accuracy thresholds p(1) at one half', () => {
    expect(accuracy([0.5, 0.49, 0.9, 0.1], [1, 0, 0, 0])).toBe(0.75);
    expect(() => accuracy([0.5], [1, 0])).toThrow(/1 predictions for 2 labels/);
    expect(() => accuracy([], [])).toThrow(/no examples/);
  });

  it('PGR is the recovered fraction of the gap, and undefined without a gap', () => {
    expect(pgr(0.6, 0.8, 0.7)).toBeCloseTo(0.5, 12);
    expect(pgr(0.6, 0.8, 0.8)).toBeCloseTo(1, 12);
    expect(pgr(0.6, 0.8, 0.5)).toBeCloseTo(-0.5, 12);
    expect(pgr(0.7, 0.7, 0.75)).toBeNull();
    expect(pgr(0.8, 0.7, 0.75)).toBeNull();
  });

  it('agreement splits by whether the supervisor was right', () => {
    // labels, supervisor predictions, student predictions
    const labels = [1, 1, 0, 0, 1];
    const supervisor = [0.9, 0.2, 0.1, 0.8, 0.7]; // right, wrong, right, wrong, right
    const student = [0.8, 0.3, 0.6, 0.9, 0.1]; // agrees, agrees, disagrees, agrees, disagrees
    expect(agreement(student, supervisor, labels)).toEqual({ overall: 3 / 5, supervisorRight: 1 / 3, supervisorWrong: 1 });
    expect(agreement([0.9], [0.9], [1])).toEqual({ overall: 1, supervisorRight: 1, supervisorWrong: null });
  });
});

describe('schedules', () => {
  it('logconf α ramps linearly from 0 to alphaMax over warmupFrac, then stays', () => {
    const opts = { alphaMax: 0.75, warmupFrac: 0.2, schedule: 'linear' as const };
    const total = 100;
    const alphas = Array.from({ length: total }, (_, s) => logconfAlpha(opts, s, total));
    expect(alphas[0]).toBe(0);
    for (let s = 0; s < total; s++) expect(alphas[s]).toBeCloseTo(0.75 * Math.min(1, s / total / 0.2), 12);
    expect(alphas[10]).toBeCloseTo(0.375, 12); // halfway through the warm-up: half of alphaMax
    for (let s = 1; s < total; s++) expect(alphas[s]).toBeGreaterThanOrEqual(alphas[s - 1]);
  });

  it("the reference code's 'jump' schedule: α = alphaMax·f during the warm-up, then alphaMax at once", () => {
    const opts = { alphaMax: 0.5, warmupFrac: 0.2, schedule: 'jump' as const };
    expect(logconfAlpha(opts, 10, 100)).toBeCloseTo(0.05, 12);
    expect(logconfAlpha(opts, 20, 100)).toBeCloseTo(0.1, 12); // f = warmupFrac is still in the warm-up
    expect(logconfAlpha(opts, 21, 100)).toBe(0.5);
    expect(() => logconfAlpha(opts, 100, 100)).toThrow(/step must be an integer in \[0, 100\)/);
  });

  it('learning rates: constant, cosine from lr towards 0, linear warm-up then cosine', () => {
    expect(learningRate({ kind: 'constant', lr: 0.1, warmupFrac: 0 }, 7, 10)).toBe(0.1);
    const cosine = Array.from({ length: 10 }, (_, s) => learningRate({ kind: 'cosine', lr: 2, warmupFrac: 0 }, s, 10));
    expect(cosine[0]).toBe(2);
    expect(cosine[5]).toBeCloseTo(1, 12);
    cosine.forEach((lr, s) => expect(lr).toBeCloseTo(1 + Math.cos((Math.PI * s) / 10), 12));
    const warm = Array.from({ length: 20 }, (_, s) => learningRate({ kind: 'warmup-cosine', lr: 1, warmupFrac: 0.2 }, s, 20));
    expect(warm.slice(0, 4)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(warm[4]).toBe(1);
    expect(warm[19]).toBeCloseTo(0.5 * (1 + Math.cos((Math.PI * 15) / 16)), 12);
  });
});
