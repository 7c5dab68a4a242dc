// Llama2cTokenizer: the tokenizer file of karpathy/llama2.c (tokenizer.bin, tok512.bin, ...),
// as tokenizer.py writes it and run.c reads it. All numbers little-endian:
//   int32 max_token_length
//   then, for each token id 0, 1, 2, ... until the end of the file:
//     float32 score, int32 len, len bytes: the piece (UTF-8, SentencePiece's "▁" written as " ")
// The vocabulary size is not stored: it is the number of records, which must end exactly at the
// end of the file. Fixed ids (as in run.c): 0 <unk>, 1 BOS (piece "\n<s>\n"), 2 EOS ("\n</s>\n").
// Pieces "<0x00>".."<0xFF>" are byte-fallback tokens standing for one raw byte. The vocabulary has
// no pad token: padId is EOS (2), harmless because padded positions are masked by the lengths.
// A text gets BOS by default, as run.c's generate encodes its prompt.
//
// encode follows run.c's encode: for non-empty text, the dummy prefix " " goes first; each UTF-8
// code point becomes its piece's id, or, when the code point is not a piece, the ids of the
// byte-fallback pieces of its bytes; then, as long as some adjacent pair's concatenated pieces are
// a piece, the pair whose piece has the highest score (the leftmost on ties) is merged into it.
// run.c rescans the whole sequence for every merge; the priority queue below picks the same pair
// in O(log n). (run.c also ignores merges scoring ≤ -1e10, which no real vocabulary has; this
// implementation merges whatever the scores.)
// decode follows run.c's decode: right after a BOS id a piece's leading space is dropped,
// byte-fallback pieces give their byte, and the bytes are decoded as UTF-8 (invalid sequences
// become U+FFFD). BOS and EOS give no text.
import { readFile } from 'node:fs/promises';

import { addSpecials, checkTokenId, type EncodeOptions, type Tokenizer } from './tokenizer.js';

const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;

/** A candidate merge: the tokens at `left` and the next one, with the ids they had when queued. */
interface Merge {
  score: number;
  left: number;
  leftId: number;
  rightId: number;
  merged: number;
}

/** Higher score first; on equal scores, the leftmost pair. */
function before(a: Merge, b: Merge): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}

class MergeQueue {
  private readonly heap: Merge[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(m: Merge): void {
    const h = this.heap;
    let i = h.push(m) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  pop(): Merge {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < h.length && before(h[l], h[best])) best = l;
        if (r < h.length && before(h[r], h[best])) best = r;
        if (best === i) break;
        [h[i], h[best]] = [h[best], h[i]];
        i = best;
      }
    }
    return top;
  }
}

