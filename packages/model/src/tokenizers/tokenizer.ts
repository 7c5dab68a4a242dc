// The interface every tokenizer implements, and the checks they share.
//
// Token ids are plain numbers in [0, vocabSize). A tokenizer names three control ids:
//   padId  what encodeBatch writes past the end of a shorter sequence. The models mask keys at
//          positions ≥ a sequence's length and read the classifier at length − 1, so the pad id
//          is never seen; vocabularies without a pad token pad with EOS (a Hugging Face
//          tokenizer whose files name neither pads with 0).
//   bosId  prepended by encode(text, { bos: true }); null where the vocabulary has none.
//   eosId  appended by encode(text, { eos: true }); null where the vocabulary has none.
// decode produces no text for BOS and EOS ids (nor for the pad id where it is a token of its own).
// `specials` says which of BOS and EOS the tokenizer's own files add to every text (transformers'
// add_special_tokens=True): encode(text, tokenizer.specials) is the sequence a model of that
// family expects.

export interface EncodeOptions {
  /** Prepend the BOS id. */
  bos?: boolean;
  /** Append the EOS id. */
  eos?: boolean;
}

export interface Tokenizer {
  /** 'gpt2', 'llama2c', 'byte' or 'hf'. */
  readonly kind: string;
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** The special tokens a text gets by default (transformers' add_special_tokens=True). */
  readonly specials: Required<EncodeOptions>;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>): string;
}

/** The BOS id, or an error naming the tokenizer when it has none. */
export function requireBos(tokenizer: Tokenizer): number {
  if (tokenizer.bosId === null) throw new Error(`${tokenizer.kind} tokenizer has no BOS token`);
  return tokenizer.bosId;
}

/** The EOS id, or an error naming the tokenizer when it has none. */
export function requireEos(tokenizer: Tokenizer): number {
  if (tokenizer.eosId === null) throw new Error(`${tokenizer.kind} tokenizer has no EOS token`);
  return tokenizer.eosId;
}

/** Wraps `ids` in the BOS/EOS ids `opts` asks for. */
export function addSpecials(tokenizer: Tokenizer, ids: number[], opts: EncodeOptions | undefined): number[] {
  if (opts?.bos) ids.unshift(requireBos(tokenizer));
  if (opts?.eos) ids.push(requireEos(tokenizer));
  return ids;
}

/** Throws a RangeError unless `id` is an integer in [0, vocabSize). */
export function checkTokenId(tokenizer: Tokenizer, id: number, index: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= tokenizer.vocabSize) {
    throw new RangeError(
      `${tokenizer.kind} tokenizer: token id ${id} at index ${index} is outside [0, ${tokenizer.vocabSize})`,
    );
  }
}
