// HfTokenizer: a Hugging Face tokenizer folder, read as transformers' AutoTokenizer.from_pretrained
// reads it, and run by @huggingface/tokenizers (tokenizers.js).
//
// Why tokenizers.js: it is Hugging Face's own implementation of their tokenizer.json format (the one
// Transformers.js uses), in plain JavaScript with no dependencies: it loads in plain Node ESM and on
// every platform Node runs on, with nothing to compile or download. The alternative, the npm
// `tokenizers` package (the Node binding of the Rust library transformers runs), would run the very
// same code but needs a prebuilt native binary per platform; instead, the tests hold tokenizers.js
// to the Rust library's ids (Python `tokenizers`) on awkward texts.
//
// The files, as AutoTokenizer reads them:
//   tokenizer.json         normaliser, pre-tokeniser, BPE model, added tokens, post-processor, decoder
//   tokenizer_config.json  optional: bos_token, eos_token, pad_token (strings, {content} objects or
//                          null), add_bos_token / add_eos_token, tokenizer_class
//   config.json            optional: its model_type names the tokenizer class when
//                          tokenizer_config.json does not (as AutoTokenizer falls back to it)
// Where there is no tokenizer.json, vocab.json + merges.txt are read as transformers' slow
// tokenizer converts them to a fast one (convert_slow_tokenizer.py), for the classes
// Qwen2Tokenizer and GPT2Tokenizer; added tokens then come from tokenizer_config.json's
// added_tokens_decoder and the special tokens it names.
//
// Special tokens: BOS, EOS and PAD are the class's defaults overridden by tokenizer_config.json
// (CLASS_DEFAULTS, as the tokenizer classes' constructor arguments). What a text gets by default
// (`specials`, transformers' add_special_tokens=True) is what the files say: for LlamaTokenizer,
// add_bos_token and add_eos_token (LlamaTokenizerFast rebuilds its post-processor from them);
// otherwise the post-processor's template (GPT-2, Pythia and Qwen2 have none: nothing is added;
// a GPT2Tokenizer read from vocab.json + merges.txt gets a BOS template where add_bos_token is set,
// as GPT2Converter gives it).
// A template adding anything but BOS before the text and EOS after it is refused.
// padId is the PAD token, else EOS, else 0 where the files name neither (padded positions are
// masked by the sequence lengths, so the pad id is never seen).
//
// Text is encoded as transformers encodes it: special-token strings inside the text (such as
// "<|endoftext|>") become their ids. decode skips special tokens (skip_special_tokens=True) and
// gives the tokens' text exactly, without transformers' optional clean-up of spaces before
// punctuation.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';

import { addSpecials, checkTokenId, type EncodeOptions, type Tokenizer } from './tokenizer.js';

type Json = Record<string, unknown>;

/** A special token as tokenizer_config.json writes it: a string, an AddedToken object, or null. */
type TokenSetting = string | { content: string } | null | undefined;

interface ClassDefaults {
  unk_token?: string | null;
  bos_token?: string | null;
  eos_token?: string | null;
  pad_token?: string | null;
  add_bos_token?: boolean;
  add_eos_token?: boolean;
}

