// Test helpers: a seeded random source (fresh seed per run, printed for replay), float64 references
// of the kernels written independently of the native code, and error measures.
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../src/index.js';
import { mulberry32 } from '@w2s/random';
import { seedFor, testSeed } from '../../../tests/support/seed.js';

/** The run's seed (W2S_TEST_SEED, or fresh and printed): tests/support/seed.ts. */
export const seed = testSeed;
export { seedFor };

/** Uniforms in [0, 1) from @w2s/random's mulberry32, seeded by the run's seed unless told. */
export function rng(s: number = seed): () => number {
  return mulberry32(s);
}

export function uniform(random: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * random();
  return out;
}

/** n random distributions over c classes, row-major. */
export function distributions(random: () => number, n: number, c: number): Float32Array {
  const y = uniform(random, n * c, 0, 1);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += y[i * c + j];
    for (let j = 0; j < c; j++) y[i * c + j] /= s;
  }
  return y;
}

/** max |a - b| / max |b| (b the reference); NaN anywhere gives Infinity. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 0): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = floor;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) return Infinity;
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

export async function useCpuBackend(): Promise<void> {
  tf.env().set('PROD', true); // no "install tfjs-node" banner
  await tf.setBackend('cpu');
}

// ---- float64 attention -------------------------------------------------------------------------

export interface AttentionProblem {
  B: number;
  Tq: number;
  Tk: number;
  H: number;
  Hkv: number;
  D: number;
  causal: boolean;
  scale: number;
  lengths?: Int32Array;
}

function visible(p: AttentionProblem, b: number, i: number, j: number): boolean {
  if (p.lengths && j >= p.lengths[b]) return false;
  return !p.causal || j <= i + p.Tk - p.Tq;
}

function probabilities(p: AttentionProblem, q: ArrayLike<number>, k: ArrayLike<number>, b: number, h: number, i: number) {
  const kh = Math.floor(h / (p.H / p.Hkv));
  const s = new Float64Array(p.Tk).fill(-Infinity);
  let m = -Infinity;
  for (let j = 0; j < p.Tk; j++) {
    if (!visible(p, b, i, j)) continue;
    let dot = 0;
    for (let d = 0; d < p.D; d++) dot += q[((b * p.Tq + i) * p.H + h) * p.D + d] * k[((b * p.Tk + j) * p.Hkv + kh) * p.D + d];
    s[j] = dot * p.scale;
    m = Math.max(m, s[j]);
  }
  let sum = 0;
  for (let j = 0; j < p.Tk; j++) sum += s[j] === -Infinity ? 0 : Math.exp(s[j] - m);
  for (let j = 0; j < p.Tk; j++) s[j] = s[j] === -Infinity ? 0 : Math.exp(s[j] - m) / sum;
  return { probs: s, lse: m + Math.log(sum), kh };
}

export function attentionForward64(p: AttentionProblem, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>) {
  const out = new Float64Array(p.B * p.Tq * p.H * p.D);
  const lse = new Float64Array(p.B * p.H * p.Tq);
  for (let b = 0; b < p.B; b++)
    for (let h = 0; h < p.H; h++)
      for (let i = 0; i < p.Tq; i++) {
        const { probs, lse: l, kh } = probabilities(p, q, k, b, h, i);
        lse[(b * p.H + h) * p.Tq + i] = l;
        for (let j = 0; j < p.Tk; j++)
          for (let d = 0; d < p.D; d++) out[((b * p.Tq + i) * p.H + h) * p.D + d] += probs[j] * v[((b * p.Tk + j) * p.Hkv + kh) * p.D + d];
      }
  return { out, lse };
}

export function attentionBackward64(
  p: AttentionProblem,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dout: ArrayLike<number>,
) {
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < p.B; b++)
    for (let h = 0; h < p.H; h++)
      for (let i = 0; i < p.Tq; i++) {
        const { probs, kh } = probabilities(p, q, k, b, h, i);
        const qi = ((b * p.Tq + i) * p.H + h) * p.D;
        const dp = new Float64Array(p.Tk);
        let delta = 0;
        for (let j = 0; j < p.Tk; j++) {
          const kj = ((b * p.Tk + j) * p.Hkv + kh) * p.D;
          for (let d = 0; d < p.D; d++) dp[j] += dout[qi + d] * v[kj + d];
          delta += probs[j] * dp[j];
        }
        for (let j = 0; j < p.Tk; j++) {
          const kj = ((b * p.Tk + j) * p.Hkv + kh) * p.D;
          const ds = probs[j] * (dp[j] - delta);
          for (let d = 0; d < p.D; d++) {
            dq[qi + d] += p.scale * ds * k[kj + d];
            dk[kj + d] += p.scale * ds * q[qi + d];
            dv[kj + d] += probs[j] * dout[qi + d];
          }
        }
      }
  return { dq, dk, dv };
}

// ---- float64 losses ------------------------------------------------------------------------------

function logSoftmaxRow(z: ArrayLike<number>, row: number, c: number): number[] {
  let top = 0;
  for (let j = 1; j < c; j++) if (z[row * c + j] > z[row * c + top]) top = j;
  let others = 0;
  for (let j = 0; j < c; j++) if (j !== top) others += Math.exp(z[row * c + j] - z[row * c + top]);
  const out: number[] = [];
  for (let j = 0; j < c; j++) out.push(z[row * c + j] - z[row * c + top] - Math.log1p(others));
  return out;
}

/** Mean CE(z, t) and its gradient in z, for a constant target t. */
export function crossEntropy64(z: ArrayLike<number>, t: ArrayLike<number>, c: number) {
  const n = z.length / c;
  const dz = new Float64Array(z.length);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const lp = logSoftmaxRow(z, i, c);
    for (let j = 0; j < c; j++) {
      loss -= t[i * c + j] * lp[j];
      dz[i * c + j] = (Math.exp(lp[j]) - t[i * c + j]) / n;
    }
  }
  return { loss: loss / n, dz };
}

