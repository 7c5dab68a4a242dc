// File access for the checkpoint readers and writers: every failure becomes a CheckpointError
// naming the file, and every write is atomic (write-file-atomic: temp file, fsync, rename).
import { readFile } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { CheckpointError } from './errors.js';

export async function readBytes(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new CheckpointError(file, `cannot read file: ${(err as Error).message}`);
  }
}

export async function readJson(file: string): Promise<unknown> {
  const text = (await readBytes(file)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(file, `not valid JSON: ${(err as Error).message}`);
  }
}

export async function writeAtomic(file: string, data: string | Buffer): Promise<void> {
  try {
    await writeFileAtomic(file, data);
  } catch (err) {
    throw new CheckpointError(file, `cannot write file: ${(err as Error).message}`);
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
