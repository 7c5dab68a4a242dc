// Content hashes of files and checkpoint folders, for the identities in run configurations and
// pretraining fingerprints. Files are streamed, so large ones are never held in memory.
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** SHA-256 (hex) of a file's bytes. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * SHA-256 (hex) of a checkpoint: a file, or a folder's regular files, each hashed as its name
 * relative to the path ("" for the file itself, "/name" in a folder), a NUL, then its bytes, in
 * name order.
 */
export async function sha256Path(path: string): Promise<string> {
  const folder = statSync(path).isDirectory();
  const names = folder ? readdirSync(path).sort().filter((name) => statSync(join(path, name)).isFile()) : [''];
  const hash = createHash('sha256');
  for (const name of names) {
    hash.update(`${folder ? `/${name}` : ''}\0`);
    for await (const chunk of createReadStream(folder ? join(path, name) : path)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
