// MODEL arguments → a classifier config, its starting weights and its tokenizer.
//
// A MODEL is a named size of the project's family (FAMILY in @w2s/model: randomly initialised
// from the run's seed until pretrained checkpoints exist), or the path of a checkpoint (a Hugging
// Face safetensors directory or a llama2.c .bin file), whose body is loaded and given a fresh,
// zero-initialised classification head as in the reference implementation. A checkpoint's
// identity in run configurations is the SHA-256 of its files, so a changed file is a new run.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  FAMILY,
  FAMILY_TOKENIZER,
  assertTrainingFits,
  checkpointTokenizerSpec,
  loadCheckpoint,
  loadTokenizer,
  parameterSpecs,
  withHead,
  type MemoryCheckOptions,
  type ModelConfig,
  type Tokenizer,
  type Weights,
} from '@w2s/model';
import { sha256Path } from './hash.js';
import type { TrainSettings } from './settings.js';

export interface ModelSource {
  /** As given: a family name or a checkpoint path. */
  spec: string;
  /** What identifies the model in a run's configuration: the family name, or `sha256:<hex>` of the checkpoint. */
  identity: string;
  tokenizerSpec: string;
  /** The tokenizer in run configurations: its spec ('byte', 'gpt2'), or `sha256:<hex>` of a tokenizer file. */
  tokenizerIdentity: string;
  /**
   * The special tokens the tokenizer adds to every text (Tokenizer.specials), also in run
   * configurations: the same files encoded with and without BOS (a new release's encoding) are
   * different runs.
   */
  tokenizerSpecials: { bos: boolean; eos: boolean };
  /** The checkpoint's architecture (its LM head, if any, is replaced by the classifier). */
  config: ModelConfig;
  /** Path to load the body's weights from; null for a randomly initialised family model. */
  checkpoint: string | null;
}

export interface LoadedModel {
  config: ModelConfig;
  /** The starting weights, classifier head zeroed; null: initialise from the seed, head zeroed. */
  weights: Weights | null;
  tokenizer: Tokenizer;
}

/** Resolves a MODEL argument: its config and identity (a checkpoint is read, and hashed, here). */
export async function resolveModel(spec: string, tokenizerOverride?: string): Promise<ModelSource> {
  if (Object.hasOwn(FAMILY, spec)) {
    const tokenizerSpec = tokenizerOverride ?? FAMILY_TOKENIZER;
    const tokenizer = await tokenizerIdentity(tokenizerSpec);
    return { spec, identity: spec, tokenizerSpec, tokenizerIdentity: tokenizer, tokenizerSpecials: await specialsOf(tokenizerSpec, tokenizer), config: FAMILY[spec], checkpoint: null };
  }
  if (!existsSync(spec))
    throw new Error(`model ${JSON.stringify(spec)} is neither a named size (${Object.keys(FAMILY).join(', ')}) nor an existing checkpoint path`);
  const { config } = await loadCheckpoint(spec);
  const identity = `sha256:${await sha256Path(spec)}`;
  const tokenizerSpec = tokenizerOverride ?? checkpointTokenizerSpec(spec, config);
  // A checkpoint folder holding its own tokenizer is hashed once: its identity is the tokenizer's too.
  const tokenizer = tokenizerSpec === resolve(spec) ? identity : await tokenizerIdentity(tokenizerSpec);
  return { spec, identity, tokenizerSpec, tokenizerIdentity: tokenizer, tokenizerSpecials: await specialsOf(tokenizerSpec, tokenizer), config, checkpoint: spec };
}

/** The classifier config of a source, its starting weights and its tokenizer. */
export async function loadModel(source: ModelSource, numClasses: number): Promise<LoadedModel> {
  const config = withHead(source.config, { kind: 'classifier', numClasses });
  const tokenizer = await tokenizerOf(source.tokenizerSpec, source.tokenizerIdentity);
  if (tokenizer.vocabSize > config.vocabSize)
    throw new Error(`model ${source.spec}: the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${config.vocabSize}`);
  if (source.checkpoint === null) return { config, weights: null, tokenizer };
  const body = (await loadCheckpoint(source.checkpoint)).weights;
  const weights: Weights = new Map();
  for (const spec of parameterSpecs(config)) {
    const w = spec.head ? new Float32Array(spec.shape.reduce((a, b) => a * b, 1)) : body.get(spec.name);
    if (!w) throw new Error(`checkpoint ${source.checkpoint} has no ${spec.name}`);
    weights.set(spec.name, w);
  }
  return { config, weights, tokenizer };
}

async function specialsOf(spec: string, identity: string): Promise<ModelSource['tokenizerSpecials']> {
  const { bos, eos } = (await tokenizerOf(spec, identity)).specials;
  return { bos, eos };
}

/**
 * The tokenizers read in this process, by identity (the files' hash) and spec, the last few kept:
 * resolveModel reads a tokenizer's specials and loadModel gives its runs the same tokenizer, so its
 * files are read once, not once more per run. Files edited since have another identity and are
 * read anew. Tokenizers are not changed after loading, so runs can share one.
 */
const tokenizers = new Map<string, Promise<Tokenizer>>();
const TOKENIZERS_KEPT = 4;

function tokenizerOf(spec: string, identity: string): Promise<Tokenizer> {
  const key = `${identity}\n${spec}`;
  const kept = tokenizers.get(key);
  if (kept) return kept;
  const loading = loadTokenizer(spec);
  loading.catch(() => tokenizers.get(key) === loading && tokenizers.delete(key));
  tokenizers.set(key, loading);
  for (const old of tokenizers.keys()) if (tokenizers.size > TOKENIZERS_KEPT) tokenizers.delete(old);
  return loading;
}

/** A tokenizer file or folder (a llama2.c .bin, a Hugging Face tokenizer) by its content, so that moving it changes nothing and editing it does. */
async function tokenizerIdentity(spec: string): Promise<string> {
  return existsSync(spec) ? `sha256:${await sha256Path(spec)}` : spec;
}

/**
 * Refuses, before anything is trained, an experiment one of whose models would not fit in memory
 * as a classifier (@w2s/model assertTrainingFits): the engine's buffers grow to the larger of a
 * training minibatch and an evaluation batch, at most `maxTokens` long; a checkpoint's weights
 * stay loaded in JavaScript beside the model, and early stopping 'best' keeps one more copy.
 * Examples may be shorter than maxTokens: a model that fits at the shortest is warned about
 * instead. Each model is checked alone (the experiment trains one at a time).
 */
export function checkModelsFitMemory(
  models: readonly ModelSource[],
  training: Pick<TrainSettings, 'batchSize' | 'minibatchSize' | 'evalBatchSize' | 'earlyStopping'>,
  maxTokens: number,
  opts: MemoryCheckOptions = {},
): void {
  const batch = Math.max(training.minibatchSize, training.evalBatchSize);
  for (const m of new Map(models.map((m) => [m.identity, m])).values()) {
    const config = withHead(m.config, { kind: 'classifier', numClasses: 2 });
    const seqLen = Math.min(maxTokens, config.contextLength);
    const hostWeightCopies = (m.checkpoint === null ? 0 : 1) + (training.earlyStopping === 'best' ? 1 : 0);
    assertTrainingFits(
      `model ${m.spec} (a classifier, batches of ${batch} sequences of up to ${seqLen} tokens)`,
      config,
      { batch, seqLen, stepRows: training.batchSize, hostWeightCopies },
      { ...opts, minSeqLen: 1 },
    );
  }
}
