// shrinkBpeTokenizer: a byte-level BPE tokenizer cut to a smaller vocabulary by keeping only its
// first merges, written as a Hugging Face tokenizer folder that HfTokenizer (and transformers) read.
//
// Byte-level BPE (GPT-2, Pythia, Qwen2) starts from the 256 byte tokens and applies merges in rank
// order, so any prefix of the merge list is itself a complete tokenizer: every text still encodes,
// into more, shorter tokens. Where a vocabulary is laid out as GPT-2's is (ids 0-255 the byte
// tokens, merge r producing id 256 + r, added tokens after the last merge), keeping the first K
// merges gives the ids 0 … 255 + K unchanged, and the added tokens (GPT-2's <|endoftext|>) are
// renumbered to follow them. Tokenizing stays the library's (@huggingface/tokenizers); this only
// rewrites the vocabulary and merge list of tokenizer.json.
//
// Why: a model's LM head costs 6·d·V FLOPs per trained token. A small model pretrained here over
// GPT-2's 50,257 ids would spend most of its compute in the head (d 256: 77 M FLOPs per token in
// the head against 19 M in a 4-layer body); GPT-2's first 7,935 merges keep its most frequent
// words whole at a sixth of that cost.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { statedTokenizerConfig } from './hf.js';

const BYTE_TOKENS = 256;

type Json = Record<string, unknown>;

export interface ShrunkTokenizer {
  vocabSize: number;
  merges: number;
  /** The added tokens, with their new ids. */
  addedTokens: { content: string; id: number }[];
}

/**
 * Writes to `out` the tokenizer of folder `from` cut to `vocabSize` ids (its 256 byte tokens, its
 * first merges, its added tokens): tokenizer.json, and tokenizer_config.json with its class stated.
 */
export async function shrinkBpeTokenizer(from: string, vocabSize: number, out: string): Promise<ShrunkTokenizer> {
  if (resolve(from) === resolve(out)) throw new Error(`the output folder ${out} is the source folder: shrinking would overwrite the tokenizer it reads`);
  const source = join(from, 'tokenizer.json');
  if (!existsSync(source)) throw new Error(`${from} has no tokenizer.json (a byte-level BPE tokenizer folder is expected)`);
  let spec: Json;
  try {
    spec = JSON.parse(await readFile(source, 'utf8')) as Json;
  } catch (e) {
    throw new Error(`${source} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const model = spec.model as Json | undefined;
  if (model?.type !== 'BPE' || typeof model.vocab !== 'object' || !Array.isArray(model.merges))
    throw new Error(`${source}: model.type must be "BPE" with a vocab and merges, got ${JSON.stringify(model?.type)}`);
  const vocab = model.vocab as Record<string, number>;
  const merges = (model.merges as (string | [string, string])[]).map((m) => (typeof m === 'string' ? (m.split(' ') as [string, string]) : m));
  const added = ((spec.added_tokens ?? []) as Json[]).map((t) => ({ ...t, content: String(t.content), id: Number(t.id) }));

  const minimum = BYTE_TOKENS + added.length + 1;
  if (!Number.isInteger(vocabSize) || vocabSize < minimum || vocabSize > BYTE_TOKENS + merges.length + added.length)
    throw new RangeError(`vocabSize must be an integer in [${minimum}, ${BYTE_TOKENS + merges.length + added.length}] for ${source}, got ${vocabSize}`);
  const kept = vocabSize - BYTE_TOKENS - added.length;

  // The layout that makes a prefix of the merges a prefix of the ids.
  const byId = new Map<number, string>();
  for (const [token, id] of Object.entries(vocab)) byId.set(id, token);
  // Byte-level BPE writes each byte as one character (GPT-2's bytes_to_unicode).
  for (let id = 0; id < BYTE_TOKENS; id++) {
    const token = byId.get(id);
    if (token === undefined || [...token].length !== 1)
      throw new Error(`${source}: id ${id} is ${token === undefined ? 'not in the vocabulary' : JSON.stringify(token)}; ids 0-255 must be the 256 byte tokens for the first merges to be a prefix of the ids`);
  }
  merges.slice(0, kept).forEach(([a, b], rank) => {
    if (vocab[a + b] !== BYTE_TOKENS + rank)
      throw new Error(`${source}: merge ${rank} (${a} ${b}) makes id ${vocab[a + b]}, not ${BYTE_TOKENS + rank}; shrinking needs merge r to make id 256 + r`);
  });

  const shrunkVocab: Record<string, number> = {};
  for (let id = 0; id < BYTE_TOKENS + kept; id++) shrunkVocab[byId.get(id)!] = id;
  const addedTokens = added.map((t, i) => ({ ...t, id: BYTE_TOKENS + kept + i }));
  for (const t of addedTokens) shrunkVocab[t.content] = t.id;
  const renumber = new Map(added.map((t, i) => [t.id, addedTokens[i].id]));
  const shrunk: Json = {
    ...spec,
    added_tokens: addedTokens,
    post_processor: renumberTemplate(spec.post_processor, renumber),
    model: { ...model, vocab: shrunkVocab, merges: merges.slice(0, kept).map(([a, b]) => `${a} ${b}`) },
  };

  await mkdir(out, { recursive: true });
  const tmp = join(out, `.tokenizer.json.tmp-${process.pid}`);
  await writeFile(tmp, JSON.stringify(shrunk));
  await rename(tmp, join(out, 'tokenizer.json'));
  // The class stated: the source's, else GPT2Tokenizer, transformers' class for a byte-level BPE
  // tokenizer.json with nothing else said. Its added_tokens_decoder, if any, renumbered as above.
  const config = await statedTokenizerConfig(from, 'GPT2Tokenizer');
  if (typeof config.added_tokens_decoder === 'object' && config.added_tokens_decoder !== null)
    config.added_tokens_decoder = Object.fromEntries(
      Object.entries(config.added_tokens_decoder as Record<string, unknown>).flatMap(([id, token]) => (renumber.has(Number(id)) ? [[String(renumber.get(Number(id))), token]] : [])),
    );
  await writeFile(join(out, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  return { vocabSize, merges: kept, addedTokens: addedTokens.map(({ content, id }) => ({ content, id })) };
}

/** A TemplateProcessing post-processor with its special tokens' ids renumbered (others as they are). */
function renumberTemplate(processor: unknown, renumber: Map<number, number>): unknown {
  if (typeof processor !== 'object' || processor === null) return processor;
  const p = processor as Json;
  if (p.type === 'Sequence') return { ...p, processors: ((p.processors ?? []) as unknown[]).map((q) => renumberTemplate(q, renumber)) };
  if (p.type !== 'TemplateProcessing') return p;
  const specials = Object.fromEntries(
    Object.entries((p.special_tokens ?? {}) as Record<string, Json>).map(([name, t]) => [name, { ...t, ids: (t.ids as number[]).map((id) => renumber.get(id) ?? id) }]),
  );
  return { ...p, special_tokens: specials };
}
