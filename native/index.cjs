'use strict';
// Loads the addon built by cmake-js (npm ci runs `cmake-js compile`).
const path = require('node:path');

const candidates = ['build/Release/w2s_native.node', 'build/Debug/w2s_native.node'];
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
