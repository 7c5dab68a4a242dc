// Causal language-model pretraining on a text corpus with the native engine, resumable.
//
// The corpus (plain text: one document; JSONL: one document per line, from a text field) becomes
// one token stream: for each document BOS, its tokens, EOS (BOS left out where it is EOS, as
// GPT-2's <|endoftext|>, so one token separates documents; a tokenizer without EOS is refused). Step s trains on B windows
// of T + 1 tokens at positions drawn from a generator seeded by (seed, s), so the data of a step
// does not depend on what ran before it, and a resumed run sees exactly what an uninterrupted one
// would. AdamW with a linear warm-up then cosine decay, global-norm clipping.
//
// Output folder:
//   config.json, model.safetensors    the model (a Hugging Face directory, loadable as a MODEL),
//                                      rewritten at every checkpoint and at the end
//   tokenizer.json, tokenizer_config.json (and vocab.json, merges.txt where the tokenizer has them)
//                                      a Hugging Face tokenizer's files, its class stated
//   w2s-tokenizer.txt                 instead, for the built-in and llama2.c tokenizers: their spec
//   resume/step-<k>/                  the latest complete checkpoint: model, optimizer.safetensors
//                                      (AdamW moments), state.json; written to a temporary folder
//                                      and renamed into place, so a kill leaves the previous one
//   pretrain.json                     written at the end: settings (and the precision, where not
//                                      float32), loss curve, tokens/s
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  NativeModel,
  loadCheckpoint,
  loadTokenizer,
  mulberry32,
  readSafetensors,
  saveCheckpoint,
  TOKENIZER_FILE,
  statedTokenizerConfig,
  writeSafetensors,
  assertTrainingFits,
  type ModelConfig,
  type OptimizerState,
  type Tokenizer,
  type Weights,
} from '@w2s/model';
import { sha256File } from './hash.js';
import { precisionField, processPrecision } from './runs.js';
import { learningRate } from './schedules.js';
import writeFileAtomic from 'write-file-atomic';
import { canonicalJson, writeJson } from './store.js';

export interface PretrainSettings {
  /** Tokens to train on in total (steps = ⌈tokens / (batchSize · seqLen)⌉). */
  tokens: number;
  seqLen: number;
  batchSize: number;
  lr: number;
  warmupFrac: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Write a resumable checkpoint every this many steps (0: only at the end). */
  checkpointEvery: number;
  seed: number;
}

export const DEFAULT_PRETRAIN_SETTINGS: Omit<PretrainSettings, 'tokens'> = {
  seqLen: 128,
  batchSize: 16,
  lr: 2e-3,
  warmupFrac: 0.05,
  weightDecay: 0.1,
  maxGradNorm: 1,
  checkpointEvery: 200,
  seed: 0,
};

export interface PretrainInput {
  corpus: string;
  /** JSONL corpora: the field holding the text (default "text"). */
  textField?: string;
  /** The architecture (an LM head is used whatever its head says) and its tokenizer. */
  config: ModelConfig;
  tokenizerSpec: string;
  /** What the model is called (a family name): recorded, and part of the resume fingerprint. */
  modelName: string;
  settings: PretrainSettings;
  out: string;
  onStep?: (progress: { step: number; totalSteps: number; loss: number; tokensPerSecond: number }) => void;
  /** Called when a run resumes from a checkpoint. */
  onResume?: (step: number) => void;
}

export interface PretrainResult {
  steps: number;
  resumedFrom: number;
  finalLoss: number;
  /** Mean loss of each checkpoint interval's steps, as [step, loss]. */
  lossCurve: [number, number][];
  tokensPerSecond: number;
}

