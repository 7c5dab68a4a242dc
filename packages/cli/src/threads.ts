// The --threads option of the commands that compute: the native kernels' thread count.
import { createRequire } from 'node:module';

const native = createRequire(import.meta.url)('@w2s/native') as typeof import('@w2s/native');

/** Sets the native thread count when the user gave one (default: all cores). */
export function applyThreads(threads: number | undefined): void {
  if (threads !== undefined) native.setNumThreads(threads);
}
