'use strict';
// The addon's device tensors on a GPU, from plain Node.js (no node_modules there): run by
// gpu-check.sh with the addon built on that machine (W2S_ADDON). Every kernel on DeviceTensors is
// compared with the same kernel on host tensors (the CPU kernels) on fresh random inputs; views of
// a fused QKV allocation, reused gradients, dispose and the finalizer, and the errors for mixed or
// bad arguments are checked. Prints one line per check and exits 1 on any failure.
// The vitest suite also runs it on the addon built over the tests' CPU emulation of CUDA, with
// W2S_DEVICE_CHECK_TENSORS / W2S_DEVICE_CHECK_TENSOR_MIB shrinking the memory check (see
// memoryIsFreed) and W2S_DEVICE_CHECK_LARGE=0 skipping the one large loss batch.
const addon = require(process.env.W2S_ADDON);

let failures = 0;
function check(ok, message) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures++;
}
function throws(fn, pattern, message) {
  try {
    fn();
  } catch (error) {
    return check(pattern.test(error.message), `${message}: ${error.message}`);
  }
  return check(false, `${message}: no error`);
}

const seed = Number(process.env.W2S_TEST_SEED || (Math.random() * 2 ** 32) >>> 0);
console.log(`seed ${seed} (replay with W2S_TEST_SEED)`);
let state = seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const uniform = (n, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
const tensor = (shape, lo, hi) => ({ data: uniform(shape.reduce((a, b) => a * b, 1), lo, hi), shape });
function relativeError(a, b, floor = 0) {
  let num = 0;
  let den = floor;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) return Infinity;
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

const info = addon.backendInfo();
if (!info.cudaAvailable) {
  console.log(`no CUDA device: ${info.cudaReason}`);
  process.exit(1);
}
console.log(`CUDA device: ${info.cudaDevice}`);

// Round trips.
const t = tensor([2, 3, 4]);
const d = addon.toDevice(t);
check(JSON.stringify(d.shape) === '[2,3,4]' && d.size === 24, 'toDevice keeps the shape');
check(addon.toHost(d).data.every((x, i) => x === t.data[i]), 'toHost returns the data');
const strided = addon.toHost(addon.toDevice({ data: t.data, shape: [2, 2], strides: [12, 1], offset: 5 }));
check(strided.data[0] === t.data[5] && strided.data[13] === t.data[18], 'a strided view round-trips its span');
d.dispose();
check(d.disposed, 'dispose marks the tensor disposed');
throws(() => addon.toHost(d), /was disposed/, 'a disposed tensor is refused');

// Attention, every precision, against the CPU kernels.
const tolerance = { float32: 1e-4, tf32: 3e-3, bf16: 2e-2 };
// The presets of packages/model/src/config.ts ARCHITECTURES (config.architecture of an Engine).
const GPT2 = { norm: 'layerNorm', mlp: 'geluTanh', positions: { kind: 'learned' }, biases: { qkv: true, attnOut: true, mlp: true }, parallelResidual: false, tiedEmbeddings: true };
const LLAMA = {
  norm: 'rmsNorm', mlp: 'swiglu', positions: { kind: 'rope', theta: 10000, rotaryFraction: 1, scaling: null },
  biases: { qkv: false, attnOut: false, mlp: false }, parallelResidual: false, tiedEmbeddings: false,
};
for (const precision of ['float32', 'tf32', 'bf16'])
  for (const [B, Tq, Tk, H, Hkv, D, causal, padded] of [
    [2, 33, 97, 4, 2, 64, true, false],
    [3, 130, 130, 2, 2, 16, true, true],
    [1, 70, 70, 4, 1, 128, false, true],
    [1, 64, 64, 2, 2, 256, true, false],
  ]) {
    const q = tensor([B, Tq, H, D], -2, 2), k = tensor([B, Tk, Hkv, D], -2, 2), v = tensor([B, Tk, Hkv, D]);
    const dOut = tensor([B, Tq, H, D]);
    const kvLengths = padded ? Int32Array.from({ length: B }, (_, b) => (b === 0 ? Tk : 1 + Math.floor(random() * Tk))) : undefined;
    const host = addon.attentionForward(q, k, v, { causal, kvLengths });
    const lseTensor = { data: host.lse, shape: [B, H, Tq] };
    const hostGrads = addon.attentionBackward(dOut, q, k, v, { data: host.out, shape: q.shape }, host.lse, { causal, kvLengths });
    const [qd, kd, vd, dd] = [q, k, v, dOut].map((x) => addon.toDevice(x));
    const dev = addon.attentionForward(qd, kd, vd, { causal, kvLengths, precision });
    const grads = addon.attentionBackward(dd, qd, kd, vd, dev.out, dev.lse, { causal, kvLengths, precision });
    const errors = [
      ['out', dev.out, host.out],
      ['lse', dev.lse, lseTensor.data],
      ['dq', grads.dq, hostGrads.dq],
      ['dk', grads.dk, hostGrads.dk],
      ['dv', grads.dv, hostGrads.dv],
    ].map(([name, got, want]) => [name, relativeError(addon.toHost(got).data, want)]);
    const worst = Math.max(...errors.map(([, e]) => e));
    check(worst <= tolerance[precision],
      `attention ${precision} B=${B} Tq=${Tq} Tk=${Tk} H=${H} Hkv=${Hkv} D=${D} causal=${causal} padded=${padded}: ` +
        errors.map(([n, e]) => `${n} ${e.toExponential(1)}`).join(' '));
    for (const x of [qd, kd, vd, dd, dev.out, dev.lse, grads.dq, grads.dk, grads.dv]) x.dispose();
  }

// q, k, v as views of one fused [B, T, 3, H, D] allocation.
{
  const [B, T, H, D] = [2, 40, 2, 32];
  const qkv = uniform(B * T * 3 * H * D);
  const strides = [T * 3 * H * D, 3 * H * D, D, 1];
  const hostView = (p) => ({ data: qkv, shape: [B, T, H, D], strides, offset: p * H * D });
  const want = addon.attentionForward(hostView(0), hostView(1), hostView(2), { causal: true }).out;
  const fused = addon.toDevice(qkv);
  const [qd, kd, vd] = [0, 1, 2].map((p) => fused.view([B, T, H, D], strides, p * H * D));
  fused.dispose();  // the views keep the allocation alive
  const got = addon.attentionForward(qd, kd, vd, { causal: true }).out;
  check(relativeError(addon.toHost(got).data, want) <= 1e-4, 'attention on views of a fused QKV allocation (after disposing the parent)');
}

// The losses against the CPU kernels.
const large = process.env.W2S_DEVICE_CHECK_LARGE !== '0';
for (const [n, c] of [[1000, 2], [70001, 2], ...(large ? [[16777216 / 16, 2]] : []), [333, 7]]) {
  const z = uniform(n * c, -5, 5);
  const y = uniform(n * c, 0, 1);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += y[i * c + j];
    for (let j = 0; j < c; j++) y[i * c + j] /= s;
  }
  const zd = addon.toDevice(z), yd = addon.toDevice(y);
  for (const [name, run] of [
    ['xent', (a, b) => addon.xentLoss(a, b, c)],
    ['logconf', (a, b) => addon.logconfLoss(a, b, c, { alpha: 0.5 })],
    ['product', (a, b) => addon.productLoss(a, b, c, { alpha: 1, beta: 1 })],
  ]) {
    const want = run(z, y), got = run(zd, yd);
    const eLoss = Math.abs(got.loss - want.loss) / Math.abs(want.loss);
    const eDz = relativeError(addon.toHost(got.dLogits).data, want.dLogits, 1e-2 / n);
    check(eLoss <= 1e-4 && eDz <= 1e-4, `${name} N=${n} C=${c}: loss ${eLoss.toExponential(1)} dz ${eDz.toExponential(1)}`);
    got.dLogits.dispose();
  }
  const reused = addon.toDevice(new Float32Array(n * c));
  check(addon.xentLoss(zd, yd, c, { dLogits: reused }).dLogits === reused, `dLogits reused N=${n}`);
  const reusedError = relativeError(addon.toHost(reused).data, addon.xentLoss(z, y, c).dLogits, 1e-2 / n);
  check(reusedError <= 1e-4, `the reused dLogits hold the gradient N=${n}: ${reusedError.toExponential(1)}`);
  throws(() => addon.xentLoss(zd, yd, c, { dLogits: zd }), /must not overlap logits/, 'dLogits overlapping logits');
  for (const x of [zd, yd, reused]) x.dispose();
}

