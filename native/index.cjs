'use strict';
// Loads the addon built by cmake-js (npm ci runs `cmake-js compile`). W2S_NATIVE_ADDON=emulated
// loads instead the addon over the tests' CPU emulation of CUDA (w2s_native_emulated.node, built
// beside it): its CUDA device runs the CUDA kernels' own source on the CPU, so the `--device cuda`
// paths can be tested end to end without a GPU. For tests only: it is slow.
const path = require('node:path');

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
