// tfjs ops that run the native kernels on tfjs's `cpu` backend, with their gradients registered,
// so tfjs models can use the fused kernels and still train with tfjs autodiff. Registered on first
// use: kernels W2sAttention (outputs out, lse), W2sAttentionGrad, W2sXentLoss,
// W2sLogconfLoss and W2sProductLoss (outputs loss, dLogits).
import { attentionBackward, attentionForward, type AttentionOptions } from '../attention.js';
import { logconfLoss, productLoss, xentLoss, type LossResult } from '../losses.js';
import { tf } from './tf.js';

// The part of tfjs-backend-cpu's MathBackendCPU these kernels use.
interface CpuBackend {
  readSync(dataId: tf.DataId): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

const ATTENTION = 'W2sAttention';
const ATTENTION_GRAD = 'W2sAttentionGrad';
const LOSSES = { xent: 'W2sXentLoss', logconf: 'W2sLogconfLoss', product: 'W2sProductLoss' } as const;

function float32(backend: CpuBackend, info: tf.TensorInfo | undefined, name: string): Float32Array {
  if (info === undefined) throw new TypeError(`${name} is missing`);
  const values = backend.readSync(info.dataId);
  if (!(values instanceof Float32Array)) throw new TypeError(`${name} must be a float32 tensor, got dtype ${info.dtype}`);
  return values;
}

function attentionOptions(attrs: tf.NamedAttrMap | undefined): AttentionOptions {
  const opts: AttentionOptions = { causal: Boolean(attrs?.causal) };
  if (typeof attrs?.scale === 'number') opts.scale = attrs.scale;
  if (Array.isArray(attrs?.kvLengths)) opts.kvLengths = Int32Array.from(attrs.kvLengths as number[]);
  return opts;
}

let registered = false;

/** Registers the native kernels and their gradients with tfjs (idempotent; the ops call it). */
export function registerNativeKernels(): void {
  if (registered) return;
  registered = true;
  const tensorOf = (backend: CpuBackend, info: tf.TensorInfo | undefined, name: string) => ({
    data: float32(backend, info, name),
    shape: [...(info?.shape ?? [])],
  });

  tf.registerKernel({
    kernelName: ATTENTION,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }: KernelArgs) => {
      const cpu = backend as CpuBackend;
      const { out, lse } = attentionForward(
        tensorOf(cpu, inputs.q, 'q'),
        tensorOf(cpu, inputs.k, 'k'),
        tensorOf(cpu, inputs.v, 'v'),
        attentionOptions(attrs),
      );
      return [cpu.makeTensorInfo(out.shape, 'float32', out.data), cpu.makeTensorInfo(lse.shape, 'float32', lse.data)];
    },
  });
  tf.registerKernel({
    kernelName: ATTENTION_GRAD,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }: KernelArgs) => {
      const cpu = backend as CpuBackend;
      const q = tensorOf(cpu, inputs.q, 'q');
      const { dq, dk, dv } = attentionBackward(
        tensorOf(cpu, inputs.dOut, 'dOut'),
        q,
        tensorOf(cpu, inputs.k, 'k'),
        tensorOf(cpu, inputs.v, 'v'),
        tensorOf(cpu, inputs.out, 'out'),
        tensorOf(cpu, inputs.lse, 'lse'),
        attentionOptions(attrs),
      );
      return [dq, dk, dv].map((g) => cpu.makeTensorInfo(g.shape, 'float32', g.data));
    },
  });
  tf.registerGradient({
    kernelName: ATTENTION,
    inputsToSave: ['q', 'k', 'v'],
    outputsToSave: [true, true],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
      const [q, k, v, out, lse] = saved;
      const dOut = Array.isArray(dy) ? dy[0] : dy; // lse is an auxiliary output: no gradient flows into it
      const [dq, dk, dv] = tf.engine().runKernel(ATTENTION_GRAD, { dOut, q, k, v, out, lse }, attrs) as tf.Tensor[];
      return { q: () => dq, k: () => dk, v: () => dv };
    },
  });

  const registerLoss = (kernelName: string, run: (z: Float32Array, y: Float32Array, c: number, attrs: tf.NamedAttrMap) => LossResult) => {
    tf.registerKernel({
      kernelName,
      backendName: 'cpu',
      kernelFunc: ({ inputs, backend, attrs }: KernelArgs) => {
        const cpu = backend as CpuBackend;
        const { logits, targets } = inputs;
        if (logits === undefined || logits.shape.length !== 2) throw new RangeError(`logits must be 2-D [N, C], got shape [${logits?.shape}]`);
        if (targets === undefined || targets.shape.join() !== logits.shape.join())
          throw new RangeError(`targets must have the shape of logits [${logits.shape}], got [${targets?.shape}]`);
        const { loss, dLogits } = run(float32(cpu, logits, 'logits'), float32(cpu, targets, 'targets'), logits.shape[1], attrs ?? {});
        return [cpu.makeTensorInfo([], 'float32', Float32Array.of(loss)), cpu.makeTensorInfo([...logits.shape], 'float32', dLogits)];
      },
    });
    tf.registerGradient({
      kernelName,
      inputsToSave: kernelName === LOSSES.xent ? ['logits'] : [],
      outputsToSave: [false, true],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const dLoss = Array.isArray(dy) ? dy[0] : dy;
        const dLogits = saved[saved.length - 1];
        const grads: Record<string, () => tf.Tensor> = { logits: () => tf.mul(dLoss, dLogits) };
        // d(mean xent)/d targets = -log softmax(z) / N; the weak-label losses treat targets as constants.
        if (kernelName === LOSSES.xent)
          grads.targets = () => tf.mul(dLoss, tf.div(tf.neg(tf.logSoftmax(saved[0] as tf.Tensor2D)), saved[0].shape[0]));
        return grads;
      },
    });
  };
  registerLoss(LOSSES.xent, (z, y, c) => xentLoss(z, y, c));
  registerLoss(LOSSES.logconf, (z, y, c, attrs) => logconfLoss(z, y, c, { alpha: attrs.alpha as number }));
  registerLoss(LOSSES.product, (z, y, c, attrs) => productLoss(z, y, c, { alpha: attrs.alpha as number, beta: attrs.beta as number }));
}