// Hostile callers: a spoofed instanceof, and getters that dispose a tensor while a call reads its
// options (the call holds its tensors' memory until it returns).
{
  const cfg = { architecture: GPT2, vocabSize: 16, contextLength: 8, dModel: 16, nLayers: 1, nHeads: 1, nKvHeads: 1, dFf: 32,
    normEps: 1e-5, head: { kind: 'lm' } };
  const engine = new addon.Engine(cfg);
  const spoof = Object.getOwnPropertyDescriptor(addon.DeviceTensor, Symbol.hasInstance);
  Object.defineProperty(addon.DeviceTensor, Symbol.hasInstance, { value: () => true, configurable: true });
  throws(() => addon.toHost(engine), /deviceTensor must be a DeviceTensor/, 'an Engine passed off as a DeviceTensor');
  throws(() => addon.toHost(Object.create(addon.DeviceTensor.prototype)), /deviceTensor must be a DeviceTensor/, 'an object of its prototype');
  if (spoof) Object.defineProperty(addon.DeviceTensor, Symbol.hasInstance, spoof);
  else delete addon.DeviceTensor[Symbol.hasInstance];
  engine.dispose();
  const z = addon.toDevice(uniform(8)), y = addon.toDevice(Float32Array.from([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]));
  const want = addon.xentLoss(addon.toHost(z).data, addon.toHost(y).data, 2).loss;
  const got = addon.xentLoss(z, y, 2, { get dLogits() { z.dispose(); return undefined; } });
  check(Math.abs(got.loss - want) <= 1e-6 * Math.abs(want), 'a getter disposing logits during the call: the call still reads them');
  const q = addon.toDevice(tensor([1, 8, 2, 16]));
  const out = addon.attentionForward(q, q, q, { get causal() { q.dispose(); for (let i = 0; i < 4; i++) addon.toDevice(uniform(256)); return true; } });
  check(addon.toHost(out.out).data.every(Number.isFinite), 'a getter disposing q during attention');
  y.dispose();
}

