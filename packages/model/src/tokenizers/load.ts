// loadTokenizer: a tokenizer from the short spec a config or command line gives:
//   'gpt2'          GPT-2's BPE (Gpt2Tokenizer)
//   'byte'          the project's byte-level tokenizer (ByteTokenizer)
//   '<path>.bin'    a llama2.c tokenizer file (Llama2cTokenizer), e.g. tok512.bin
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ModelConfig } from '../config.js';
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

/** A checkpoint folder's file naming its tokenizer spec (written by `w2s pretrain`). */
export const TOKENIZER_FILE = 'w2s-tokenizer.txt';

/**
 * The tokenizer spec of a checkpoint when none is named: the spec in its TOKENIZER_FILE, else
 * llama2.c's tok{V}.bin beside it, else GPT-2's BPE for a GPT-2-vocabulary model; otherwise an
 * error asking for one.
 */
export function checkpointTokenizerSpec(checkpoint: string, config: ModelConfig): string {
  const dir = statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint);
  const named = join(dir, TOKENIZER_FILE);
  if (existsSync(named)) {
    const spec = readFileSync(named, 'utf8').trim();
    if (spec === '') throw new Error(`${named} is empty: it should name the checkpoint's tokenizer (gpt2, byte or a .bin file)`);
    return spec.endsWith('.bin') && !spec.startsWith('/') ? join(dir, spec) : spec;
  }
  const llama2c = join(dir, `tok${config.vocabSize}.bin`);
  if (existsSync(llama2c)) return llama2c;
  if (config.architecture.positions.kind === 'learned' && config.vocabSize === 50257) return 'gpt2';
  throw new Error(`no tokenizer found for ${checkpoint} (looked for ${llama2c}); pass --tokenizer PATH|gpt2|byte`);
}
