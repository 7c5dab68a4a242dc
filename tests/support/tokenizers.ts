// A tiny byte-level BPE tokenizer folder in GPT-2's layout, for tests that need a Hugging Face
// tokenizer without the data folder: byte tokens at ids 0-255 (GPT-2's bytes_to_unicode
// characters), merge r making id 256 + r, <|endoftext|> last; tokenizer_config.json names
// GPT2Tokenizer, so <|endoftext|> is BOS, EOS and PAD and nothing is added to a text.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** GPT-2's bytes_to_unicode: the printable character standing for each byte. */
function byteChars(): string[] {
  const printable = [...range(0x21, 0x7e), ...range(0xa1, 0xac), ...range(0xae, 0xff)];
  const chars: string[] = new Array(256);
  let next = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + next++);
  return chars;
}
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** A byte-level BPE folder in GPT-2's layout: byte tokens 0-255, merge r making id 256 + r, <|endoftext|> last. */
export function tinyTokenizer(dir: string, merges: [string, string][]): string {
  mkdirSync(dir, { recursive: true });
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, b) => (vocab[c] = b));
  merges.forEach(([a, b], r) => (vocab[a + b] = 256 + r));
  const eot = 256 + merges.length;
  vocab['<|endoftext|>'] = eot;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const spec = {
    version: '1.0',
    added_tokens: [{ id: eot, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: merges.map((m) => m.join(' ')) },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(spec));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'GPT2Tokenizer' }));
  return dir;
}
