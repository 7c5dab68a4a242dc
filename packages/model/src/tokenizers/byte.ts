// ByteTokenizer: the byte-level tokenizer of the project's own small models.
//
// Vocabulary (259 ids): 0 pad, 1 BOS, 2 EOS, 3 + b for each byte b of the text's UTF-8 encoding
// (ids 3..258). A text gets BOS by default (the project's models are trained on BOS-led
// sequences). encode never fails (lone surrogates become U+FFFD, as TextEncoder writes them);
// decode skips the three control ids and decodes the bytes as UTF-8, invalid sequences becoming
// U+FFFD.
import { addSpecials, checkTokenId, type EncodeOptions, type Tokenizer } from './tokenizer.js';

const BYTE_OFFSET = 3;

export class ByteTokenizer implements Tokenizer {
  readonly kind = 'byte';
  readonly vocabSize = BYTE_OFFSET + 256;
  readonly padId = 0;
  readonly bosId = 1;
  readonly eosId = 2;
  readonly specials = { bos: true, eos: false };

  encode(text: string, opts?: EncodeOptions): number[] {
    const ids = Array.from(new TextEncoder().encode(text), (b) => b + BYTE_OFFSET);
    return addSpecials(this, ids, opts);
  }

  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      checkTokenId(this, ids[i], i);
      if (ids[i] >= BYTE_OFFSET) bytes.push(ids[i] - BYTE_OFFSET);
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  }
}