function requireCpuBackend(op: string): void {
  if (tf.getBackend() !== 'cpu')
    throw new Error(`${op} runs the native kernel on tfjs's "cpu" backend; the active backend is "${tf.getBackend()}" (call tf.setBackend('cpu'))`);
}

export interface AttentionOpOptions {
  causal?: boolean;
  scale?: number;
  kvLengths?: Int32Array | number[];
}

/** Fused attention as a tfjs op: q [B, Tq, H, D], k, v [B, Tk, Hkv, D] -> out [B, Tq, H, D], lse [B, H, Tq]. */
export function attentionOp(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, opts: AttentionOpOptions = {}): { out: tf.Tensor4D; lse: tf.Tensor3D } {
  registerNativeKernels();
  requireCpuBackend('attentionOp');
  const attrs: tf.NamedAttrMap = { causal: Boolean(opts.causal) };
  if (opts.scale !== undefined) attrs.scale = opts.scale;
  if (opts.kvLengths !== undefined) attrs.kvLengths = Array.from(opts.kvLengths);
  const [out, lse] = tf.engine().runKernel(ATTENTION, { q, k, v }, attrs) as tf.Tensor[];
  return { out: out as tf.Tensor4D, lse: lse as tf.Tensor3D };
}

function lossOp(kernelName: string, logits: tf.Tensor2D, targets: tf.Tensor2D, attrs: tf.NamedAttrMap): tf.Scalar {
  registerNativeKernels();
  requireCpuBackend(kernelName);
  const [loss] = tf.engine().runKernel(kernelName, { logits, targets }, attrs) as tf.Tensor[];
  return loss as tf.Scalar;
}

/** Native soft-label cross-entropy as a tfjs op (mean over rows); differentiable in logits and targets. */
export function xentLossOp(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return lossOp(LOSSES.xent, logits, targets, {});
}

/** Native auxiliary confidence loss as a tfjs op; differentiable in logits (weak targets are constants). */
export function logconfLossOp(logits: tf.Tensor2D, weakTargets: tf.Tensor2D, opts: { alpha: number }): tf.Scalar {
  return lossOp(LOSSES.logconf, logits, weakTargets, { alpha: opts.alpha });
}

/** Native product loss as a tfjs op; differentiable in logits (weak targets are constants). */
export function productLossOp(logits: tf.Tensor2D, weakTargets: tf.Tensor2D, opts: { alpha: number; beta: number }): tf.Scalar {
  return lossOp(LOSSES.product, logits, weakTargets, { alpha: opts.alpha, beta: opts.beta });
}
