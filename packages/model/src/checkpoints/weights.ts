// Checks canonical Weights (config.ts: name → dense row-major float32 array) against the
// parameter table of a config: every spec present with its element count, nothing else.
import { parameterSpecs, type ModelConfig, type Weights } from '../config.js';
import { CheckpointError } from './errors.js';

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, dim) => n * dim, 1);
}

/** Throws a CheckpointError naming `file` and the offending tensor. */
export function checkWeights(config: ModelConfig, weights: Weights, file: string): void {
  const specs = parameterSpecs(config);
  for (const spec of specs) {
    const data = weights.get(spec.name);
    if (!(data instanceof Float32Array)) throw new CheckpointError(file, `missing weight "${spec.name}"`);
    if (data.length !== elementCount(spec.shape))
      throw new CheckpointError(file, `weight "${spec.name}" has ${data.length} elements, expected ${elementCount(spec.shape)} for shape [${spec.shape.join(', ')}]`);
  }
  const known = new Set(specs.map((s) => s.name));
  for (const name of weights.keys())
    if (!known.has(name)) throw new CheckpointError(file, `unexpected weight "${name}" (not a parameter of this model)`);
}