/** The token stream of a corpus file. */
export async function corpusTokens(file: string, tokenizer: Tokenizer, textField = 'text'): Promise<Int32Array> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read the corpus ${file}: ${err.message}`);
  });
  const documents: string[] = [];
  if (/\.jsonl$/i.test(file)) {
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (err) {
        throw new Error(`${file}:${i + 1}: invalid JSON: ${(err as Error).message}`);
      }
      const value = (row as Record<string, unknown> | null)?.[textField];
      if (typeof value !== 'string') throw new Error(`${file}:${i + 1}: no string field "${textField}"`);
      documents.push(value);
    });
  } else {
    documents.push(text);
  }
  // One separator between documents where BOS and EOS are one token (GPT-2's <|endoftext|>).
  const bos = tokenizer.bosId !== null && tokenizer.bosId !== tokenizer.eosId;
  const encoded = documents.map((doc) => tokenizer.encode(doc, { bos, eos: tokenizer.eosId !== null }));
  const stream = new Int32Array(encoded.reduce((n, ids) => n + ids.length, 0));
  let offset = 0;
  for (const ids of encoded) {
    stream.set(ids, offset);
    offset += ids.length;
  }
  return stream;
}

/** The LM minibatch of step `step`: B windows, inputs and next-token targets. */
export function pretrainBatch(stream: Int32Array, step: number, s: PretrainSettings) {
  const T = s.seqLen;
  if (stream.length < T + 1) throw new Error(`the corpus has ${stream.length} tokens, fewer than seqLen + 1 = ${T + 1}`);
  const uniform = mulberry32((Math.imul(s.seed, 0x9e3779b1) ^ step) >>> 0);
  const tokens = new Int32Array(s.batchSize * T);
  const targets = new Int32Array(s.batchSize * T);
  for (let b = 0; b < s.batchSize; b++) {
    const start = Math.floor(uniform() * (stream.length - T));
    tokens.set(stream.subarray(start, start + T), b * T);
    targets.set(stream.subarray(start + 1, start + T + 1), b * T);
  }
  return { tokens, lengths: new Int32Array(s.batchSize).fill(T), batch: s.batchSize, seqLen: T, loss: 'token' as const, targets };
}

interface ResumeState {
  fingerprint: string;
  tokenizerSpec: string;
  step: number;
  lossCurve: [number, number][];
}

const resumeDir = (out: string) => join(out, 'resume');

function latestCheckpoint(out: string): { dir: string; step: number } | null {
  if (!existsSync(resumeDir(out))) return null;
  const steps = readdirSync(resumeDir(out))
    .map((name) => /^step-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  return steps.length ? { dir: join(resumeDir(out), `step-${steps[0]}`), step: steps[0] } : null;
}

async function writeCheckpoint(out: string, model: NativeModel, state: ResumeState, tokenizer: SavedTokenizer): Promise<void> {
  const final = join(resumeDir(out), `step-${state.step}`);
  const tmp = `${final}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const weights = model.exportWeights();
  await saveModel(tmp, model.config, weights, tokenizer);
  const optimizer = model.exportOptimizerState();
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, { m, v }] of optimizer.moments) {
    tensors.set(`${name}.m`, { shape: [m.length], data: m });
    tensors.set(`${name}.v`, { shape: [v.length], data: v });
  }
  await writeSafetensors(join(tmp, 'optimizer.safetensors'), tensors, { step: String(optimizer.step) });
  await writeJson(join(tmp, 'state.json'), state);
  await rename(tmp, final);
  for (const name of readdirSync(resumeDir(out))) if (name !== `step-${state.step}`) await rm(join(resumeDir(out), name), { recursive: true, force: true });
  await saveModel(out, model.config, weights, tokenizer);
}

/**
 * What a checkpoint folder holds of its tokenizer: a Hugging Face tokenizer's files (so the folder
 * is complete, as transformers' from_pretrained expects; tokenizer_config.json with its class
 * stated, so the family's config.json beside it does not choose another), or the file naming a
 * built-in or llama2.c tokenizer's spec.
 */
type SavedTokenizer = { files: [string, Buffer][] } | { spec: string };

