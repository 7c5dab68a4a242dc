// encodeBatch: texts → one right-padded [batch, seqLen] int32 token matrix plus true lengths,
// the input the models take (keys at positions ≥ a sequence's length are masked, and the
// classifier reads position length − 1).
//
// Every choice is explicit:
//   maxLength   the most tokens a sequence may have, BOS and EOS included.
//   truncation  what happens to a text longer than that: 'right' drops its last tokens, 'left'
//               its first ones (BOS and EOS, when asked for, are kept either way: only the text's
//               own tokens are cut), 'error' throws, naming the text's index and its length.
//   padding     'longest': seqLen is the longest sequence's length after truncation;
//               'max-length': seqLen is maxLength.
// Padding is always on the right, with the tokenizer's padId. Every sequence needs at least one
// token (the classifier reads the last one): an empty text without BOS or EOS is an error naming
// its index.
import type { Batch } from '../batch.js';
import { requireBos, requireEos, type Tokenizer } from './tokenizer.js';

export interface BatchOptions {
  maxLength: number;
  padding: 'longest' | 'max-length';
  truncation: 'right' | 'left' | 'error';
  bos?: boolean;
  eos?: boolean;
}

/** A Batch (../batch.ts): tokens right-padded with the tokenizer's padId, lengths after truncation. */
export interface EncodedBatch extends Batch {
  /** How many texts were cut to fit maxLength. */
  truncated: number;
}

export function encodeBatch(tokenizer: Tokenizer, texts: readonly string[], opts: BatchOptions): EncodedBatch {
  const { maxLength, padding, truncation } = opts;
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new RangeError(`encodeBatch: maxLength must be a positive integer, got ${maxLength}`);
  }
  if (padding !== 'longest' && padding !== 'max-length') {
    throw new Error(`encodeBatch: padding must be 'longest' or 'max-length', got ${String(padding)}`);
  }
  if (truncation !== 'right' && truncation !== 'left' && truncation !== 'error') {
    throw new Error(`encodeBatch: truncation must be 'right', 'left' or 'error', got ${String(truncation)}`);
  }
  if (texts.length === 0) throw new Error('encodeBatch: no texts');
  const head = opts.bos ? [requireBos(tokenizer)] : [];
  const tail = opts.eos ? [requireEos(tokenizer)] : [];
  const budget = maxLength - head.length - tail.length;
  if (budget < 0) {
    throw new RangeError(`encodeBatch: maxLength ${maxLength} leaves no room for the BOS and EOS tokens`);
  }

  let truncated = 0;
  const sequences = texts.map((text, index) => {
    let body = tokenizer.encode(text);
    const length = head.length + body.length + tail.length;
    if (length === 0) {
      throw new Error(`encodeBatch: text ${index} is empty and no BOS or EOS is added; every sequence needs a token`);
    }
    if (body.length > budget) {
      if (truncation === 'error') {
        throw new RangeError(`encodeBatch: text ${index} has ${length} tokens, more than maxLength ${maxLength}`);
      }
      body = truncation === 'right' ? body.slice(0, budget) : body.slice(body.length - budget);
      truncated++;
    }
    return [...head, ...body, ...tail];
  });

  const batch = sequences.length;
  const seqLen = padding === 'max-length' ? maxLength : sequences.reduce((m, s) => Math.max(m, s.length), 0);
  const tokens = new Int32Array(batch * seqLen).fill(tokenizer.padId);
  const lengths = new Int32Array(batch);
  sequences.forEach((seq, b) => {
    tokens.set(seq, b * seqLen);
    lengths[b] = seq.length;
  });
  return { tokens, lengths, batch, seqLen, truncated };
}
