// Tokenizers: GPT-2's BPE, llama2.c's tokenizer files (a hand-built one and the real tok512.bin,
// checked against its SentencePiece model tok512.model), the byte tokenizer, loadTokenizer and
// encodeBatch.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '@w2s/random';

import {
  ByteTokenizer,
  encodeBatch,
  Gpt2Tokenizer,
  Llama2cTokenizer,
  loadTokenizer,
  type Tokenizer,
} from '../src/tokenizers/index.js';
import { needsData } from '../../../tests/support/data.js';

const tok512 = needsData('the tok512.bin tests', 'stories260K/tok512.bin');
const tok512SentencePiece = needsData('the tok512.model test', 'stories260K/tok512.model');
const [tok512Bin] = tok512.paths;
const [tok512Model] = tok512SentencePiece.paths;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Varied text: ASCII, whitespace runs, accents, CJK, emoji (astral and ZWJ sequences), NUL. */
const SAMPLES = [
  'Once upon a time, there was a little girl named Lily.',
  'Hello, World!  Multiple   spaces\tand\t\ttabs\nnewlines\n\n',
  '   leading and trailing spaces   ',
  'ümlaut café naïve Ångström',
  '中文字符 and 日本語のテキスト',
  'emoji 😀🎉 family 👨‍👩‍👧 flag 🇫🇷',
  'a',
  '\u0000nul and \u007f del',
  "It's 3.14159 — isn't it? (yes)",
];

/** Writes a llama2.c tokenizer file: int32 max_token_length, then per token float32 score, int32 len, bytes. */
function llama2cFile(tokens: [piece: string, score: number][], maxTokenLength?: number): Uint8Array {
  const pieces = tokens.map(([p]) => utf8(p));
  const size = 4 + pieces.reduce((n, p) => n + 8 + p.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, maxTokenLength ?? Math.max(...pieces.map((p) => p.length)), true);
  let o = 4;
  tokens.forEach(([, score], i) => {
    view.setFloat32(o, score, true);
    view.setInt32(o + 4, pieces[i].length, true);
    out.set(pieces[i], o + 8);
    o += 8 + pieces[i].length;
  });
  return out;
}

/**
 * run.c's encode transcribed literally (a full rescan per merge, best_score starting at -1e10),
 * except that byte fallback looks the "<0xXX>" piece up instead of assuming id byte + 3.
 */