// Errors.
{
  const q = tensor([1, 8, 2, 16]);
  const qd = addon.toDevice(q);
  throws(() => addon.attentionForward(qd, q, qd), /k must be a DeviceTensor like q/, 'a host k with a device q');
  throws(() => addon.attentionForward(q, qd, q), /k is a DeviceTensor but q is a host tensor/, 'a device k with a host q');
  const z = addon.toDevice(Float32Array.from([0, NaN, 1, 2]));
  const y = addon.toDevice(Float32Array.from([0.5, 0.5, 1, 0]));
  throws(() => addon.xentLoss(z, y, 2), /logits\[0, 1\] is NaN/, 'NaN logits on the device');
  for (const x of [qd, z, y]) x.dispose();
}

// The engine with device 'cuda' against the engine on the CPU: the same seed, the same batches,
// three training steps (AdamW eps 1e-2 so that updates stay proportional to the gradients), with
// llama's features and GPT-NeoX's (exact GELU, partial rotary, parallel residual).
async function engineMatches() {
  const base = { vocabSize: 50, contextLength: 16, dModel: 48, nLayers: 2, nHeads: 4, nKvHeads: 2, dFf: 96, normEps: 1e-5, head: { kind: 'classifier', numClasses: 2 } };
  const neox = { ...GPT2, mlp: 'geluExact', positions: { kind: 'rope', theta: 10000, rotaryFraction: 0.5, scaling: null }, parallelResidual: true, tiedEmbeddings: false };
  for (const config of [{ ...base, architecture: LLAMA }, { ...base, architecture: neox, nKvHeads: 4 }])
  for (const precision of ['float32', 'bf16']) {
    const cpu = new addon.Engine(config, { seed: 7 });
    const gpu = new addon.Engine(config, { seed: 7, device: 'cuda', precision });
    check(/^cuda \(/.test(gpu.deviceName()), `engine on ${gpu.deviceName()}`);
    const batch = 4, seqLen = 12;
    const minibatch = () => {
      const tokens = Int32Array.from({ length: batch * seqLen }, () => Math.floor(random() * 50));
      const lengths = Int32Array.from({ length: batch }, (_, b) => (b === 0 ? seqLen : 1 + Math.floor(random() * seqLen)));
      const softTargets = Float32Array.from({ length: batch * 2 }, (_, i) => (i % 2 === 0 ? 0.3 : 0.7));
      return { tokens, lengths, batch, seqLen, loss: 'xent', softTargets };
    };
    const optimizer = { lr: 1e-3, eps: 1e-2, weightDecay: 0.01, maxGradNorm: 1 };
    let lossError = 0;
    for (let step = 0; step < 3; step++) {
      const mb = [minibatch()];
      const [a, b] = [await cpu.trainStep(mb, optimizer), await gpu.trainStep(mb, optimizer)];
      lossError = Math.max(lossError, Math.abs(a.loss - b.loss) / Math.abs(a.loss));
    }
    let worst = 0;
    // Floor 1e-2 (half the initial weights' std), as test_cuda_engine.cpp: a zero-initialised bias
    // is three small updates after 3 steps, and would be judged by their rounding alone.
    for (const p of cpu.parameters()) worst = Math.max(worst, relativeError(gpu.readParameter(p.name), cpu.readParameter(p.name), 1e-2));
    const tol = tolerance[precision];
    check(lossError <= tol && worst <= tol, `engine ${config.architecture.mlp} ${precision}: losses ${lossError.toExponential(1)}, parameters after 3 steps ${worst.toExponential(1)}`);
    cpu.dispose();
    gpu.dispose();
  }
  throws(() => new addon.Engine({ ...base, architecture: LLAMA }, { device: 'gpu' }), /opts\.device must be "cpu" or "cuda"/, 'an unknown engine device');
}

// Memory is given back: the gradients of a loss on a large batch, each a new allocation of
// W2S_DEVICE_CHECK_TENSOR_MIB, W2S_DEVICE_CHECK_TENSORS times over (default 320 x 512 MiB, more
// than a GPU holds), once disposed and once dropped for the garbage collector's finalizer (run
// with --expose-gc). Only the batch is uploaded, once: the loop runs at the device's speed.
async function memoryIsFreed() {
  const mib = Number(process.env.W2S_DEVICE_CHECK_TENSOR_MIB || 512);
  const count = Number(process.env.W2S_DEVICE_CHECK_TENSORS || 320);
  const rows = (mib * 1024 * 1024) / 8;
  const z = addon.toDevice(new Float32Array(rows * 2));
  const y = addon.toDevice(Float32Array.from({ length: rows * 2 }, (_, i) => (i % 2 === 0 ? 1 : 0)));
  for (const [how, drop] of [
    ['dispose', async (x) => x.dispose()],
    ['the finalizer', async (_x, i) => {
      if (i % 2 === 1) {
        global.gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
    }],
  ]) {
    try {
      for (let i = 0; i < count; i++) await drop(addon.xentLoss(z, y, 2).dLogits, i);
      check(true, `${count} x ${mib} MiB allocated and freed by ${how}`);
    } catch (error) {
      check(false, `${count} x ${mib} MiB freed by ${how}: ${error.message}`);
    }
  }
  z.dispose();
  y.dispose();
}

engineMatches().then(memoryIsFreed).then(() => {
  console.log(failures === 0 ? 'device tensors: all checks passed' : `device tensors: ${failures} check(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
});