async function savedTokenizer(spec: string, tokenizer: Tokenizer): Promise<SavedTokenizer> {
  if (tokenizer.kind !== 'hf') return { spec };
  const files: [string, Buffer][] = [];
  for (const [path, name] of hfTokenizerFiles(spec)) if (name !== 'tokenizer_config.json') files.push([name, await readFile(path)]);
  const config = await statedTokenizerConfig(statSync(spec).isDirectory() ? spec : dirname(spec), 'PreTrainedTokenizerFast');
  files.push(['tokenizer_config.json', Buffer.from(JSON.stringify(config, null, 2) + '\n')]);
  return { files };
}

/** A loadable checkpoint folder with its tokenizer. */
async function saveModel(dir: string, config: ModelConfig, weights: Weights, tokenizer: SavedTokenizer): Promise<void> {
  await saveCheckpoint(dir, config, weights);
  if ('spec' in tokenizer) {
    await writeFileAtomic(join(dir, TOKENIZER_FILE), tokenizer.spec + '\n');
    return;
  }
  await rm(join(dir, TOKENIZER_FILE), { force: true });
  for (const [name, content] of tokenizer.files) await writeFileAtomic(join(dir, name), content);
}

/** A Hugging Face tokenizer spec's files (a folder, or a tokenizer.json), as [path, name in a checkpoint folder]. */
function hfTokenizerFiles(spec: string): [string, string][] {
  const folder = statSync(spec).isDirectory();
  const dir = folder ? spec : dirname(spec);
  const others = ['tokenizer_config.json', 'vocab.json', 'merges.txt'].map((name): [string, string] => [join(dir, name), name]);
  return [[folder ? join(dir, 'tokenizer.json') : spec, 'tokenizer.json'] as [string, string], ...others].filter(([path]) => existsSync(path));
}

async function readCheckpoint(dir: string): Promise<{ weights: Weights; optimizer: OptimizerState; state: ResumeState }> {
  const { weights } = await loadCheckpoint(dir);
  const file = await readSafetensors(join(dir, 'optimizer.safetensors'));
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  for (const name of weights.keys()) {
    const m = file.tensors.get(`${name}.m`), v = file.tensors.get(`${name}.v`);
    if (!m || !v) throw new Error(`${join(dir, 'optimizer.safetensors')} lacks the moments of ${name}`);
    moments.set(name, { m: m.data, v: v.data });
  }
  const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as ResumeState;
  return { weights, optimizer: { step: Number(file.metadata.step), moments }, state };
}

