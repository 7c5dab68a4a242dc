// GPT-2's byte-level BPE (OpenAI's r50k_base encoding), from the gpt-tokenizer package, which
// ships the merge ranks inside its own modules: nothing is downloaded.
//
// Vocabulary: 50257 ids; 50256 is <|endoftext|>, GPT-2's only special token, which serves as
// both BOS and EOS. GPT-2 has no pad token: padId is 50256 too, harmless because padded
// positions are masked by the sequence lengths. Like transformers' GPT-2 tokenizer, it adds no
// special token to a text by default. Text is always encoded as plain text: a literal
// "<|endoftext|>" in the input becomes ordinary tokens, never the special id. decode skips 50256.
import { addSpecials, checkTokenId, type EncodeOptions, type Tokenizer } from './tokenizer.js';

type R50kBase = typeof import('gpt-tokenizer/encoding/r50k_base');

const END_OF_TEXT = 50256;

export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2';
  readonly vocabSize: number;
  readonly padId = END_OF_TEXT;
  readonly bosId = END_OF_TEXT;
  readonly eosId = END_OF_TEXT;
  readonly specials = { bos: false, eos: false };

  private constructor(private readonly bpe: R50kBase) {
    this.vocabSize = bpe.vocabularySize;
  }

  /** Loads the merge ranks (imported on first use, so importing this module stays cheap). */
  static async load(): Promise<Gpt2Tokenizer> {
    return new Gpt2Tokenizer(await import('gpt-tokenizer/encoding/r50k_base'));
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    // No special token allowed, none disallowed: special-token text is encoded as plain text.
    const ids = this.bpe.encode(text, { disallowedSpecial: new Set() });
    return addSpecials(this, ids, opts);
  }

  decode(ids: ArrayLike<number>): string {
    const kept: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      checkTokenId(this, ids[i], i);
      if (ids[i] !== END_OF_TEXT) kept.push(ids[i]);
    }
    return this.bpe.decode(kept);
  }
}
