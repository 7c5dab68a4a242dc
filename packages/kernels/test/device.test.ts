// Device tensors and the CUDA kernels through the TypeScript API. Without a usable GPU only the
// refusals run (toDevice says why CUDA is unavailable; host calls refuse GPU-only options); with
// one, every kernel on DeviceTensors is compared with the same kernel on host tensors (the CPU
// kernels, themselves tested against float64 references) on fresh random inputs.
import { describe, expect, test } from 'vitest';
import { attentionForward, backendInfo, cudaAvailable, isDeviceTensor, toDevice, toHost, type DeviceTensor, type Tensor } from '../src/index.js';
import { deviceSuite } from './device-suite.js';

const gpu = cudaAvailable();
if (!gpu) console.log(`device tensor tests on a GPU skipped: no CUDA device (${backendInfo().cudaReason})`);

describe('without a usable GPU', () => {
  test.skipIf(gpu)('toDevice throws an Error that gives the reason', () => {
    expect(() => toDevice(new Float32Array(4))).toThrow(`CUDA is unavailable: ${backendInfo().cudaReason}`);
  });
});

describe('on any machine', () => {
  test('host objects are not device tensors, and none can be constructed directly', async () => {
    expect(isDeviceTensor({ data: new Float32Array(1), shape: [1] })).toBe(false);
    expect(isDeviceTensor(new Float32Array(1))).toBe(false);
    const { DeviceTensor } = (await import('@w2s/native')).default as unknown as { DeviceTensor: new () => unknown };
    expect(() => new DeviceTensor()).toThrow(/cannot be constructed directly: use toDevice/);
  });

  test('toHost refuses what is not a DeviceTensor', () => {
    expect(() => toHost({} as DeviceTensor)).toThrow(TypeError);
    expect(() => toHost({} as DeviceTensor)).toThrow(/deviceTensor must be a DeviceTensor \(from toDevice or a kernel\)/);
  });

  test('host attention refuses the tensor-core precisions and unknown ones', () => {
    const q: Tensor = { data: new Float32Array(32), shape: [1, 2, 1, 16] };
    expect(() => attentionForward(q, q, q, { precision: 'bf16' })).toThrow(/opts\.precision "bf16" needs DeviceTensors/);
    expect(() => attentionForward(q, q, q, { precision: 'fp8' as 'bf16' })).toThrow(/must be "float32", "tf32" or "bf16"/);
    expect(attentionForward(q, q, q, { precision: 'float32' }).out.data.length).toBe(32);
  });
});

describe.skipIf(!gpu)('on the GPU', deviceSuite);