export function quantile64(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

export function logconfTarget64(z: ArrayLike<number>, y: ArrayLike<number>, c: number, alpha: number): Float64Array {
  const n = z.length / c;
  const hard = new Float64Array(z.length);
  if (c === 2) {
    const p0: number[] = [];
    let q = 0;
    for (let i = 0; i < n; i++) {
      p0.push(Math.exp(logSoftmaxRow(z, i, 2)[0]));
      q += y[i * 2 + 1];
    }
    const t = quantile64(p0, q / n);
    for (let i = 0; i < n; i++) hard[i * 2 + (p0[i] >= t ? 0 : 1)] = 1;
  } else {
    for (let i = 0; i < n; i++) {
      let top = 0;
      for (let j = 1; j < c; j++) if (z[i * c + j] > z[i * c + top]) top = j;
      hard[i * c + top] = 1;
    }
  }
  return hard.map((h, i) => (1 - alpha) * y[i] + alpha * h);
}

export function productTarget64(z: ArrayLike<number>, y: ArrayLike<number>, c: number, alpha: number, beta: number): Float64Array {
  // In log space: log t_j = beta log p_j + alpha log y_j (0^0 = 1), so that rows whose p^beta
  // underflows (|logits| ~ 1e4) still normalise.
  const n = z.length / c;
  const t = new Float64Array(z.length);
  for (let i = 0; i < n; i++) {
    const lp = logSoftmaxRow(z, i, c);
    const lt = lp.map((l, j) => beta * l + (alpha === 0 ? 0 : alpha * Math.log(y[i * c + j])));
    const m = Math.max(...lt);
    let s = 0;
    for (let j = 0; j < c; j++) s += (t[i * c + j] = Math.exp(lt[j] - m));
    for (let j = 0; j < c; j++) t[i * c + j] /= s;
  }
  return t;
}
