// Seeded default weights, following each ParameterSpec's init: normal(0, std) from mulberry32
// uniforms through Box–Muller, or a constant. One random stream runs through the parameters in
// parameterSpecs order (row-major within each), so a (config, seed) pair always gives the same
// weights. The native engine has its own initialiser; tests pass weights between the two.
import { parameterSpecs, type ModelConfig, type Weights } from '../config.js';
import { mulberry32, normalSource } from '@w2s/random';

/** Every parameter of the config, initialised as its spec says. */
export function initWeights(config: ModelConfig, seed: number): Weights {
  const normal = normalSource(mulberry32(seed));
  const weights: Weights = new Map();
  for (const spec of parameterSpecs(config)) {
    const w = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    const init = spec.init;
    if (init.kind === 'normal') for (let i = 0; i < w.length; i++) w[i] = init.std * normal();
    else w.fill(init.value);
    weights.set(spec.name, w);
  }
  return weights;
}
