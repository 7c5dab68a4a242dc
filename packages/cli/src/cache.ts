// Where the commands keep what they can make again: pretrained demo models, a worker's store.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** $W2S_CACHE_DIR, else $XDG_CACHE_HOME/w2s, else ~/.cache/w2s. */
export function cacheDir(): string {
  if (process.env.W2S_CACHE_DIR) return resolve(process.env.W2S_CACHE_DIR);
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'w2s');
}