function runcEncode(tok: Llama2cTokenizer, text: string): number[] {
  const vocab = new Map<string, number>();
  const pieces: string[] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    pieces.push(latin1(tok.pieceBytes(id)));
    vocab.set(pieces[id], id);
  }
  const tokens: number[] = [];
  if (text.length > 0) tokens.push(vocab.get(' ')!);
  const bytes = utf8(text);
  let buf: number[] = [];
  for (let c = 0; c < bytes.length; c++) {
    if ((bytes[c] & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[c]);
    if (c + 1 < bytes.length && (bytes[c + 1] & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = vocab.get(latin1(Uint8Array.from(buf)));
    if (id !== undefined) tokens.push(id);
    else for (const b of buf) tokens.push(vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!);
    buf = [];
  }
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = vocab.get(pieces[tokens[i]] + pieces[tokens[i + 1]]);
      if (id !== undefined && tok.score(id) > bestScore) {
        bestScore = tok.score(id);
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

/** A deterministic pseudo-random text over a mixed alphabet (long enough to exercise the merge queue). */
function pseudoRandomText(length: number, seed: number): string {
  const alphabet = [...'abcdefghijklmnopqrstuvwxyz     ,.!?\'\nTHESaeiou', 'é', '中', '😀'];
  const uniform = mulberry32(seed);
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[Math.floor(uniform() * alphabet.length)];
  return s;
}

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();

  it('maps UTF-8 bytes to byte + 3, with pad 0, BOS 1, EOS 2', () => {
    expect([tok.kind, tok.vocabSize, tok.padId, tok.bosId, tok.eosId]).toEqual(['byte', 259, 0, 1, 2]);
    // 'h' = 0x68, 'é' = 0xC3 0xA9
    expect(tok.encode('hé')).toEqual([0x68 + 3, 0xc3 + 3, 0xa9 + 3]);
    expect(tok.encode('hé', { bos: true, eos: true })).toEqual([1, 0x68 + 3, 0xc3 + 3, 0xa9 + 3, 2]);
    expect(tok.encode('')).toEqual([]);
    expect(tok.encode('\u00ff')).toEqual([0xc3 + 3, 0xbf + 3]);
  });

  it('round-trips text and skips the control ids when decoding', () => {
    for (const s of SAMPLES) expect(tok.decode(tok.encode(s, { bos: true, eos: true }))).toBe(s);
    expect(tok.decode(Int32Array.from([1, 0x68 + 3, 0, 0x69 + 3, 2, 0]))).toBe('hi');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tok.decode([3, 259])).toThrow(/token id 259 at index 1 is outside \[0, 259\)/);
    expect(() => tok.decode([-1])).toThrow(RangeError);
    expect(() => tok.decode([3.5])).toThrow(RangeError);
  });
});

describe('Gpt2Tokenizer', () => {
  let tok: Gpt2Tokenizer;
  beforeAll(async () => {
    tok = await Gpt2Tokenizer.load();
  });

  it('has GPT-2 vocabulary and <|endoftext|> = 50256 as BOS, EOS and pad', () => {
    expect([tok.kind, tok.vocabSize, tok.padId, tok.bosId, tok.eosId]).toEqual(['gpt2', 50257, 50256, 50256, 50256]);
  });

  it('gives the documented GPT-2 encodings', () => {
    // The GPT-2 vocabulary: "Hello" = 15496, "Ġworld" = 995, "Ġthe" = 262.
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' the')).toEqual([262]);
    expect(tok.encode('Hello world', { bos: true, eos: true })).toEqual([50256, 15496, 995, 50256]);
    expect(tok.encode('')).toEqual([]);
  });

  it('round-trips varied text', () => {
    for (const s of SAMPLES) {
      const ids = tok.encode(s);
      expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 50256)).toBe(true);
      expect(tok.decode(ids)).toBe(s);
      expect(tok.decode(Int32Array.from(tok.encode(s, { bos: true, eos: true })))).toBe(s);
    }
  });

  it('encodes special-token text as plain text, never as the special id', () => {
    const text = 'a<|endoftext|>b';
    const ids = tok.encode(text);
    expect(ids).not.toContain(50256);
    expect(ids.length).toBeGreaterThan(3);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.encode('<|endoftext|>')).not.toContain(50256);
  });

  it('skips <|endoftext|> when decoding and rejects ids outside the vocabulary', () => {
    expect(tok.decode([50256, 15496, 50256, 995, 50256])).toBe('Hello world');
    expect(() => tok.decode([15496, 50257])).toThrow(/token id 50257 at index 1/);
  });
});

