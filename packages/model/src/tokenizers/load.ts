// loadTokenizer: a tokenizer from the short spec a config or command line gives:
//   'gpt2'          GPT-2's BPE (Gpt2Tokenizer)
//   'byte'          the project's byte-level tokenizer (ByteTokenizer)
//   '<path>.bin'    a llama2.c tokenizer file (Llama2cTokenizer), e.g. tok512.bin
//   '<folder>'      a Hugging Face tokenizer or checkpoint folder: tokenizer.json, or vocab.json +
//                   merges.txt, with tokenizer_config.json (HfTokenizer)
//   '<path>.json'   a Hugging Face tokenizer.json, with the tokenizer_config.json beside it
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ModelConfig } from '../config.js';
import { ByteTokenizer } from './byte.js';
import { Gpt2Tokenizer } from './gpt2.js';
import { HfTokenizer, isHfTokenizerFolder } from './hf.js';
import { Llama2cTokenizer } from './llama2c.js';
import type { Tokenizer } from './tokenizer.js';

export async function loadTokenizer(spec: string): Promise<Tokenizer> {
  if (spec === 'gpt2') return Gpt2Tokenizer.load();
  if (spec === 'byte') return new ByteTokenizer();
  if (spec.endsWith('.bin')) return Llama2cTokenizer.fromFile(spec);
  if (existsSync(spec) && (statSync(spec).isDirectory() || spec.endsWith('.json'))) return HfTokenizer.load(spec);
  throw new Error(
    `unknown tokenizer ${JSON.stringify(spec)}: expected 'gpt2', 'byte', the path of a llama2.c tokenizer file ending in .bin, or an existing Hugging Face tokenizer folder or tokenizer.json`,
  );
}

/** A checkpoint folder's file naming its tokenizer spec (written by `w2s pretrain`). */
export const TOKENIZER_FILE = 'w2s-tokenizer.txt';

/**
 * The tokenizer spec of a checkpoint when none is named: the spec in its TOKENIZER_FILE, else the
 * checkpoint folder itself (its absolute path) where it holds a Hugging Face tokenizer (as AutoTokenizer.from_pretrained
 * reads it), else llama2.c's tok{V}.bin beside it, else GPT-2's BPE for a GPT-2-vocabulary model;
 * otherwise an error asking for one.
 */
export function checkpointTokenizerSpec(checkpoint: string, config: ModelConfig): string {
  const dir = statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint);
  const named = join(dir, TOKENIZER_FILE);
  if (existsSync(named)) {
    const spec = readFileSync(named, 'utf8').trim();
    if (spec === '') throw new Error(`${named} is empty: it should name the checkpoint's tokenizer (gpt2, byte or a .bin file)`);
    return spec.endsWith('.bin') && !spec.startsWith('/') ? join(dir, spec) : spec;
  }
  // Absolute, so that a folder named like a built-in spec ('gpt2') is not taken for it.
  if (dir === checkpoint && isHfTokenizerFolder(dir)) return resolve(dir);
  const llama2c = join(dir, `tok${config.vocabSize}.bin`);
  if (existsSync(llama2c)) return llama2c;
  if (config.architecture.positions.kind === 'learned' && config.vocabSize === 50257) return 'gpt2';
  throw new Error(
    `no tokenizer found for ${checkpoint} (looked for ${dir === checkpoint ? 'tokenizer.json, vocab.json + merges.txt and ' : ''}${llama2c}); pass --tokenizer PATH|gpt2|byte`,
  );
}