/** A byte string as a JS string with one char per byte (a lossless map key). */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export class Llama2cTokenizer implements Tokenizer {
  readonly kind = 'llama2c';
  readonly vocabSize: number;
  readonly padId = 2;
  readonly bosId = 1;
  readonly eosId = 2;
  readonly specials = { bos: true, eos: false };

  /** Per id: the piece's bytes as a latin1 string (one char per byte), the key of `ids`. */
  private readonly keys: string[];
  /** Piece bytes (latin1) → id. */
  private readonly ids = new Map<string, number>();
  /** Per id: the byte a byte-fallback piece stands for, or -1. */
  private readonly byteOf: Int16Array;
  /** Per byte: the id of its byte-fallback piece, or -1. */
  private readonly byteId = new Int32Array(256).fill(-1);

  private constructor(
    /** Where the vocabulary came from, for error messages. */
    readonly source: string,
    readonly maxTokenLength: number,
    private readonly pieces: Uint8Array[],
    private readonly scores: Float32Array,
  ) {
    this.vocabSize = pieces.length;
    this.byteOf = new Int16Array(pieces.length).fill(-1);
    this.keys = pieces.map(latin1);
    this.keys.forEach((key, id) => {
      const previous = this.ids.get(key);
      if (previous !== undefined) {
        throw new Error(`llama2.c tokenizer ${source}: tokens ${previous} and ${id} have the same piece`);
      }
      this.ids.set(key, id);
      const byte = BYTE_PIECE.exec(key);
      if (byte) {
        const b = parseInt(byte[1], 16);
        this.byteOf[id] = b;
        this.byteId[b] = id;
      }
    });
  }

  static async fromFile(path: string): Promise<Llama2cTokenizer> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (e) {
      throw new Error(`cannot read llama2.c tokenizer ${path}: ${(e as Error).message}`, { cause: e });
    }
    return Llama2cTokenizer.fromBytes(bytes, path);
  }

  /** Parses a tokenizer file's contents; `source` names it in error messages. */
  static fromBytes(bytes: Uint8Array, source: string): Llama2cTokenizer {
    const fail = (what: string): never => {
      throw new Error(`llama2.c tokenizer ${source}: ${what}`);
    };
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < 4) fail(`${bytes.byteLength} bytes, too short for the max_token_length header`);
    const maxTokenLength = view.getInt32(0, true);
    if (maxTokenLength < 1) fail(`max_token_length is ${maxTokenLength}`);
    const pieces: Uint8Array[] = [];
    const scores: number[] = [];
    let offset = 4;
    while (offset < bytes.byteLength) {
      const id = pieces.length;
      if (offset + 8 > bytes.byteLength) {
        fail(`truncated record for token ${id} at byte ${offset}: ${bytes.byteLength - offset} bytes left, the score and length need 8`);
      }
      const score = view.getFloat32(offset, true);
      const len = view.getInt32(offset + 4, true);
      offset += 8;
      if (len < 0 || len > maxTokenLength) fail(`token ${id} has length ${len}, outside [0, max_token_length ${maxTokenLength}]`);
      if (offset + len > bytes.byteLength) {
        fail(`truncated record for token ${id} at byte ${offset - 8}: its piece needs ${len} bytes, ${bytes.byteLength - offset} left`);
      }
      pieces.push(bytes.slice(offset, offset + len));
      scores.push(score);
      offset += len;
    }
    if (pieces.length < 3) fail(`${pieces.length} tokens; ids 0-2 (<unk>, BOS, EOS) are required`);
    return new Llama2cTokenizer(source, maxTokenLength, pieces, Float32Array.from(scores));
  }

  /** The bytes of token `id`'s piece (a copy). */
  pieceBytes(id: number): Uint8Array {
    checkTokenId(this, id, 0);
    return this.pieces[id].slice();
  }

  /** Token `id`'s score (the merge priority). */
  score(id: number): number {
    checkTokenId(this, id, 0);
    return this.scores[id];
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    const bytes = new TextEncoder().encode(text.length > 0 ? ' ' + text : '');
    const tokens: number[] = [];
    for (let i = 0; i < bytes.length; ) {
      // A code point: the byte at i and the continuation bytes (10xxxxxx) after it, at most 4.
      let j = i + 1;
      while (j < bytes.length && j - i < 4 && (bytes[j] & 0xc0) === 0x80) j++;
      const id = this.ids.get(String.fromCharCode(...bytes.subarray(i, j)));
      if (id !== undefined) {
        tokens.push(id);
      } else {
        for (let k = i; k < j; k++) {
          const fallback = this.byteId[bytes[k]];
          if (fallback < 0) {
            throw new Error(
              `llama2.c tokenizer ${this.source}: no piece for ${JSON.stringify(text.slice(0, 40))}'s byte 0x${bytes[k].toString(16).padStart(2, '0')} and no byte-fallback piece for it`,
            );
          }
          tokens.push(fallback);
        }
      }
      i = j;
    }
    return addSpecials(this, this.merge(tokens), opts);
  }

  /** Applies the highest-scoring merge until none applies (run.c's loop, with a priority queue). */
  private merge(tokens: number[]): number[] {
    const n = tokens.length;
    const id = tokens.slice();
    const next = Array.from({ length: n }, (_, i) => i + 1);
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    const alive = new Uint8Array(n).fill(1);
    const queue = new MergeQueue();
    const consider = (left: number): void => {
      const right = next[left];
      if (left < 0 || right >= n) return;
      const merged = this.ids.get(this.keys[id[left]] + this.keys[id[right]]);
      if (merged !== undefined) {
        queue.push({ score: this.scores[merged], left, leftId: id[left], rightId: id[right], merged });
      }
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (queue.size > 0) {
      const m = queue.pop();
      const right = next[m.left];
      // Stale entries: a token of the pair has since been merged or merged away.
      if (!alive[m.left] || right >= n || id[m.left] !== m.leftId || id[right] !== m.rightId) continue;
      id[m.left] = m.merged;
      alive[right] = 0;
      next[m.left] = next[right];
      if (next[right] < n) prev[next[right]] = m.left;
      consider(prev[m.left]);
      consider(m.left);
    }
    const out: number[] = [];
    for (let i = 0; i < n; i = next[i]) out.push(id[i]);
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    let prev = -1;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      checkTokenId(this, id, i);
      if (id !== this.bosId && id !== this.eosId) {
        if (this.byteOf[id] >= 0) {
          bytes.push(this.byteOf[id]);
        } else {
          const piece = this.pieces[id];
          const start = prev === this.bosId && piece[0] === 0x20 ? 1 : 0;
          for (let k = start; k < piece.length; k++) bytes.push(piece[k]);
        }
      }
      prev = id;
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  }
}
