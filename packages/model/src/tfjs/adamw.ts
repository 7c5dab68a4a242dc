// AdamW as the native engine implements it, for comparing parameters after several steps.
// Storage is float32 (parameters, m and v are Float32Arrays, one per trainable parameter in its
// spec's layout); each element's update is evaluated in float64 JS numbers from the stored float32
// values, and m, v and p are rounded to float32 as they are stored. One step, t counting from 1:
//   total = sqrt(Σ g²) over the trainable parameters' gradients (returned: the pre-clip norm);
//   if maxGradNorm > 0 and total > maxGradNorm: g ← g · maxGradNorm / (total + 1e-6);
//   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  m̂ = m / (1 − β1^t);  v̂ = v / (1 − β2^t);
//   p = p − lr·(m̂ / (sqrt(v̂) + eps) + (spec.decay ? weightDecay·p : 0)).
import { type ModelConfig, type ParameterSpec, type Weights } from '../config.js';
import { checkOptimizerOptions, type OptimizerOptions } from '../optimizer.js';
import { trainableSpecs, type TwinOptions } from './twin.js';

/** The engine's optimizer options (optimizer.ts), which the twin takes as they are. */
export type AdamWOptions = OptimizerOptions;

export interface Moments {
  m: Float32Array;
  v: Float32Array;
}

export class TwinAdamW {
  readonly options: Required<AdamWOptions>;
  /** First and second moments by parameter name (trainable parameters only). */
  readonly moments = new Map<string, Moments>();
  private readonly trainable: ParameterSpec[];
  private steps = 0;

  constructor(config: ModelConfig, options: AdamWOptions, opts: TwinOptions = {}) {
    this.options = checkOptimizerOptions(options);
    this.trainable = trainableSpecs(config, opts);
    for (const spec of this.trainable) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      this.moments.set(spec.name, { m: new Float32Array(size), v: new Float32Array(size) });
    }
  }

  /** Steps taken so far: the t of the last step. */
  get t(): number {
    return this.steps;
  }

  /**
   * Updates the trainable parameters in weights in place from gradients (which must hold every
   * trainable parameter; others are ignored) and returns the pre-clip global gradient norm.
   */
  step(weights: Weights, gradients: Weights): number {
    const { lr, beta1, beta2, eps, weightDecay, maxGradNorm } = this.options;
    let sumSquares = 0;
    for (const spec of this.trainable) {
      const g = gradients.get(spec.name);
      const p = weights.get(spec.name);
      const size = this.moments.get(spec.name)!.m.length;
      if (!g || g.length !== size) throw new Error(`AdamW: gradient of "${spec.name}" missing or not ${size} entries`);
      if (!p || p.length !== size) throw new Error(`AdamW: parameter "${spec.name}" missing or not ${size} entries`);
      for (let i = 0; i < size; i++) sumSquares += g[i] * g[i];
    }
    const total = Math.sqrt(sumSquares);
    const scale = maxGradNorm > 0 && total > maxGradNorm ? maxGradNorm / (total + 1e-6) : 1;
    const t = ++this.steps;
    const correction1 = 1 - Math.pow(beta1, t);
    const correction2 = 1 - Math.pow(beta2, t);
    for (const spec of this.trainable) {
      const g = gradients.get(spec.name)!;
      const p = weights.get(spec.name)!;
      const { m, v } = this.moments.get(spec.name)!;
      const decay = spec.decay ? weightDecay : 0;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * scale;
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        const mHat = m[i] / correction1;
        const vHat = v[i] / correction2;
        p[i] = p[i] - lr * (mHat / (Math.sqrt(vHat) + eps) + decay * p[i]);
      }
    }
    return total;
  }
}
