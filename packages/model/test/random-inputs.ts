// Random inputs of the engine tests (engine.test.ts, bf16.test.ts): weights with every parameter
// nonzero (norm weights near 1, biases and the zero-initialised classifier included), so that every
// path of the backward pass carries a gradient; right-padded batches; next-token targets.
import { mulberry32, normalSource } from '@w2s/random';
import { parameterSpecs, type ModelConfig, type Weights } from '../src/config.js';
import type { Batch } from '../src/batch.js';

export function randomWeights(config: ModelConfig, s: number): Weights {
  const normal = normalSource(mulberry32(s));
  const weights: Weights = new Map();
  for (const spec of parameterSpecs(config)) {
    const w = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    const isNormWeight = spec.name.endsWith('Norm.weight');
    for (let i = 0; i < w.length; i++) w[i] = (isNormWeight ? 1 : 0) + (spec.shape.length === 1 ? 0.1 : 0.08) * normal();
    weights.set(spec.name, w);
  }
  return weights;
}

/** B rows of T tokens; padded: every row after the first right-padded to a random length. */
export function randomBatch(config: ModelConfig, batch: number, seqLen: number, padded: boolean, s: number): Batch {
  const uniform = mulberry32(s);
  const tokens = Int32Array.from({ length: batch * seqLen }, () => Math.floor(uniform() * config.vocabSize));
  const lengths = Int32Array.from({ length: batch }, (_, b) => (padded && b > 0 ? 1 + Math.floor(uniform() * seqLen) : seqLen));
  return { tokens, lengths, batch, seqLen };
}

/** Each position's next token within its row, −1 past the row's end. */
export function lmTargets(batch: Batch): Int32Array {
  const { tokens, lengths, seqLen } = batch;
  return Int32Array.from(tokens, (_, i) => {
    const b = Math.floor(i / seqLen), t = i % seqLen;
    return t + 1 < lengths[b] ? tokens[i + 1] : -1;
  });
}
