// The TypeScript API on device tensors, against the same calls on host tensors (the CPU kernels,
// themselves tested against float64 references), on fresh random inputs. Shared by device.test.ts
// (a real GPU) and device-api-emulated.test.ts (the addon over the tests' CPU emulation of CUDA).
import { expect, test } from 'vitest';
import {
  attentionBackward,
  attentionForward,
  logconfLoss,
  isDeviceTensor,
  productLoss,
  xentLoss,
  splitFusedQkv,
  toDevice,
  toHost,
  type DeviceTensor,
  type Tensor,
} from '../src/index.js';
import { distributions, relativeError, rng, uniform } from './helpers.js';

export function deviceSuite(): void {
  const random = rng();
  const tensor = (shape: number[], lo = -1, hi = 1): Tensor => ({ data: uniform(random, shape.reduce((a, b) => a * b, 1), lo, hi), shape });
  const tolerance = { float32: 1e-4, tf32: 3e-3, bf16: 2e-2 } as const;

  test('toDevice and toHost round-trip contiguous tensors, bare arrays and strided views', () => {
    const t = tensor([2, 3, 4]);
    const d = toDevice(t);
    expect(d.shape).toEqual([2, 3, 4]);
    expect(d.size).toBe(24);
    expect(Array.from(toHost(d).data)).toEqual(Array.from(t.data));
    const flat = toDevice(t.data);
    expect(flat.shape).toEqual([24]);
    const view: Tensor = { data: t.data, shape: [2, 2], strides: [12, 1], offset: 5 };
    const back = toHost(toDevice(view));
    expect(back.strides).toEqual([12, 1]);
    expect([back.data[0], back.data[1], back.data[12], back.data[13]]).toEqual([t.data[5], t.data[6], t.data[17], t.data[18]]);
    d.dispose();
    expect(d.disposed).toBe(true);
    expect(() => toHost(d)).toThrow(/was disposed/);
    expect(() => d.view([1])).toThrow(/was disposed/);
    expect(() => flat.view([25])).toThrow(/reaches element 24 but the allocation has 24/);
  });

  test.each(['float32', 'tf32', 'bf16'] as const)('attention forward and backward (%s) match the CPU kernels', (precision) => {
    for (const [B, Tq, Tk, H, Hkv, D, causal, padded] of [
      [2, 33, 97, 4, 2, 64, true, false],
      [3, 130, 130, 2, 2, 16, true, true],
      [1, 70, 70, 4, 1, 128, false, true],
    ] as const) {
      const q = tensor([B, Tq, H, D], -2, 2), k = tensor([B, Tk, Hkv, D], -2, 2), v = tensor([B, Tk, Hkv, D]);
      const dOut = tensor([B, Tq, H, D]);
      const kvLengths = padded ? Int32Array.from({ length: B }, (_, b) => (b === 0 ? Tk : 1 + Math.floor(random() * Tk))) : undefined;
      const host = attentionForward(q, k, v, { causal, kvLengths });
      const hostGrads = attentionBackward(dOut, q, k, v, host.out, host.lse, { causal, kvLengths });
      const [qd, kd, vd, dd] = [q, k, v, dOut].map(toDevice);
      const dev = attentionForward(qd, kd, vd, { causal, kvLengths, precision });
      const grads = attentionBackward(dd, qd, kd, vd, dev.out, dev.lse, { causal, kvLengths, precision });
      expect(isDeviceTensor(dev.out) && isDeviceTensor(grads.dq)).toBe(true);
      const pairs: [string, DeviceTensor, Tensor][] = [
        ['out', dev.out, host.out],
        ['lse', dev.lse, host.lse],
        ['dq', grads.dq, hostGrads.dq],
        ['dk', grads.dk, hostGrads.dk],
        ['dv', grads.dv, hostGrads.dv],
      ];
      for (const [name, got, want] of pairs)
        expect(relativeError(toHost(got).data, want.data), `${precision} ${name} B=${B} Tq=${Tq} D=${D}`).toBeLessThanOrEqual(tolerance[precision]);
      for (const t of [qd, kd, vd, dd, dev.out, dev.lse, grads.dq, grads.dk, grads.dv]) t.dispose();
    }
  });

  test('attention reads q, k, v as views of one fused device buffer', () => {
    const [B, T, H, D] = [2, 40, 2, 32];
    const qkv = uniform(random, B * T * 3 * H * D);
    const host = splitFusedQkv(qkv, { batch: B, length: T, heads: H, headDim: D });
    const dev = splitFusedQkv(toDevice(qkv), { batch: B, length: T, heads: H, headDim: D });
    const want = attentionForward(host.q, host.k, host.v, { causal: true }).out;
    const got = attentionForward(dev.q, dev.k, dev.v, { causal: true }).out;
    expect(relativeError(toHost(got).data, want.data)).toBeLessThanOrEqual(1e-4);
  });

  test('the losses match the CPU kernels, and dLogits can be reused', () => {
    for (const [n, c] of [[1000, 2], [70001, 2], [333, 7]] as const) {
      const z = uniform(random, n * c, -5, 5), y = distributions(random, n, c);
      const [zd, yd] = [toDevice(z), toDevice(y)];
      const calls: [string, () => { loss: number; dLogits: Float32Array }, () => { loss: number; dLogits: DeviceTensor }][] = [
        ['xent', () => xentLoss(z, y, c), () => xentLoss(zd, yd, c)],
        ['logconf', () => logconfLoss(z, y, c, { alpha: 0.5 }), () => logconfLoss(zd, yd, c, { alpha: 0.5 })],
        ['product', () => productLoss(z, y, c, { alpha: 1, beta: 1 }), () => productLoss(zd, yd, c, { alpha: 1, beta: 1 })],
      ];
      for (const [name, host, device] of calls) {
        const want = host(), got = device();
        expect(Math.abs(got.loss - want.loss) / Math.abs(want.loss), `${name} N=${n}`).toBeLessThanOrEqual(1e-4);
        expect(got.dLogits.shape).toEqual([n, c]);
        expect(relativeError(toHost(got.dLogits).data, want.dLogits, 1e-2 / n), `${name} N=${n} dz`).toBeLessThanOrEqual(1e-4);
        got.dLogits.dispose();
      }
      const reused = toDevice(new Float32Array(n * c));
      expect(xentLoss(zd, yd, c, { dLogits: reused }).dLogits).toBe(reused);
      expect(relativeError(toHost(reused).data, xentLoss(z, y, c).dLogits, 1e-2 / n)).toBeLessThanOrEqual(1e-4);
      expect(() => xentLoss(zd, yd, c, { dLogits: zd })).toThrow(/must not overlap logits/);
      for (const t of [zd, yd, reused]) t.dispose();
    }
  });

  test('mixing host and device tensors, and bad device inputs, throw errors naming the argument', () => {
    const q = tensor([1, 8, 2, 16]);
    const qd = toDevice(q);
    expect(() => attentionForward(qd, q as unknown as DeviceTensor, qd)).toThrow(/k must be a DeviceTensor like q/);
    expect(() => attentionForward(q, qd as unknown as Tensor, q)).toThrow(/k is a DeviceTensor but q is a host tensor/);
    const z = toDevice(Float32Array.from([0, Number.NaN, 1, 2]));
    const y = toDevice(Float32Array.from([0.5, 0.5, 1, 0]));
    expect(() => xentLoss(z, y, 2)).toThrow(/logits\[0, 1\] is NaN/);
    expect(() => logconfLoss(z, y, 2, { alpha: 2 })).toThrow(/opts\.alpha must be a finite number in \[0, 1\]/);
    for (const t of [qd, z, y]) t.dispose();
  });
}
