// The device-tensor binding on every machine: native/scripts/device-check.cjs (the check the GPU
// machine runs) on the addon built over the tests' CPU emulation of CUDA (native/tests/emulation),
// with a small memory check: 48 gradients of 256 KiB on an emulated device of 8 MiB, so that
// memory that dispose() or the finalizer failed to give back would run it out. It drives toDevice/toHost, views of one allocation, dispose and the
// finalizer, every kernel on DeviceTensors against the same kernel on host tensors, reused
// gradients, and the errors for mixed or bad arguments: the binding and the kernels' own source,
// not the GPU (device.test.ts runs the TypeScript API on a real one).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { testSeed } from '../../../tests/support/seed.js';

const native = fileURLToPath(new URL('../../../native/', import.meta.url));
const addon = `${native}build/Release/w2s_native_emulated.node`;

describe('device tensors on the CPU emulation of CUDA', () => {
  test('device-check.cjs passes on the emulated addon', () => {
    expect(existsSync(addon), `${addon} is built with the addon (npm run build -w @w2s/native)`).toBe(true);
    const result = spawnSync(process.execPath, ['--expose-gc', `${native}scripts/device-check.cjs`], {
      encoding: 'utf8',
      env: {
        ...process.env,
        W2S_TEST_SEED: String(testSeed), // the check's random inputs: this run's printed seed
        W2S_ADDON: addon,
        W2S_EMULATED_DEVICE_MIB: '8',
        W2S_DEVICE_CHECK_TENSORS: '48',
        W2S_DEVICE_CHECK_TENSOR_MIB: '0.25',
        W2S_DEVICE_CHECK_LARGE: '0',
      },
      timeout: 240_000,
    });
    const output = `${result.stdout}${result.stderr}`;
    // The child states the seed it used; every failure below names it (replay: W2S_TEST_SEED=...).
    const seedLine = output.split('\n').find((line) => /^seed \d+/.test(line)) ?? 'no seed line';
    console.log(`device-check.cjs: ${seedLine}`);
    expect(seedLine, 'device-check.cjs uses the seed it is given').toBe(`seed ${testSeed} (replay with W2S_TEST_SEED)`);
    expect(output, seedLine).toContain('CUDA device: CPU emulation of a CUDA device (tests only)');
    expect(output.split('\n').filter((line) => line.startsWith('FAIL')), seedLine).toEqual([]);
    expect(output, seedLine).toContain('device tensors: all checks passed');
    expect(result.status, seedLine).toBe(0);
  }, 300_000);
});