describe('Llama2cTokenizer on a hand-built vocabulary', () => {
  // Merge scores: "bc" (-0.5) > "ab" = "aa" (-1) > " a" (-2) > "abc" (-3).
  const VOCAB: [string, number][] = [
    ['<unk>', 0], // 0
    ['\n<s>\n', 0], // 1
    ['\n</s>\n', 0], // 2
    [' ', 0], // 3
    ['a', 0], // 4
    ['b', 0], // 5
    ['c', 0], // 6
    ['ab', -1], // 7
    ['bc', -0.5], // 8
    ['abc', -3], // 9
    [' a', -2], // 10
    ['aa', -1], // 11
    ['<0xE2>', 0], // 12: the bytes of "€" (U+20AC = E2 82 AC), which is not a piece
    ['<0x82>', 0], // 13
    ['<0xAC>', 0], // 14
  ];
  let dir: string;
  let file: string;
  let tok: Llama2cTokenizer;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'w2s-tokenizers-'));
    file = path.join(dir, 'tiny.bin');
    writeFileSync(file, llama2cFile(VOCAB));
    tok = await Llama2cTokenizer.fromFile(file);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every record to the end of the file', () => {
    expect([tok.kind, tok.vocabSize, tok.maxTokenLength, tok.padId, tok.bosId, tok.eosId]).toEqual(['llama2c', 15, 6, 2, 1, 2]);
    expect(latin1(tok.pieceBytes(8))).toBe('bc'); // max_token_length: "\n</s>\n" has 6 bytes
    expect(tok.score(8)).toBe(-0.5);
    expect(tok.score(10)).toBe(-2);
  });

  it('merges the highest-scoring pair first, not the leftmost', () => {
    // " abc" → [" ", a, b, c]; pairs " a" -2, "ab" -1, "bc" -0.5 → merge "bc": [" ", a, bc];
    // pairs " a" -2, "abc" -3 → merge " a": [" a", bc]; " abc" is not a piece → done.
    expect(tok.encode('abc')).toEqual([10, 8]);
    expect(tok.encode('abc', { bos: true, eos: true })).toEqual([1, 10, 8, 2]);
  });

  it('merges the leftmost of equally scored pairs', () => {
    // " aaa" → [" ", a, a, a]; "aa" (-1) at positions 1 and 2 beat " a" (-2) → the leftmost:
    // [" ", aa, a]; " aa" and "aaa" are not pieces → done. (The rightmost would give [" a", aa].)
    expect(tok.encode('aaa')).toEqual([3, 11, 4]);
  });

  it('falls back to byte pieces for code points that are not pieces', () => {
    // " a€" → [" ", a, <0xE2>, <0x82>, <0xAC>] → " a" merges.
    expect(tok.encode('a€')).toEqual([10, 12, 13, 14]);
    expect(() => tok.encode('é')).toThrow(/tiny\.bin.*byte 0xc3/);
  });

  it('agrees with the literal run.c loop', () => {
    for (const s of ['abc', 'aaa', 'a€', 'cab bca abcabc aaaa€b', 'bcbcbc abab ccc aa a']) {
      expect(tok.encode(s)).toEqual(runcEncode(tok, s));
    }
  });

  it('decodes as run.c does: the leading space dropped only right after BOS, byte pieces as bytes', () => {
    expect(tok.decode([1, 10, 8, 2])).toBe('abc');
    expect(tok.decode([10, 8])).toBe(' abc');
    expect(tok.decode([1, 10, 12, 13, 14])).toBe('a€');
    expect(tok.decode([1, 3, 10])).toBe(' a');
    for (const s of ['abc', 'aaa', 'a€', ' a b c ', '']) expect(tok.decode(tok.encode(s, { bos: true }))).toBe(s);
    expect(tok.encode('')).toEqual([]);
    expect(tok.encode('', { bos: true })).toEqual([1]);
    expect(() => tok.decode([15])).toThrow(/token id 15 at index 0 is outside \[0, 15\)/);
  });

  it('rejects malformed files, naming them', async () => {
    const full = llama2cFile(VOCAB);
    const write = (name: string, bytes: Uint8Array): string => {
      const p = path.join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    // A piece cut short, a record cut inside its score and length, a header cut short.
    await expect(Llama2cTokenizer.fromFile(write('cut-piece.bin', full.subarray(0, full.length - 1)))).rejects.toThrow(
      /cut-piece\.bin: truncated record for token 14/,
    );
    const cutRecord = full.subarray(0, full.length - (8 + 6) + 3);
    await expect(Llama2cTokenizer.fromFile(write('cut-record.bin', cutRecord))).rejects.toThrow(
      /cut-record\.bin: truncated record for token 14 .*3 bytes left/,
    );
    await expect(Llama2cTokenizer.fromFile(write('cut-header.bin', full.subarray(0, 2)))).rejects.toThrow(/cut-header\.bin: 2 bytes/);
    await expect(Llama2cTokenizer.fromFile(write('long.bin', llama2cFile(VOCAB, 5)))).rejects.toThrow(
      /long\.bin: token 2 has length 6, outside \[0, max_token_length 5\]/,
    );
    await expect(Llama2cTokenizer.fromFile(write('dup.bin', llama2cFile([...VOCAB, ['ab', -9]])))).rejects.toThrow(
      /dup\.bin: tokens 7 and 15 have the same piece/,
    );
    await expect(Llama2cTokenizer.fromFile(write('two.bin', llama2cFile(VOCAB.slice(0, 2))))).rejects.toThrow(/two\.bin: 2 tokens/);
    await expect(Llama2cTokenizer.fromFile(path.join(dir, 'missing.bin'))).rejects.toThrow(/missing\.bin/);
  });
});