/** The constructor defaults of transformers' tokenizer classes (the Fast suffix dropped). */
const CLASS_DEFAULTS: Record<string, ClassDefaults> = {
  GPT2Tokenizer: { unk_token: '<|endoftext|>', bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', add_bos_token: false },
  GPTNeoXTokenizer: { unk_token: '<|endoftext|>', bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' },
  LlamaTokenizer: { unk_token: '<unk>', bos_token: '<s>', eos_token: '</s>', add_bos_token: true, add_eos_token: false },
  Qwen2Tokenizer: { unk_token: '<|endoftext|>', bos_token: null, eos_token: '<|endoftext|>', pad_token: '<|endoftext|>' },
};

/** The tokenizer class of a config.json model_type, as AutoTokenizer's mapping gives it. */
const MODEL_TYPE_CLASS: Record<string, string> = {
  gpt2: 'GPT2Tokenizer',
  gpt_neox: 'GPTNeoXTokenizer',
  llama: 'LlamaTokenizer',
  mistral: 'LlamaTokenizer',
  qwen2: 'Qwen2Tokenizer',
};

/** Qwen2Converter's pre-tokenising pattern (transformers, convert_slow_tokenizer.py). */
const QWEN2_PATTERN = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

async function readJson(path: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Json;
  } catch (e) {
    throw new Error(`${path} is not a JSON object: ${(e as Error).message}`, { cause: e });
  }
}

async function readOptionalJson(path: string): Promise<Json> {
  return existsSync(path) ? readJson(path) : {};
}

/**
 * The tokenizer class of a folder (without the Fast suffix), as AutoTokenizer finds it:
 * tokenizer_config.json's tokenizer_class, else config.json's model_type; undefined where neither says.
 */
export async function hfTokenizerClass(dir: string): Promise<string | undefined> {
  const named = (await readOptionalJson(join(dir, 'tokenizer_config.json'))).tokenizer_class;
  if (typeof named === 'string') return named.replace(/Fast$/, '');
  const modelType = (await readOptionalJson(join(dir, 'config.json'))).model_type;
  return typeof modelType === 'string' ? MODEL_TYPE_CLASS[modelType] : undefined;
}

/**
 * A folder's tokenizer_config.json with its class stated (hfTokenizerClass, else `fallbackClass`),
 * for a copy of its tokenizer that reads the same beside any config.json (a checkpoint's
 * model_type would otherwise choose the class, and with it the special tokens).
 */
export async function statedTokenizerConfig(dir: string, fallbackClass: string): Promise<Json> {
  const config = await readOptionalJson(join(dir, 'tokenizer_config.json'));
  return { ...config, tokenizer_class: (await hfTokenizerClass(dir)) ?? fallbackClass };
}

/** Whether a folder holds a Hugging Face tokenizer (tokenizer.json, or vocab.json + merges.txt). */
export function isHfTokenizerFolder(dir: string): boolean {
  return existsSync(join(dir, 'tokenizer.json')) || (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt')));
}

/**
 * The tokenizer.json equivalent of vocab.json + merges.txt, as transformers' Qwen2Converter and
 * GPT2Converter build it.
 */
async function convertSlow(dir: string, tokenizerClass: string | undefined, config: Json & ClassDefaults): Promise<Json> {
  const where = `${dir} has no tokenizer.json, and its vocab.json + merges.txt`;
  if (tokenizerClass !== 'Qwen2Tokenizer' && tokenizerClass !== 'GPT2Tokenizer') {
    throw new Error(
      `${where} need tokenizer_class Qwen2Tokenizer or GPT2Tokenizer in tokenizer_config.json (or model_type qwen2 or gpt2 in config.json), got ${tokenizerClass ?? 'none'}`,
    );
  }
  const vocab = await readJson(join(dir, 'vocab.json'));
  const mergesPath = join(dir, 'merges.txt');
  const lines = (await readFile(mergesPath, 'utf8')).split('\n');
  const merges = lines.filter((line, i) => line !== '' && !(i === 0 && line.startsWith('#version')));
  merges.forEach((line, i) => {
    if (line.split(' ').length !== 2) throw new Error(`${mergesPath}: merge ${i + 1} is ${JSON.stringify(line)}, not two tokens separated by one space`);
  });
  // Added tokens: tokenizer_config.json's added_tokens_decoder, then the special tokens it names
  // (as the slow tokenizer registers them, so that they are found inside text).
  const flags = { lstrip: false, rstrip: false, single_word: false };
  const decoderEntries = Object.entries((config.added_tokens_decoder ?? {}) as Record<string, Json>);
  const added_tokens: Json[] = decoderEntries.map(([id, token]) => ({ ...flags, special: false, normalized: true, ...token, id: Number(id) }));
  const named = [config.bos_token, config.eos_token, config.unk_token, config.pad_token, ...((config.additional_special_tokens ?? []) as TokenSetting[])];
  for (const setting of named) {
    const content = tokenContent(setting);
    if (content === null || added_tokens.some((t) => t.content === content) || !(content in vocab)) continue;
    added_tokens.push({ ...flags, normalized: false, ...(typeof setting === 'object' ? setting : {}), content, special: true, id: vocab[content] });
  }
  const prefixSpace = { add_prefix_space: config.add_prefix_space === true };
  const qwen2 = tokenizerClass === 'Qwen2Tokenizer';
  const bos = config.add_bos_token === true ? tokenContent(config.bos_token) : null;
  return {
    added_tokens,
    normalizer: qwen2 ? { type: 'NFC' } : null,
    pre_tokenizer: qwen2
      ? {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: QWEN2_PATTERN }, behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', ...prefixSpace, trim_offsets: true, use_regex: false },
          ],
        }
      : { type: 'ByteLevel', ...prefixSpace, trim_offsets: true, use_regex: true },
    // GPT2Converter adds BOS with a template where add_bos_token is set (Qwen2Converter never does).
    post_processor:
      !qwen2 && bos !== null
        ? { type: 'TemplateProcessing', single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: { [bos]: { id: bos, ids: [vocab[bos]], tokens: [bos] } } }
        : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function tokenContent(setting: TokenSetting): string | null {
  if (setting === null || setting === undefined) return null;
  return typeof setting === 'string' ? setting : setting.content;
}

/** The special tokens a post-processor template puts before and after a single text. */
function templateSpecials(postProcessor: unknown, source: string): { before: number[]; after: number[] } {
  const none = { before: [], after: [] };
  if (typeof postProcessor !== 'object' || postProcessor === null) return none;
  const p = postProcessor as Json;
  if (p.type === 'Sequence') {
    const templates = ((p.processors ?? []) as Json[]).filter((q) => q.type === 'TemplateProcessing');
    return templates.length === 0 ? none : templateSpecials(templates[templates.length - 1], source);
  }
  if (p.type !== 'TemplateProcessing') return none;
  if (!Array.isArray(p.single)) throw new Error(`${source}: post_processor TemplateProcessing has no 'single' template`);
  const ids = (p.special_tokens ?? {}) as Record<string, { ids: number[] }>;
  const out = { before: [] as number[], after: [] as number[] };
  let side = out.before;
  for (const piece of p.single as Json[]) {
    if ('Sequence' in piece) side = out.after;
    else {
      const id = (piece.SpecialToken as { id: string }).id;
      if (!ids[id]) throw new Error(`${source}: post_processor's template names ${JSON.stringify(id)}, which is not among its special_tokens`);
      side.push(...ids[id].ids);
    }
  }
  return out;
}

export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf';
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly specials: Required<EncodeOptions>;

  private constructor(
    private readonly hf: HfLibTokenizer,
    ids: { bos: number | null; eos: number | null; pad: number | null },
    specials: Required<EncodeOptions>,
  ) {
    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.bosId = ids.bos;
    this.eosId = ids.eos;
    this.padId = ids.pad ?? ids.eos ?? 0;
    this.specials = specials;
  }

  /**
   * Reads a tokenizer folder, or a tokenizer.json file (with the tokenizer_config.json and
   * config.json beside it, where present).
   */
  static async load(path: string): Promise<HfTokenizer> {
    const file = statSync(path).isDirectory() ? null : path;
    const dir = file === null ? path : dirname(path);
    const configPath = join(dir, 'tokenizer_config.json');
    const tokenizerConfig = await readOptionalJson(configPath);
    const tokenizerClass = await hfTokenizerClass(dir);
    const config: Json & ClassDefaults = { ...(tokenizerClass ? CLASS_DEFAULTS[tokenizerClass] : {}), ...tokenizerConfig };

    const jsonPath = file ?? join(dir, 'tokenizer.json');
    let spec: Json;
    if (existsSync(jsonPath)) spec = await readJson(jsonPath);
    else if (file === null && isHfTokenizerFolder(dir)) spec = await convertSlow(dir, tokenizerClass, config);
    else throw new Error(`${path} holds no Hugging Face tokenizer: expected tokenizer.json, or vocab.json and merges.txt`);

    let hf: HfLibTokenizer;
    try {
      hf = new HfLibTokenizer(spec, config);
    } catch (e) {
      throw new Error(`cannot build the tokenizer of ${path}: ${(e as Error).message}`, { cause: e });
    }
    const idOf = (field: 'bos_token' | 'eos_token' | 'pad_token'): number | null => {
      const content = tokenContent(config[field] as TokenSetting);
      if (content === null) return null;
      const id = hf.token_to_id(content);
      if (id === undefined) throw new Error(`${configPath}: ${field} ${JSON.stringify(content)} is not a token of ${path}`);
      return id;
    };
    const ids = { bos: idOf('bos_token'), eos: idOf('eos_token'), pad: idOf('pad_token') };

    let specials: Required<EncodeOptions>;
    if (tokenizerClass === 'LlamaTokenizer') {
      specials = { bos: config.add_bos_token === true, eos: config.add_eos_token === true };
      for (const [side, id] of [['bos', ids.bos], ['eos', ids.eos]] as const) {
        if (specials[side] && id === null) throw new Error(`${configPath}: add_${side}_token is true but ${side}_token names no token`);
      }
    } else {
      const { before, after } = templateSpecials(spec.post_processor, jsonPath);
      const adds = (got: number[], id: number | null, what: string): boolean => {
        if (got.length === 0) return false;
        if (got.length === 1 && got[0] === id) return true;
        throw new Error(
          `${jsonPath}: its post_processor adds ids [${got.join(', ')}] ${what} the text; only the ${what === 'before' ? 'BOS' : 'EOS'} token (${id ?? 'none in the tokenizer config'}) is supported there`,
        );
      };
      specials = { bos: adds(before, ids.bos, 'before'), eos: adds(after, ids.eos, 'after') };
    }
    return new HfTokenizer(hf, ids, specials);
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    return addSpecials(this, this.hf.encode(text, { add_special_tokens: false }).ids, opts);
  }

  decode(ids: ArrayLike<number>): string {
    const list = Array.from(ids);
    list.forEach((id, i) => checkTokenId(this, id, i));
    return list.length === 0 ? '' : this.hf.decode(list, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }
}
