// llama2.c checkpoints (karpathy/llama2.c, run.c's legacy format), little-endian:
//   header   7 int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
//            vocab_size < 0 means a separate classifier (wcls) at the end, else it is shared with
//            the token embedding
//   float32  token_embedding_table [V, d], rms_att_weight [L, d], wq [L, d, d],
//            wk [L, kv_dim, d], wv [L, kv_dim, d], wo [L, d, d], rms_ffn_weight [L, d],
//            w1 [L, hidden, d] (gate), w2 [L, d, hidden] (down), w3 [L, hidden, d] (up),
//            rms_final_weight [d], freq_cis_real [seq_len, hs/2], freq_cis_imag [seq_len, hs/2]
//            (both skipped), then wcls [V, d] only when separate
// (hs = d / n_heads, kv_dim = n_kv_heads·hs; every matrix is [out, in]). The file must be exactly
// that long. llama2.c rotates interleaved pairs (2i, 2i+1) of each head; config.ts uses HF's
// rotate-half, so the rows of wq and wk are permuted per head as HF's convert_llama_weights_to_hf.py
// does: w.view(heads, hs/2, 2, d).transpose(1, 2).reshape(heads·hs, d), i.e. new row
// h·hs + t·hs/2 + i = old row h·hs + 2i + t. The config: ARCHITECTURES.llama (RoPE theta 10000)
// with tied embeddings iff shared, normEps 1e-5, contextLength seq_len, an LM head.
import { ARCHITECTURES, validateConfig, type ModelConfig, type Weights } from '../config.js';
import { CheckpointError } from './errors.js';
import { readBytes } from './io.js';

const HEADER_BYTES = 28;

function unpermuteRope(w: Float32Array, heads: number, hs: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < hs / 2; i++)
      for (let t = 0; t < 2; t++) {
        const from = h * hs + 2 * i + t;
        const to = h * hs + t * (hs / 2) + i;
        out.set(w.subarray(from * cols, (from + 1) * cols), to * cols);
      }
  return out;
}

/** Parses a llama2.c checkpoint held in memory; `file` names it in errors. */
export function parseLlama2c(bytes: Uint8Array, file: string): { config: ModelConfig; weights: Weights } {
  if (bytes.length < HEADER_BYTES) throw new CheckpointError(file, `file is ${bytes.length} bytes: too short for the ${HEADER_BYTES}-byte llama2.c header`);
  const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const [dim, hidden, nLayers, nHeads, nKvHeads, vocab, seqLen] = Array.from({ length: 7 }, (_, i) => header.getInt32(4 * i, true));
  const shared = vocab > 0;
  const config: ModelConfig = {
    architecture: { ...ARCHITECTURES.llama, tiedEmbeddings: shared },
    vocabSize: Math.abs(vocab),
    contextLength: seqLen,
    dModel: dim,
    nLayers,
    nHeads,
    nKvHeads,
    dFf: hidden,
    normEps: 1e-5,
    head: { kind: 'lm' },
  };
  try {
    validateConfig(config);
  } catch (err) {
    throw new CheckpointError(file, `invalid llama2.c header [${[dim, hidden, nLayers, nHeads, nKvHeads, vocab, seqLen].join(', ')}]: ${(err as Error).message}`);
  }
  const d = dim;
  const V = config.vocabSize;
  const L = nLayers;
  const hs = d / nHeads;
  const kvDim = nKvHeads * hs;
  // Exact (BigInt) sizes: a nonsense header can imply far more than 2^53 bytes.
  const [bd, bv, bl, bf, bkv, bseq, bhs] = [d, V, L, hidden, kvDim, seqLen, hs].map(BigInt);
  const bodyFloats = bv * bd + 2n * bl * bd + 2n * bl * bd * bd + 2n * bl * bkv * bd + 3n * bl * bf * bd + bd + bseq * bhs;
  const size = (withClassifier: boolean) => BigInt(HEADER_BYTES) + 4n * (bodyFloats + (withClassifier ? bv * bd : 0n));
  const actual = BigInt(bytes.length);
  if (actual !== size(!shared)) {
    const other = actual === size(shared) ? ` (that is the size with${shared ? '' : 'out'} a separate classifier: vocab_size's sign is wrong)` : '';
    throw new CheckpointError(file, `llama2.c checkpoint should be ${size(!shared)} bytes (dim ${d}, hidden_dim ${hidden}, n_layers ${L}, n_heads ${nHeads}, n_kv_heads ${nKvHeads}, vocab_size ${vocab}, seq_len ${seqLen}, ${shared ? 'shared' : 'separate'} classifier), got ${bytes.length}${other}`);
  }

  const count = (bytes.length - HEADER_BYTES) / 4;
  const start = bytes.byteOffset + HEADER_BYTES;
  const floats = start % 4 === 0 ? new Float32Array(bytes.buffer, start, count) : new Float32Array(new Uint8Array(bytes.subarray(HEADER_BYTES)).buffer);
  let position = 0;
  const take = (n: number) => floats.subarray(position, (position += n));
  const embedding = take(V * d);
  const rmsAtt = take(L * d);
  const wq = take(L * d * d);
  const wk = take(L * kvDim * d);
  const wv = take(L * kvDim * d);
  const wo = take(L * d * d);
  const rmsFfn = take(L * d);
  const w1 = take(L * hidden * d);
  const w2 = take(L * d * hidden);
  const w3 = take(L * hidden * d);
  const rmsFinal = take(d);
  take(seqLen * hs);
  const layer = (block: Float32Array, i: number, n: number) => block.subarray(i * n, (i + 1) * n);

  const weights: Weights = new Map();
  weights.set('tokenEmbedding.weight', embedding.slice());
  for (let i = 0; i < L; i++) {
    weights.set(`layers.${i}.attnNorm.weight`, layer(rmsAtt, i, d).slice());
    const qkv = new Float32Array((d + 2 * kvDim) * d);
    qkv.set(unpermuteRope(layer(wq, i, d * d), nHeads, hs, d), 0);
    qkv.set(unpermuteRope(layer(wk, i, kvDim * d), nKvHeads, hs, d), d * d);
    qkv.set(layer(wv, i, kvDim * d), (d + kvDim) * d);
    weights.set(`layers.${i}.attn.qkv.weight`, qkv);
    weights.set(`layers.${i}.attn.out.weight`, layer(wo, i, d * d).slice());
    weights.set(`layers.${i}.mlpNorm.weight`, layer(rmsFfn, i, d).slice());
    const gateUp = new Float32Array(2 * hidden * d);
    gateUp.set(layer(w1, i, hidden * d), 0);
    gateUp.set(layer(w3, i, hidden * d), hidden * d);
    weights.set(`layers.${i}.mlp.gateUp.weight`, gateUp);
    weights.set(`layers.${i}.mlp.down.weight`, layer(w2, i, d * hidden).slice());
  }
  weights.set('finalNorm.weight', rmsFinal.slice());
  if (!shared) weights.set('lmHead.weight', take(V * d).slice());
  return { config, weights };
}

export async function readLlama2c(file: string): Promise<{ config: ModelConfig; weights: Weights }> {
  return parseLlama2c(await readBytes(file), file);
}
