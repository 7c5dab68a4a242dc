// The TypeScript device API on every machine: device-suite.ts with @w2s/kernels bound to the addon
// built over the tests' CPU emulation of CUDA (native/tests/emulation), which behaves as a GPU build
// with a device present. It exercises the overloads, the dispatch between host and device
// tensors, splitFusedQkv's device views and the lse checks of attention.ts (not the GPU itself).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, vi } from 'vitest';
import { deviceSuite } from './device-suite.js';

vi.mock('../src/native.js', () => {
  const addon = fileURLToPath(new URL('../../../native/build/Release/w2s_native_emulated.node', import.meta.url));
  return { native: createRequire(import.meta.url)(addon) };
});

describe('on the CPU emulation of CUDA', deviceSuite);
