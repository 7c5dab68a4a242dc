// Text generation for language models: greedy decoding (temperature 0) or sampling from
// softmax(logits / temperature) with a seeded generator. The model is anything that gives the
// next-token logits of a context: the native engine, or the tfjs twin in tests. Each new token
// asks for the logits of the whole context, its last contextLength tokens; the native engine
// answers from its key/value cache (NativeModel.nextTokenLogits), running only the new token
// while the window has not slid. A model whose contextLength is its sliding window (Mistral,
// Qwen2: ModelConfig.slidingWindow) cannot slide: transformers attends over the last W positions
// at their true positions, which dropping the oldest tokens does not compute. Its generation is
// refused before it starts when the prompt and the new tokens would need more than W tokens of
// context (the last new token is never fed back: prompt + maxTokens − 1).
import { slidingWindowProblem, type ModelConfig } from './config.js';
import { mulberry32 } from '@w2s/random';

export interface NextTokenModel {
  readonly config: ModelConfig;
  /** Logits [vocabSize] of the token that follows `context` (1 <= context.length <= contextLength). */
  nextTokenLogits(context: readonly number[]): Promise<Float32Array>;
}

export interface GenerateOptions {
  maxTokens: number;
  /** 0 (the default): greedy. */
  temperature?: number;
  /** Seed of the sampler (temperature > 0). */
  seed?: number;
  /** Generation stops after emitting one of these ids (it is included in the result). */
  stopIds?: readonly number[];
  /** Called with each new token as it is chosen. */
  onToken?: (id: number) => void;
}

/** Index of the largest logit (the first on ties). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Draws an index from softmax(logits / temperature) with the uniform number u in [0, 1). */
export function sampleIndex(logits: Float32Array, temperature: number, u: number): number {
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z);
  const weights = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    weights[i] = Math.exp((logits[i] - max) / temperature);
    total += weights[i];
  }
  let threshold = u * total;
  for (let i = 0; i < weights.length; i++) {
    threshold -= weights[i];
    if (threshold < 0) return i;
  }
  return argmax(logits);
}

/** The generated ids (the prompt excluded). */
export async function generate(model: NextTokenModel, prompt: readonly number[], opts: GenerateOptions): Promise<number[]> {
  const { maxTokens, temperature = 0, seed = 0, stopIds = [] } = opts;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new RangeError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be a finite number >= 0, got ${temperature}`);
  if (prompt.length === 0) throw new RangeError('the prompt must hold at least one token (start from BOS for an empty prompt)');
  const needed = prompt.length + Math.max(0, maxTokens - 1);
  const window = slidingWindowProblem(model.config, needed);
  if (window) {
    const most = model.config.contextLength - prompt.length + 1;
    const advice = most >= 1 ? `ask for at most ${most} new tokens, or shorten the prompt` : `shorten the prompt to at most ${model.config.contextLength} tokens`;
    throw new RangeError(`generate: a prompt of ${prompt.length} tokens and ${maxTokens} new tokens need a context of ${needed} tokens, longer than ${window}; ${advice}`);
  }
  const uniform = mulberry32(seed);
  const context = [...prompt];
  const generated: number[] = [];
  for (let i = 0; i < maxTokens; i++) {
    const window = context.slice(-model.config.contextLength);
    const logits = await model.nextTokenLogits(window);
    const next = temperature === 0 ? argmax(logits) : sampleIndex(logits, temperature, uniform());
    generated.push(next);
    context.push(next);
    opts.onToken?.(next);
    if (stopIds.includes(next)) break;
  }
  return generated;
}