/** tok512.model's pieces: ModelProto field 1 = repeated SentencePiece {1: piece, 2: score, 3: type}. */
function sentencePieces(buf: Uint8Array): { piece: string; score: number; type: number }[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[pos++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  /** Reads one field's key and returns [field, wireType]; the caller reads or skips the value. */
  const key = (): [number, number] => {
    const k = varint();
    return [Math.floor(k / 8), k % 8];
  };
  const skip = (wire: number): void => {
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 2) {
      const len = varint(); // read before pos: `pos += varint()` would add to the stale pos
      pos += len;
    }
    else if (wire === 5) pos += 4;
    else throw new Error(`wire type ${wire}`);
  };
  const out: { piece: string; score: number; type: number }[] = [];
  while (pos < buf.length) {
    const [field, wire] = key();
    if (field !== 1 || wire !== 2) {
      skip(wire);
      continue;
    }
    const end = varint() + pos;
    const sp = { piece: '', score: 0, type: 1 }; // proto2 defaults: score 0, type NORMAL
    while (pos < end) {
      const [f, w] = key();
      if (f === 1 && w === 2) {
        const len = varint();
        sp.piece = new TextDecoder().decode(buf.subarray(pos, pos + len));
        pos += len;
      } else if (f === 2 && w === 5) {
        sp.score = view.getFloat32(pos, true);
        pos += 4;
      } else if (f === 3 && w === 0) {
        sp.type = varint();
      } else {
        skip(w);
      }
    }
    out.push(sp);
  }
  return out;
}

