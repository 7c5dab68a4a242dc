'use strict';
// Loads the addon built by cmake-js (npm ci runs `cmake-js compile`). W2S_NATIVE_ADDON=emulated
// loads instead the addon over the tests' CPU emulation of CUDA (w2s_native_emulated.node, built
// beside it): its CUDA device runs the CUDA kernels' own source on the CPU, so the `--device cuda`
// paths can be tested end to end without a GPU. For tests only: it is slow.
const path = require('node:path');

// OpenBLAS's worker threads spin (sched_yield in a loop) for about 2^28 cycles after each matrix
// product before they sleep. With as many threads as cores, that spinning takes the cores from the
// kernels' own pool, which runs right after a product (attention, norms, AdamW): on 2 cores a GPT-2
// small step was 10% slower, and the pool's kernels no faster on 2 threads than on 1. OpenBLAS
// reads OPENBLAS_THREAD_TIMEOUT (log2 of the cycles; 4 is its minimum) once, when it is loaded, that
// is when the addon is required below. A value the user set is kept.
if (process.env.OPENBLAS_THREAD_TIMEOUT === undefined) process.env.OPENBLAS_THREAD_TIMEOUT = '4';

const variant = process.env.W2S_NATIVE_ADDON;
if (variant !== undefined && variant !== '' && variant !== 'emulated')
  throw new Error(`@w2s/native: W2S_NATIVE_ADDON must be unset or "emulated", got ${JSON.stringify(variant)}`);
const file = variant === 'emulated' ? 'w2s_native_emulated.node' : 'w2s_native.node';
const candidates = [`build/Release/${file}`, `build/Debug/${file}`];
let addon;
let lastError;
for (const candidate of candidates) {
  try {
    addon = require(path.join(__dirname, candidate));
    break;
  } catch (error) {
    lastError = error;
  }
}
if (!addon) {
  throw new Error(
    `@w2s/native: the addon is not built (looked for ${candidates.join(', ')} in ${__dirname}). ` +
      `Run \`npm ci\` (or \`npm run build -w @w2s/native\`) with a C++17 compiler and CMake >= 3.18 installed. ` +
      `Cause: ${lastError && lastError.message}`,
  );
}
module.exports = addon;