export async function pretrain(input: PretrainInput): Promise<PretrainResult> {
  const s = input.settings;
  for (const key of ['tokens', 'seqLen', 'batchSize'] as const)
    if (!Number.isInteger(s[key]) || s[key] < 1) throw new RangeError(`${key} must be a positive integer, got ${s[key]}`);
  const config: ModelConfig = { ...input.config, head: { kind: 'lm' }, contextLength: Math.max(input.config.contextLength, s.seqLen) };
  if (input.config.architecture.positions.kind === 'learned' && s.seqLen > input.config.contextLength)
    throw new RangeError(`seqLen ${s.seqLen} is longer than the model's learned positions (${input.config.contextLength})`);
  assertTrainingFits(`model ${input.modelName} (pretraining, batches of ${s.batchSize} x ${s.seqLen} tokens)`, config, { batch: s.batchSize, seqLen: s.seqLen });
  const tokenizer = await loadTokenizer(input.tokenizerSpec);
  if (tokenizer.vocabSize > config.vocabSize)
    throw new RangeError(`the tokenizer ${input.tokenizerSpec} has ${tokenizer.vocabSize} ids but the model's vocabSize is ${config.vocabSize}`);
  if (tokenizer.eosId === null)
    throw new Error(
      `the tokenizer ${input.tokenizerSpec} has no EOS token to end each document with: name one (eos_token, or tokenizer_class) in its tokenizer_config.json`,
    );
  const stream = await corpusTokens(input.corpus, tokenizer, input.textField);
  const totalSteps = Math.ceil(s.tokens / (s.batchSize * s.seqLen));
  const saved = await savedTokenizer(input.tokenizerSpec, tokenizer);
  // A Hugging Face tokenizer by its files' content too (absent for the built-in specs).
  const tokenizerFiles = tokenizer.kind === 'hf' ? await Promise.all(hfTokenizerFiles(input.tokenizerSpec).map(([path]) => sha256File(path))) : [];
  // The token stream itself too: a resumed run must train on the very tokens it started on, however
  // the corpus is read and tokenized.
  const streamSha256 = createHash('sha256').update(new Uint8Array(stream.buffer, stream.byteOffset, stream.byteLength)).digest('hex');
  // The precision too, where not float32 (float32 runs keep their fingerprints): a run resumed at
  // another precision would continue in another arithmetic without saying so.
  const precision = precisionField(processPrecision());
  const fingerprint = canonicalJson({ model: input.modelName, config, tokenizer: input.tokenizerSpec, ...(tokenizerFiles.length ? { tokenizerFiles } : {}), corpus: await sha256File(input.corpus), textField: input.textField ?? 'text', stream: streamSha256, settings: s, ...precision });

  await mkdir(input.out, { recursive: true });
  let model = new NativeModel(config, { seed: s.seed });
  let step = 0;
  let lossCurve: [number, number][] = [];
  const latest = latestCheckpoint(input.out);
  if (latest) {
    const saved = await readCheckpoint(latest.dir);
    if (saved.state.fingerprint !== fingerprint)
      throw new Error(`${input.out} holds a pretraining run with other settings, model, corpus or precision; choose another output folder`);
    model.dispose();
    model = new NativeModel(config, { weights: saved.weights });
    model.loadOptimizerState(saved.optimizer);
    step = saved.state.step;
    lossCurve = saved.state.lossCurve;
    input.onResume?.(step);
  }
  const resumedFrom = step;
  try {
    const started = performance.now();
    let intervalLoss = 0;
    let intervalSteps = 0;
    let loss = NaN;
    for (; step < totalSteps; ) {
      const result = await model.trainStep([pretrainBatch(stream, step, s)], {
        lr: learningRate({ kind: 'warmup-cosine', lr: s.lr, warmupFrac: s.warmupFrac }, step, totalSteps),
        weightDecay: s.weightDecay,
        maxGradNorm: s.maxGradNorm,
      });
      step++;
      loss = result.loss;
      intervalLoss += loss;
      intervalSteps++;
      const seconds = (performance.now() - started) / 1000;
      input.onStep?.({ step, totalSteps, loss, tokensPerSecond: ((step - resumedFrom) * s.batchSize * s.seqLen) / seconds });
      if ((s.checkpointEvery > 0 && step % s.checkpointEvery === 0) || step === totalSteps) {
        lossCurve.push([step, intervalLoss / intervalSteps]);
        intervalLoss = 0;
        intervalSteps = 0;
        await writeCheckpoint(input.out, model, { fingerprint, tokenizerSpec: input.tokenizerSpec, step, lossCurve }, saved);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const result: PretrainResult = {
      steps: totalSteps,
      resumedFrom,
      finalLoss: lossCurve.length ? lossCurve[lossCurve.length - 1][1] : loss,
      lossCurve,
      tokensPerSecond: step > resumedFrom ? ((step - resumedFrom) * s.batchSize * s.seqLen) / seconds : 0,
    };
    await writeJson(join(input.out, 'pretrain.json'), { model: input.modelName, corpus: input.corpus, tokenizer: input.tokenizerSpec, settings: s, ...precision, corpusTokens: stream.length, ...result });
    return result;
  } finally {
    model.dispose();
  }
}
