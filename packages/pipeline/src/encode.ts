// Examples → token sequences under a maximum-length policy, and sequences → minibatches.
//
// A text gets the special tokens the tokenizer's files say (tokenizer.specials, as transformers
// encodes it: BOS for Llama 2 and the project's byte tokenizer, nothing for GPT-2, Pythia or Qwen2).
// An example longer than maxTokens is dropped (policy 'drop', as the reference implementation
// does) or cut from the left, keeping its BOS and its last tokens (policy 'truncate': the
// classifier reads the last token, and the formatted text ends with what is being judged, such as
// the candidate answer). Both counts are reported. Batches are right-padded with the tokenizer's
// padId: its pad token, or EOS where it has none.
import type { Example } from '@w2s/data';
import type { Batch, Tokenizer } from '@w2s/model';

export type LengthPolicy = 'drop' | 'truncate';

export interface EncodedExample {
  example: Example;
  tokens: Int32Array;
}

export interface EncodeReport {
  kept: number;
  dropped: number;
  truncated: number;
}

export function encodeExamples(
  tokenizer: Tokenizer,
  examples: readonly Example[],
  opts: { maxTokens: number; policy: LengthPolicy },
): { encoded: EncodedExample[]; report: EncodeReport } {
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 2) throw new RangeError(`maxTokens must be an integer >= 2, got ${opts.maxTokens}`);
  const encoded: EncodedExample[] = [];
  const report: EncodeReport = { kept: 0, dropped: 0, truncated: 0 };
  for (const example of examples) {
    let ids = tokenizer.encode(example.text, tokenizer.specials);
    if (ids.length === 0) ids = [tokenizer.padId];
    if (ids.length > opts.maxTokens) {
      if (opts.policy === 'drop') {
        report.dropped++;
        continue;
      }
      const head = tokenizer.specials.bos ? 1 : 0;
      ids = [...ids.slice(0, head), ...ids.slice(ids.length - (opts.maxTokens - head))];
      report.truncated++;
    }
    encoded.push({ example, tokens: Int32Array.from(ids) });
    report.kept++;
  }
  return { encoded, report };
}

/** The sequences at `indices` as one right-padded batch (seqLen = the longest of them). */
export function batchOf(items: readonly EncodedExample[], indices: readonly number[], padId: number): Batch {
  const seqLen = indices.reduce((m, i) => Math.max(m, items[i].tokens.length), 1);
  const tokens = new Int32Array(indices.length * seqLen).fill(padId);
  const lengths = new Int32Array(indices.length);
  indices.forEach((i, b) => {
    tokens.set(items[i].tokens, b * seqLen);
    lengths[b] = items[i].tokens.length;
  });
  return { tokens, lengths, batch: indices.length, seqLen };
}
