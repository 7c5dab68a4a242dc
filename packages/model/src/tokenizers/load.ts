// loadTokenizer: a tokenizer from the short spec a config or command line gives:
//   'gpt2'          GPT-2's BPE (Gpt2Tokenizer)
//   'byte'          the project's byte-level tokenizer (ByteTokenizer)
//   '<path>.bin'    a llama2.c tokenizer file (Llama2cTokenizer), e.g. tok512.bin
import { ByteTokenizer } from './byte.js';
import { Gpt2Tokenizer } from './gpt2.js';
import { Llama2cTokenizer } from './llama2c.js';
import type { Tokenizer } from './tokenizer.js';

export async function loadTokenizer(spec: string): Promise<Tokenizer> {
  if (spec === 'gpt2') return Gpt2Tokenizer.load();
  if (spec === 'byte') return new ByteTokenizer();
  if (spec.endsWith('.bin')) return Llama2cTokenizer.fromFile(spec);
  throw new Error(
    `unknown tokenizer ${JSON.stringify(spec)}: expected 'gpt2', 'byte' or the path of a llama2.c tokenizer file ending in .bin`,
  );
}
