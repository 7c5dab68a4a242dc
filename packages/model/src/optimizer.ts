// The optimizer's options: AdamW's hyper-parameters and global-norm clipping, declared once, in
// native/index.d.ts (RawOptimizer, imported here as a type only); here, their defaults and the
// bounds the engine's binding enforces (native/src/napi/engine_binding.cpp, parse_optimizer),
// worded as the binding words its refusals. The tfjs twin checks its options here, so the two
// accept and refuse the same values with the same messages (native-declarations.test.ts compares
// them). No native code is loaded by this module.
import type { RawOptimizer } from '@w2s/native';

/** AdamW's options (native/index.d.ts, RawOptimizer, documents each). */
export type OptimizerOptions = RawOptimizer;

export const OPTIMIZER_DEFAULTS: Required<Omit<OptimizerOptions, 'lr'>> = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 };

/** The options with their defaults filled in; a RangeError, worded as the binding's, for a value out of bounds. */
export function checkOptimizerOptions(options: OptimizerOptions): Required<OptimizerOptions> {
  const o = { ...OPTIMIZER_DEFAULTS, ...options };
  const refuse = (message: string) => {
    throw new RangeError(`optimizer.${message}`);
  };
  if (!(o.lr >= 0)) refuse(`lr must be >= 0, got ${o.lr}`);
  if (!(o.beta1 >= 0 && o.beta1 < 1)) refuse('beta1 must be in [0, 1)');
  if (!(o.beta2 >= 0 && o.beta2 < 1)) refuse('beta2 must be in [0, 1)');
  if (!(o.eps > 0)) refuse('eps must be > 0');
  if (!(o.weightDecay >= 0)) refuse('weightDecay must be >= 0');
  if (!(o.maxGradNorm >= 0)) refuse('maxGradNorm must be >= 0 (0: no clipping)');
  return o;
}