tok512.describe('Llama2cTokenizer on stories260K tok512.bin', () => {
  let tok: Llama2cTokenizer;
  beforeAll(async () => {
    // Where the file is missing (under W2S_REQUIRE_DATA=1) each test fails on needsData's check instead.
    if (tok512.missing.length === 0) tok = await Llama2cTokenizer.fromFile(tok512Bin);
  });

  it('has 512 tokens with byte pieces at ids 3..258', () => {
    expect(tok.vocabSize).toBe(512);
    expect(latin1(tok.pieceBytes(0))).toBe('<unk>');
    expect(latin1(tok.pieceBytes(1))).toBe('\n<s>\n');
    expect(latin1(tok.pieceBytes(2))).toBe('\n</s>\n');
    for (let b = 0; b < 256; b++) {
      expect(latin1(tok.pieceBytes(3 + b))).toBe(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    }
  });

  tok512SentencePiece.it('has the pieces and scores of its SentencePiece model tok512.model', () => {
    const sp = sentencePieces(readFileSync(tok512Model));
    expect(sp.length).toBe(tok.vocabSize);
    // tokenizer.py writes BOS as "\n<s>\n", EOS as "\n</s>\n" and "▁" as " ".
    const expected = sp.map(({ piece }, id) => (id === 1 ? '\n<s>\n' : id === 2 ? '\n</s>\n' : piece.replaceAll('▁', ' ')));
    expect(sp.slice(0, 3).map((p) => p.type)).toEqual([2, 3, 3]); // UNKNOWN, CONTROL, CONTROL
    for (let id = 0; id < tok.vocabSize; id++) {
      expect(new TextDecoder().decode(tok.pieceBytes(id))).toBe(expected[id]);
      expect(tok.score(id)).toBe(sp[id].score);
      // SentencePiece's BYTE pieces (type 6) are exactly the pieces treated as byte fallback.
      expect(sp[id].type === 6).toBe(/^<0x[0-9A-F]{2}>$/.test(expected[id]));
    }
  });

  it('round-trips varied text, falling back to bytes outside the vocabulary', () => {
    for (const s of [...SAMPLES, '', pseudoRandomText(300, 7)]) {
      expect(tok.decode(tok.encode(s, { bos: true }))).toBe(s);
      expect(tok.decode(Int32Array.from(tok.encode(s, { bos: true, eos: true })))).toBe(s);
    }
    // "中" is not among the 512 pieces: its UTF-8 bytes E4 B8 AD come out as byte tokens 3 + byte.
    const ids = tok.encode('中');
    expect(ids.slice(-3)).toEqual([0xe4 + 3, 0xb8 + 3, 0xad + 3]);
  });

  it('stops at a fixpoint: no adjacent pair concatenates to a piece', () => {
    const pieces = new Set<string>();
    for (let id = 0; id < tok.vocabSize; id++) pieces.add(latin1(tok.pieceBytes(id)));
    for (const s of [...SAMPLES, pseudoRandomText(500, 11)]) {
      const ids = tok.encode(s);
      for (let i = 0; i + 1 < ids.length; i++) {
        expect(pieces.has(latin1(tok.pieceBytes(ids[i])) + latin1(tok.pieceBytes(ids[i + 1])))).toBe(false);
      }
    }
  });

  it('agrees with the literal run.c loop', () => {
    for (const s of [...SAMPLES, pseudoRandomText(400, 3), pseudoRandomText(400, 5)]) {
      expect(tok.encode(s)).toEqual(runcEncode(tok, s));
    }
  });
});

describe('loadTokenizer', () => {
  it('loads gpt2 and byte, and rejects other specs listing the accepted ones', async () => {
    expect((await loadTokenizer('gpt2')).kind).toBe('gpt2');
    expect((await loadTokenizer('byte')).kind).toBe('byte');
    await expect(loadTokenizer('sentencepiece')).rejects.toThrow(/"sentencepiece".*'gpt2', 'byte'.*\.bin/);
    await expect(loadTokenizer('/nonexistent/tok.bin')).rejects.toThrow(/\/nonexistent\/tok\.bin/);
  });

  tok512.it('loads a llama2.c tokenizer file by path', async () => {
    const tok = await loadTokenizer(tok512Bin);
    expect([tok.kind, tok.vocabSize]).toEqual(['llama2c', 512]);
  });
});

describe('encodeBatch', () => {
  const tok = new ByteTokenizer();
  // Byte ids: 'a' = 97 + 3 = 100, 'b' 101, 'c' 102, 'd' 103, 'e' 104, 'f' 105, 'g' 106.
  const texts = ['ab', 'c', 'defg'];

  it("pads to the longest sequence and truncates on the right", () => {
    const out = encodeBatch(tok, texts, { maxLength: 3, padding: 'longest', truncation: 'right', bos: true });
    expect(out.batch).toBe(3);
    expect(out.seqLen).toBe(3);
    expect(Array.from(out.tokens)).toEqual([1, 100, 101, 1, 102, 0, 1, 103, 104]);
    expect(Array.from(out.lengths)).toEqual([3, 2, 3]);
    expect(out.truncated).toBe(1);
    expect(out.tokens).toBeInstanceOf(Int32Array);
    expect(out.lengths).toBeInstanceOf(Int32Array);
  });

  it('truncates on the left, keeping BOS', () => {
    const out = encodeBatch(tok, texts, { maxLength: 3, padding: 'longest', truncation: 'left', bos: true });
    expect(Array.from(out.tokens)).toEqual([1, 100, 101, 1, 102, 0, 1, 105, 106]);
    expect(out.truncated).toBe(1);
  });

  it('keeps BOS and EOS when truncating', () => {
    const right = encodeBatch(tok, ['abcd'], { maxLength: 3, padding: 'longest', truncation: 'right', bos: true, eos: true });
    expect(Array.from(right.tokens)).toEqual([1, 100, 2]);
    const left = encodeBatch(tok, ['abcd'], { maxLength: 3, padding: 'longest', truncation: 'left', bos: true, eos: true });
    expect(Array.from(left.tokens)).toEqual([1, 103, 2]);
  });

  it('pads to maxLength', () => {
    const out = encodeBatch(tok, ['ab', 'c'], { maxLength: 4, padding: 'max-length', truncation: 'error', eos: true });
    expect(out.seqLen).toBe(4);
    expect(Array.from(out.tokens)).toEqual([100, 101, 2, 0, 102, 2, 0, 0]);
    expect(Array.from(out.lengths)).toEqual([3, 2]);
    expect(out.truncated).toBe(0);
  });

  it('pads with the tokenizer’s pad id (GPT-2: 50256)', async () => {
    const gpt2 = await Gpt2Tokenizer.load();
    const out = encodeBatch(gpt2, ['Hello world', ' the'], { maxLength: 8, padding: 'longest', truncation: 'error' });
    expect(Array.from(out.tokens)).toEqual([15496, 995, 262, 50256]);
    expect(Array.from(out.lengths)).toEqual([2, 1]);
  });

  it("throws on a too-long text with truncation 'error', naming its index and length", () => {
    expect(() => encodeBatch(tok, texts, { maxLength: 3, padding: 'longest', truncation: 'error', bos: true })).toThrow(
      /text 2 has 5 tokens, more than maxLength 3/,
    );
  });

  it('requires every sequence to have a token', () => {
    expect(() => encodeBatch(tok, ['a', ''], { maxLength: 4, padding: 'longest', truncation: 'right' })).toThrow(/text 1 is empty/);
    const out = encodeBatch(tok, ['a', ''], { maxLength: 4, padding: 'longest', truncation: 'right', bos: true });
    expect(Array.from(out.tokens)).toEqual([1, 100, 1, 0]);
    expect(Array.from(out.lengths)).toEqual([2, 1]);
  });

  it('rejects bad options', () => {
    const base = { maxLength: 4, padding: 'longest', truncation: 'right' } as const;
    expect(() => encodeBatch(tok, ['a'], { ...base, maxLength: 0 })).toThrow(/maxLength must be a positive integer/);
    expect(() => encodeBatch(tok, ['a'], { ...base, maxLength: 1, bos: true, eos: true })).toThrow(/no room for the BOS and EOS/);
    expect(() => encodeBatch(tok, [], base)).toThrow(/no texts/);
    expect(() => encodeBatch(tok, ['a'], { ...base, padding: 'none' as never })).toThrow(/padding must be/);
    expect(() => encodeBatch(tok, ['a'], { ...base, truncation: 'middle' as never })).toThrow(/truncation must be/);
  });
});

// Every tokenizer satisfies the interface the models and encodeBatch rely on.
it('all tokenizers have pad, BOS and EOS inside their vocabularies', async () => {
  const all: Tokenizer[] = [new ByteTokenizer(), await Gpt2Tokenizer.load()];
  if (!tok512.skip) {
    tok512.check(); // under W2S_REQUIRE_DATA=1 a missing tok512.bin fails here
    all.push(await Llama2cTokenizer.fromFile(tok512Bin));
  }
  for (const t of all) {
    for (const id of [t.padId, t.bosId, t.eosId]) expect(id === null || (id >= 0 && id < t.vocabSize)).toBe(true);
  }
});
