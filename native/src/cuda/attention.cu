// Fused multi-head attention on NVIDIA GPUs (sm_80 and newer): forward and backward with the
// contract of kernels.h, float32 in and out.
//
// Layouts (element strides, D contiguous):
//   q, out, dout, dq  [B, Tq, H, D]        k, v, dk, dv  [B, Tk, Hkv, D]        lse [B, H, Tq]
// Workspace (one allocation per backward call): delta [B, H, Tq] = rowsum(dO * O), and the dq
// accumulator [B, Tq, H, D] (contiguous float32, summed with atomics, then copied into the dq view).
//
// The algorithm is FlashAttention-2's, with every tile in shared memory:
//   forward, one block per (query tile of BR rows, b, h), looping over key tiles of BC keys:
//     S = Q K^T; m' = max(m, rowmax(scale S)); P = exp(scale S - m'); l = l e^(m - m') + rowsum P;
//     O = O e^(m - m') + P V;  at the end out = O / l, lse = m + log l.
//   backward, one block per (key tile, b, kv head), looping over the group's query heads and the
//   query tiles that see the keys:
//     S = Q K^T; P = exp(scale S - lse); dV += P^T dO; dP = dO V^T; dS = scale P (dP - delta);
//     dK += dS^T Q; dQ += dS K (atomics into the accumulator).
// Every matrix product is tile_product on shared-memory operands: float32 FMAs on the CUDA cores
// (Precision::Float32), or WMMA tensor-core fragments on TF32 or bf16 operands with float32
// accumulation. Only the operand type of the Q, K, V, dO and P/dS tiles changes with the precision;
// S, dP, the softmax statistics and the accumulators (O, dK, dV, dQ) are float32 in every mode.
// Masking (bottom-right causal, kv_lengths) is applied to the scores; tiles past the last visible
// key are skipped, rows and columns past the ends are zero-filled so that they contribute nothing.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <climits>
#include <cmath>
#include <string>
#include <type_traits>

#include "check.h"
#include "w2s/cuda.h"

namespace w2s::cuda {
namespace {

namespace wmma = nvcuda::wmma;

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr int kThreads = 128;

template <Precision P>
using Operand = std::conditional_t<P == Precision::BF16, __nv_bfloat16, float>;

template <Precision P>
__device__ __forceinline__ Operand<P> to_operand(float x) {
  if constexpr (P == Precision::BF16)
    return __float2bfloat16_rn(x);
  else
    return x;
}

// Row padding (elements) of shared-memory tiles. Float32 reads columns with one thread per row, so
// an odd row length avoids bank conflicts; WMMA needs rows of a multiple of 16 bytes.
template <Precision P>
constexpr int operand_pad() {
  return P == Precision::Float32 ? 1 : P == Precision::TF32 ? 4 : 8;
}
template <Precision P>
constexpr int float_pad() {
  return P == Precision::Float32 ? 1 : 4;
}

constexpr size_t align128(size_t bytes) { return (bytes + 127) / 128 * 128; }

// C [M, N] = (accumulate ? row_scale * C : 0) + op(A) [M, K] op(B) [K, N], operands in shared memory.
// A_COL: A stored transposed, element (m, k) at A[k * lda + m] (else at A[m * lda + k]).
// B_COL: B stored transposed, element (k, n) at B[n * ldb + k] (else at B[k * ldb + n]).
// K is a multiple of 16; row_scale (optional, [M]) multiplies C's rows before the sum. All threads
// of the block call it; the caller synchronises before (operands ready) and after (C complete).
template <Precision P, int M, int N, bool A_COL, bool B_COL>
__device__ __forceinline__ void tile_product(float* C, int ldc, const Operand<P>* A, int lda, const Operand<P>* B,
                                             int ldb, int K, bool accumulate, const float* row_scale) {
  if constexpr (P == Precision::Float32) {
    // A grid of RT x CT threads, each owning rows ty + i RT and columns tx + j CT of C.
    constexpr int CT = 16, RT = kThreads / CT;
    static_assert(M % RT == 0 && N % CT == 0, "tile not divisible by the thread grid");
    constexpr int TM = M / RT, TN = N / CT;
    const int tx = threadIdx.x % CT, ty = threadIdx.x / CT;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const float s = accumulate ? (row_scale ? row_scale[ty + i * RT] : 1.0f) : 0.0f;
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = accumulate ? s * C[(ty + i * RT) * ldc + tx + j * CT] : 0.0f;
    }
#pragma unroll 4
    for (int k = 0; k < K; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = A_COL ? A[k * lda + ty + i * RT] : A[(ty + i * RT) * lda + k];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = B_COL ? B[(tx + j * CT) * ldb + k] : B[k * ldb + tx + j * CT];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) C[(ty + i * RT) * ldc + tx + j * CT] = acc[i][j];
  } else {
    // 16 x 16 output fragments spread over the warps; K in steps of 8 (TF32) or 16 (bf16).
    constexpr int KS = P == Precision::TF32 ? 8 : 16;
    using Element = std::conditional_t<P == Precision::TF32, wmma::precision::tf32, __nv_bfloat16>;
    using LayoutA = std::conditional_t<A_COL, wmma::col_major, wmma::row_major>;
    using LayoutB = std::conditional_t<B_COL, wmma::col_major, wmma::row_major>;
    static_assert(M % 16 == 0 && N % 16 == 0, "WMMA tiles are 16 x 16");
    if (accumulate && row_scale) {
      for (int idx = threadIdx.x; idx < M * N; idx += kThreads) C[(idx / N) * ldc + idx % N] *= row_scale[idx / N];
      __syncthreads();
    }
    constexpr int FN = N / 16, FRAGMENTS = (M / 16) * FN, WARPS = kThreads / 32;
    for (int f = threadIdx.x / 32; f < FRAGMENTS; f += WARPS) {
      const int m0 = (f / FN) * 16, n0 = (f % FN) * 16;
      wmma::fragment<wmma::accumulator, 16, 16, KS, float> acc;
      if (accumulate)
        wmma::load_matrix_sync(acc, C + m0 * ldc + n0, ldc, wmma::mem_row_major);
      else
        wmma::fill_fragment(acc, 0.0f);
      for (int k0 = 0; k0 < K; k0 += KS) {
        wmma::fragment<wmma::matrix_a, 16, 16, KS, Element, LayoutA> a;
        wmma::fragment<wmma::matrix_b, 16, 16, KS, Element, LayoutB> b;
        wmma::load_matrix_sync(a, A_COL ? A + k0 * lda + m0 : A + m0 * lda + k0, lda);
        wmma::load_matrix_sync(b, B_COL ? B + n0 * ldb + k0 : B + k0 * ldb + n0, ldb);
        if constexpr (P == Precision::TF32) {
          for (int t = 0; t < a.num_elements; ++t) a.x[t] = wmma::__float_to_tf32(a.x[t]);
          for (int t = 0; t < b.num_elements; ++t) b.x[t] = wmma::__float_to_tf32(b.x[t]);
        }
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(C + m0 * ldc + n0, acc, ldc, wmma::mem_row_major);
    }
  }
}

// Copies ROWS rows of D floats (row r at src + r * row_stride) into a shared tile of DMAX columns,
// converting to the operand type; rows >= valid_rows and columns >= D are zero.
template <Precision P, int ROWS, int DMAX>
__device__ __forceinline__ void load_rows(Operand<P>* dst, int ld, const float* __restrict__ src, int64_t row_stride,
                                          int valid_rows, int D) {
  for (int idx = threadIdx.x; idx < ROWS * DMAX; idx += kThreads) {
    const int r = idx / DMAX, c = idx % DMAX;
    const float x = r < valid_rows && c < D ? src[r * row_stride + c] : 0.0f;
    dst[r * ld + c] = to_operand<P>(x);
  }
}

__device__ __forceinline__ void fill(float* dst, int count, float value) {
  for (int idx = threadIdx.x; idx < count; idx += kThreads) dst[idx] = value;
}

// Tile sizes by head-size class DMAX (D <= DMAX). Shared memory per block (bytes, forward/backward):
//   float32  67,840/71,680 (32)  100,608/116,736 (64)  116,736/128,512 (128)  140,416/119,168 (256)
//   tf32     72,448/77,056       105,216/122,112       120,576/132,352        142,720/120,448
//   bf16     51,968/60,672        72,448/93,440         83,712/97,536          91,520/87,168
// All fit sm_80 (163 KB) and sm_90 (227 KB); sm_86/sm_89 (99 KB) run bf16 and the small head sizes.
constexpr int forward_query_tile(int dmax) { return dmax <= 128 ? 64 : 32; }
constexpr int forward_key_tile(int dmax) { return dmax <= 64 ? 64 : 32; }
constexpr int backward_key_tile(int dmax) { return dmax <= 64 ? 64 : dmax <= 128 ? 32 : 16; }
constexpr int backward_query_tile(int dmax) { return dmax <= 128 ? 32 : 16; }

struct Problem {
  int B, Tq, Tk, H, Hkv, D, group;
  int shift;  // Tk - Tq: under the causal mask query i sees keys j <= i + shift
  bool causal;
  float scale;
  const int* kv_lengths;  // device [B], or nullptr

  __device__ int kv_length(int b) const { return kv_lengths ? kv_lengths[b] : Tk; }
  // One past the last key query q sees, for a sequence of kv_len keys.
  __device__ int key_end(int kv_len, int q) const { return causal ? min(kv_len, q + shift + 1) : kv_len; }
};

struct Strides3 {
  int64_t b, t, h;  // element strides of the batch, time and head dimensions
};

Strides3 strides_of(const ConstView4& v) { return {v.stride[0], v.stride[1], v.stride[2]}; }
Strides3 strides_of(const View4& v) { return {v.stride[0], v.stride[1], v.stride[2]}; }

// ---- forward ------------------------------------------------------------------------------------

template <Precision P, int DMAX>
struct ForwardTiles {
  using T = Operand<P>;
  static constexpr int BR = forward_query_tile(DMAX), BC = forward_key_tile(DMAX);
  static constexpr int LD_QKV = DMAX + operand_pad<P>(), LD_S = BC + float_pad<P>(), LD_P = BC + operand_pad<P>(),
                       LD_O = DMAX + float_pad<P>();
  static constexpr size_t Q = 0;
  static constexpr size_t K = Q + align128(sizeof(T) * BR * LD_QKV);
  static constexpr size_t V = K + align128(sizeof(T) * BC * LD_QKV);
  static constexpr size_t S = V + align128(sizeof(T) * BC * LD_QKV);
  static constexpr size_t PT = S + align128(sizeof(float) * BR * LD_S);
  static constexpr size_t O = PT + align128(sizeof(T) * BR * LD_P);
  static constexpr size_t STATS = O + align128(sizeof(float) * BR * LD_O);  // m, l, rescale [BR] each
  static constexpr size_t BYTES = STATS + align128(sizeof(float) * 3 * BR);
};

struct ForwardArgs {
  Problem p;
  const float* q;
  const float* k;
  const float* v;
  float* out;
  float* lse;
  Strides3 qs, ks, vs, os;
};

template <Precision P, int DMAX>
__global__ void __launch_bounds__(kThreads) attention_forward_kernel(const ForwardArgs a) {
  using L = ForwardTiles<P, DMAX>;
  using T = Operand<P>;
  constexpr int BR = L::BR, BC = L::BC, TPR = kThreads / BR;  // TPR threads per row in the softmax
  W2S_DYNAMIC_SHARED(smem);
  T* Qs = reinterpret_cast<T*>(smem + L::Q);
  T* Ks = reinterpret_cast<T*>(smem + L::K);
  T* Vs = reinterpret_cast<T*>(smem + L::V);
  float* S = reinterpret_cast<float*>(smem + L::S);
  T* Ps = reinterpret_cast<T*>(smem + L::PT);
  float* O = reinterpret_cast<float*>(smem + L::O);
  float* row_max = reinterpret_cast<float*>(smem + L::STATS);
  float* row_sum = row_max + BR;
  float* row_rescale = row_sum + BR;

  const Problem& p = a.p;
  // One block per (query tile, b, h); blocks run in index order, the longest (causal) tiles first.
  const int heads = p.B * p.H, tiles = (p.Tq + BR - 1) / BR;
  const int bh = blockIdx.x % heads, b = bh / p.H, h = bh % p.H, kvh = h / p.group;
  const int q0 = (tiles - 1 - static_cast<int>(blockIdx.x / heads)) * BR;
  const int q_rows = min(BR, p.Tq - q0);
  const int kv_len = p.kv_length(b);
  const int key_end = p.key_end(kv_len, q0 + q_rows - 1);  // no row of the tile sees a key past this
  const float scale_log2 = p.scale * kLog2e;

  load_rows<P, BR, DMAX>(Qs, L::LD_QKV, a.q + b * a.qs.b + int64_t(q0) * a.qs.t + h * a.qs.h, a.qs.t, q_rows, p.D);
  for (int idx = threadIdx.x; idx < BR * DMAX; idx += kThreads) O[(idx / DMAX) * L::LD_O + idx % DMAX] = 0.0f;
  fill(row_max, BR, -INFINITY);
  fill(row_sum, BR, 0.0f);

  const float* kb = a.k + b * a.ks.b + kvh * a.ks.h;
  const float* vb = a.v + b * a.vs.b + kvh * a.vs.h;
  for (int k0 = 0; k0 < key_end; k0 += BC) {
    __syncthreads();  // the previous tile's K, V, P are consumed
    // Keys past key_end are never read (the CPU does not read them either: padding may hold NaN).
    const int k_rows = min(BC, key_end - k0);
    load_rows<P, BC, DMAX>(Ks, L::LD_QKV, kb + int64_t(k0) * a.ks.t, a.ks.t, k_rows, p.D);
    load_rows<P, BC, DMAX>(Vs, L::LD_QKV, vb + int64_t(k0) * a.vs.t, a.vs.t, k_rows, p.D);
    __syncthreads();
    tile_product<P, BR, BC, false, true>(S, L::LD_S, Qs, L::LD_QKV, Ks, L::LD_QKV, p.D, false, nullptr);
    __syncthreads();
    {  // online softmax: TPR consecutive lanes per row
      const int r = threadIdx.x / TPR, part = threadIdx.x % TPR;
      const int visible = p.key_end(kv_len, q0 + r) - k0;
      float* srow = S + r * L::LD_S;
      float tile_max = -INFINITY;
      for (int c = part; c < BC; c += TPR) {
        const float s = c < visible ? srow[c] * scale_log2 : -INFINITY;
        srow[c] = s;
        tile_max = fmaxf(tile_max, s);
      }
      for (int offset = TPR / 2; offset > 0; offset /= 2)
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
      const float m_old = row_max[r];
      const float m_new = fmaxf(m_old, tile_max);  // finite: every row sees key 0 in the first tile
      float sum = 0.0f;
      for (int c = part; c < BC; c += TPR) {
        const float e = exp2f(srow[c] - m_new);
        Ps[r * L::LD_P + c] = to_operand<P>(e);
        sum += e;
      }
      for (int offset = TPR / 2; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      if (part == 0) {
        const float rescale = exp2f(m_old - m_new);  // 0 on the first tile (m_old = -inf)
        row_max[r] = m_new;
        row_sum[r] = row_sum[r] * rescale + sum;
        row_rescale[r] = rescale;
      }
    }
    __syncthreads();
    tile_product<P, BR, DMAX, false, false>(O, L::LD_O, Ps, L::LD_P, Vs, L::LD_QKV, BC, true, row_rescale);
  }
  __syncthreads();
  float* ob = a.out + b * a.os.b + int64_t(q0) * a.os.t + h * a.os.h;
  for (int idx = threadIdx.x; idx < q_rows * p.D; idx += kThreads) {
    const int r = idx / p.D, c = idx % p.D;
    ob[r * a.os.t + c] = O[r * L::LD_O + c] / row_sum[r];
  }
  for (int r = threadIdx.x; r < q_rows; r += kThreads)
    a.lse[(int64_t(b) * p.H + h) * p.Tq + q0 + r] = (row_max[r] + log2f(row_sum[r])) * kLn2;
}

// ---- backward -----------------------------------------------------------------------------------

// x rounded as the matrix products' operands are (float32: unchanged).
template <Precision P>
__device__ __forceinline__ float round_operand(float x) {
  if constexpr (P == Precision::BF16)
    return __bfloat162float(__float2bfloat16_rn(x));
  else if constexpr (P == Precision::TF32)
    return wmma::__float_to_tf32(x);
  else
    return x;
}

// delta [B, H, Tq] = rowsum(dO * O): one warp per (b, i, h). dO is rounded as in dP = dO V^T, so
// that dP - delta is consistent (a row with a single visible key has P = 1 and dS = 0 exactly in
// every precision, not the rounding difference between dP and delta).
template <Precision P>
__global__ void attention_backward_delta_kernel(const Problem p, const float* __restrict__ out, Strides3 os,
                                                const float* __restrict__ dout, Strides3 dos, float* __restrict__ delta) {
  const int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= int64_t(p.B) * p.Tq * p.H) return;
  const int h = row % p.H, i = (row / p.H) % p.Tq, b = row / (int64_t(p.H) * p.Tq);
  const float* o = out + b * os.b + i * os.t + h * os.h;
  const float* g = dout + b * dos.b + i * dos.t + h * dos.h;
  float sum = 0.0f;
  for (int d = lane; d < p.D; d += 32) sum = fmaf(o[d], round_operand<P>(g[d]), sum);
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (lane == 0) delta[(int64_t(b) * p.H + h) * p.Tq + i] = sum;
}

template <Precision P, int DMAX>
struct BackwardTiles {
  using T = Operand<P>;
  static constexpr int BC = backward_key_tile(DMAX), BR = backward_query_tile(DMAX);
  static constexpr int LD_T = DMAX + operand_pad<P>(), LD_S = BC + float_pad<P>(), LD_P = BC + operand_pad<P>(),
                       LD_O = DMAX + float_pad<P>();
  static constexpr size_t K = 0;
  static constexpr size_t V = K + align128(sizeof(T) * BC * LD_T);
  static constexpr size_t Q = V + align128(sizeof(T) * BC * LD_T);
  static constexpr size_t DO = Q + align128(sizeof(T) * BR * LD_T);
  static constexpr size_t PF = DO + align128(sizeof(T) * BR * LD_T);     // P (float), [BR][LD_S]
  static constexpr size_t DP = PF + align128(sizeof(float) * BR * LD_S);  // dP (float)
  static constexpr size_t PT = DP + align128(sizeof(float) * BR * LD_S);  // P, then dS (operand type)
  static constexpr size_t DK = PT + align128(sizeof(T) * BR * LD_P);      // dK accumulator [BC][LD_O]
  static constexpr size_t DV = DK + align128(sizeof(float) * BC * LD_O);
  static constexpr size_t DQ = DV + align128(sizeof(float) * BC * LD_O);  // this tile's dQ [BR][LD_O]
  static constexpr size_t STATS = DQ + align128(sizeof(float) * BR * LD_O);  // lse (log2 units), delta [BR]
  static constexpr size_t BYTES = STATS + align128(sizeof(float) * 2 * BR);
};

struct BackwardArgs {
  Problem p;
  const float* q;
  const float* k;
  const float* v;
  const float* dout;
  const float* lse;
  const float* delta;
  float* dq_accum;  // contiguous [B, Tq, H, D], zeroed
  float* dk;
  float* dv;
  Strides3 qs, ks, vs, dos, dks, dvs;
};

template <Precision P, int DMAX>
__global__ void __launch_bounds__(kThreads) attention_backward_kernel(const BackwardArgs a) {
  using L = BackwardTiles<P, DMAX>;
  using T = Operand<P>;
  constexpr int BR = L::BR, BC = L::BC;
  W2S_DYNAMIC_SHARED(smem);
  T* Ks = reinterpret_cast<T*>(smem + L::K);
  T* Vs = reinterpret_cast<T*>(smem + L::V);
  T* Qs = reinterpret_cast<T*>(smem + L::Q);
  T* dOs = reinterpret_cast<T*>(smem + L::DO);
  float* Pf = reinterpret_cast<float*>(smem + L::PF);
  float* dPf = reinterpret_cast<float*>(smem + L::DP);
  T* PT = reinterpret_cast<T*>(smem + L::PT);
  float* dK = reinterpret_cast<float*>(smem + L::DK);
  float* dV = reinterpret_cast<float*>(smem + L::DV);
  float* dQ = reinterpret_cast<float*>(smem + L::DQ);
  float* lse_s = reinterpret_cast<float*>(smem + L::STATS);
  float* delta_s = lse_s + BR;

  const Problem& p = a.p;
  // One block per (key tile, b, kv head), the first key tiles (which see the most queries) first.
  const int kv_heads = p.B * p.Hkv;
  const int bkv = blockIdx.x % kv_heads, b = bkv / p.Hkv, kvh = bkv % p.Hkv;
  const int k0 = static_cast<int>(blockIdx.x / kv_heads) * BC;
  const int k_rows = min(BC, p.Tk - k0);
  const int kv_len = p.kv_length(b);
  float* dkb = a.dk + b * a.dks.b + int64_t(k0) * a.dks.t + kvh * a.dks.h;
  float* dvb = a.dv + b * a.dvs.b + int64_t(k0) * a.dvs.t + kvh * a.dvs.h;

  if (k0 < kv_len) {
    const float scale_log2 = p.scale * kLog2e;
    // Keys past kv_len are never read (padding may hold NaN): their rows stay zero.
    const int k_valid = min(BC, kv_len - k0);
    load_rows<P, BC, DMAX>(Ks, L::LD_T, a.k + b * a.ks.b + int64_t(k0) * a.ks.t + kvh * a.ks.h, a.ks.t, k_valid, p.D);
    load_rows<P, BC, DMAX>(Vs, L::LD_T, a.v + b * a.vs.b + int64_t(k0) * a.vs.t + kvh * a.vs.h, a.vs.t, k_valid, p.D);
    for (int idx = threadIdx.x; idx < BC * DMAX; idx += kThreads) {
      dK[(idx / DMAX) * L::LD_O + idx % DMAX] = 0.0f;
      dV[(idx / DMAX) * L::LD_O + idx % DMAX] = 0.0f;
    }
    // Under the causal mask the first query that sees key k0 is k0 - shift.
    const int q_first = p.causal ? max(0, k0 - p.shift) / BR * BR : 0;
    for (int h = kvh * p.group; h < (kvh + 1) * p.group; ++h) {
      const int64_t stats = (int64_t(b) * p.H + h) * p.Tq;
      for (int q0 = q_first; q0 < p.Tq; q0 += BR) {
        const int q_rows = min(BR, p.Tq - q0);
        __syncthreads();  // the previous query tile's operands are consumed
        load_rows<P, BR, DMAX>(Qs, L::LD_T, a.q + b * a.qs.b + int64_t(q0) * a.qs.t + h * a.qs.h, a.qs.t, q_rows, p.D);
        load_rows<P, BR, DMAX>(dOs, L::LD_T, a.dout + b * a.dos.b + int64_t(q0) * a.dos.t + h * a.dos.h, a.dos.t,
                               q_rows, p.D);
        for (int r = threadIdx.x; r < BR; r += kThreads) {
          lse_s[r] = r < q_rows ? a.lse[stats + q0 + r] * kLog2e : INFINITY;  // rows past Tq: P = 0
          delta_s[r] = r < q_rows ? a.delta[stats + q0 + r] : 0.0f;
        }
        __syncthreads();
        tile_product<P, BR, BC, false, true>(Pf, L::LD_S, Qs, L::LD_T, Ks, L::LD_T, p.D, false, nullptr);
        __syncthreads();
        for (int idx = threadIdx.x; idx < BR * BC; idx += kThreads) {
          const int r = idx / BC, c = idx % BC;
          const bool visible = k0 + c < p.key_end(kv_len, q0 + r);
          const float prob = visible ? exp2f(Pf[r * L::LD_S + c] * scale_log2 - lse_s[r]) : 0.0f;
          Pf[r * L::LD_S + c] = prob;
          PT[r * L::LD_P + c] = to_operand<P>(prob);
        }
        __syncthreads();
        tile_product<P, BC, DMAX, true, false>(dV, L::LD_O, PT, L::LD_P, dOs, L::LD_T, BR, true, nullptr);
        tile_product<P, BR, BC, false, true>(dPf, L::LD_S, dOs, L::LD_T, Vs, L::LD_T, p.D, false, nullptr);
        __syncthreads();
        for (int idx = threadIdx.x; idx < BR * BC; idx += kThreads) {
          const int r = idx / BC, c = idx % BC;
          PT[r * L::LD_P + c] = to_operand<P>(p.scale * Pf[r * L::LD_S + c] * (dPf[r * L::LD_S + c] - delta_s[r]));
        }
        __syncthreads();
        tile_product<P, BC, DMAX, true, false>(dK, L::LD_O, PT, L::LD_P, Qs, L::LD_T, BR, true, nullptr);
        tile_product<P, BR, DMAX, false, false>(dQ, L::LD_O, PT, L::LD_P, Ks, L::LD_T, BC, false, nullptr);
        __syncthreads();
        float* dqb = a.dq_accum + ((int64_t(b) * p.Tq + q0) * p.H + h) * p.D;
        for (int idx = threadIdx.x; idx < q_rows * p.D; idx += kThreads) {
          const int r = idx / p.D, c = idx % p.D;
          atomicAdd(dqb + int64_t(r) * p.H * p.D + c, dQ[r * L::LD_O + c]);
        }
      }
    }
    __syncthreads();
  }
  // Keys past kv_lengths[b] (a whole tile of them skips the loop above) get zero gradients.
  for (int idx = threadIdx.x; idx < k_rows * p.D; idx += kThreads) {
    const int r = idx / p.D, c = idx % p.D;
    const bool live = k0 < kv_len;
    dkb[r * a.dks.t + c] = live ? dK[r * L::LD_O + c] : 0.0f;
    dvb[r * a.dvs.t + c] = live ? dV[r * L::LD_O + c] : 0.0f;
  }
}

// dq view [B, Tq, H, D] = the contiguous accumulator.
__global__ void attention_backward_dq_kernel(const Problem p, const float* __restrict__ dq_accum, float* __restrict__ dq,
                                             Strides3 dqs) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= int64_t(p.B) * p.Tq * p.H * p.D) return;
  const int d = idx % p.D;
  const int64_t row = idx / p.D;
  const int h = row % p.H, i = (row / p.H) % p.Tq, b = row / (int64_t(p.H) * p.Tq);
  dq[b * dqs.b + i * dqs.t + h * dqs.h + d] = dq_accum[idx];
}

// ---- host side ----------------------------------------------------------------------------------

int int_dimension(int64_t value, const char* name) {
  if (value > INT_MAX)
    throw InvalidArgument(InvalidArgument::Kind::Range,
                          std::string(name) + " must be <= " + std::to_string(INT_MAX) + " on CUDA, got " + std::to_string(value));
  return static_cast<int>(value);
}

void check_inner_strides(std::initializer_list<std::pair<const char*, int64_t>> inner_strides) {
  for (const auto& [name, stride] : inner_strides)
    if (stride != 1)
      throw InvalidArgument(InvalidArgument::Kind::Range,
                            std::string(name) + ": the last (head-size) dimension must be contiguous (stride 1), got stride " +
                                std::to_string(stride));
}

// The problem on the device (kv_lengths uploaded into `lengths`, which must outlive the launches).
Problem make_problem(const AttentionShape& s, const AttentionOptions& o, DeviceBuffer& lengths) {
  validate_attention(s, o);
  require_device();
  Problem p{};
  p.B = int_dimension(s.batch, "batch size B");
  p.Tq = int_dimension(s.q_len, "query length Tq");
  p.Tk = int_dimension(s.kv_len, "key length Tk");
  p.H = int_dimension(s.heads, "heads H");
  p.Hkv = int_dimension(s.kv_heads, "key/value heads Hkv");
  int_dimension(s.batch * s.heads, "B * H");
  p.D = static_cast<int>(s.head_dim);
  p.group = p.H / p.Hkv;
  p.shift = p.Tk - p.Tq;
  p.causal = o.causal;
  p.scale = o.scale != 0.0f ? o.scale : 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  p.kv_lengths = nullptr;
  if (o.kv_lengths) {
    lengths = DeviceBuffer(sizeof(int) * s.batch);
    check(cudaMemcpyAsync(lengths.data(), o.kv_lengths, sizeof(int) * s.batch, cudaMemcpyHostToDevice, 0),
          "attention: cudaMemcpyAsync (kvLengths)");
    p.kv_lengths = static_cast<const int*>(lengths.data());
  }
  return p;
}

// Raises a kernel's dynamic shared memory limit to `bytes`, after checking that the device allows
// that much; `allowed_for` (one per kernel) remembers the device it was done for.
template <typename Kernel>
void allow_shared_memory(Kernel kernel, size_t bytes, const char* name, Precision precision, int dmax, int& allowed_for) {
  int device = 0, limit = 0;
  check(cudaGetDevice(&device), name);
  if (allowed_for == device) return;
  check(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), name);
  if (bytes > static_cast<size_t>(limit))
    throw CudaError(std::string(name) + ": " + precision_name(precision) + " with head size class " + std::to_string(dmax) +
                    " needs " + std::to_string(bytes) + " bytes of shared memory per block, this device allows " +
                    std::to_string(limit) + " (use precision bf16, or a GPU of compute capability 8.0 or 9.0)");
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
        (std::string(name) + ": cudaFuncSetAttribute (shared memory)").c_str());
  allowed_for = device;
}

// A 1-D grid of `blocks` (the kernels decode their tile and head from blockIdx.x).
unsigned int grid_size(int64_t blocks, const char* name) {
  if (blocks > INT_MAX)
    throw InvalidArgument(InvalidArgument::Kind::Range,
                          std::string(name) + ": the problem needs " + std::to_string(blocks) + " blocks, more than " +
                              std::to_string(INT_MAX) + " (a CUDA grid's limit)");
  return static_cast<unsigned int>(blocks);
}

// Launcher::run<P, DMAX>(args) for the precision and the head-size class of D (D <= DMAX).
template <typename Launcher, Precision P, typename Args>
void dispatch_size(int D, const Args& args) {
  if (D <= 32)
    Launcher::template run<P, 32>(args);
  else if (D <= 64)
    Launcher::template run<P, 64>(args);
  else if (D <= 128)
    Launcher::template run<P, 128>(args);
  else
    Launcher::template run<P, 256>(args);
}

template <typename Launcher, typename Args>
void dispatch(Precision precision, int D, const Args& args) {
  switch (precision) {
    case Precision::Float32: return dispatch_size<Launcher, Precision::Float32>(D, args);
    case Precision::TF32: return dispatch_size<Launcher, Precision::TF32>(D, args);
    case Precision::BF16: return dispatch_size<Launcher, Precision::BF16>(D, args);
  }
  throw InvalidArgument(InvalidArgument::Kind::Range, "precision must be float32, tf32 or bf16");
}

struct ForwardLauncher {
  template <Precision P, int DMAX>
  static void run(const ForwardArgs& a) {
    using L = ForwardTiles<P, DMAX>;
    const auto kernel = attention_forward_kernel<P, DMAX>;
    static int allowed_for = -1;
    allow_shared_memory(kernel, L::BYTES, "attention_forward", P, DMAX, allowed_for);
    const int64_t tiles = (a.p.Tq + L::BR - 1) / L::BR;
    W2S_LAUNCH(kernel, grid_size(tiles * a.p.B * a.p.H, "attention_forward"), kThreads, L::BYTES, a);
    check_launch("attention_forward");
  }
};

struct BackwardLauncher {
  template <Precision P, int DMAX>
  static void run(const BackwardArgs& a) {
    using L = BackwardTiles<P, DMAX>;
    const auto kernel = attention_backward_kernel<P, DMAX>;
    static int allowed_for = -1;
    allow_shared_memory(kernel, L::BYTES, "attention_backward", P, DMAX, allowed_for);
    const int64_t tiles = (a.p.Tk + L::BC - 1) / L::BC;
    W2S_LAUNCH(kernel, grid_size(tiles * a.p.B * a.p.Hkv, "attention_backward"), kThreads, L::BYTES, a);
    check_launch("attention_backward");
  }
};

}  // namespace

void attention_forward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                       const AttentionOptions& options, Precision precision, View4 out, float* lse) {
  check_inner_strides({{"q", q.stride[3]}, {"k", k.stride[3]}, {"v", v.stride[3]}, {"out", out.stride[3]}});
  DeviceBuffer lengths;
  ForwardArgs a{};
  a.p = make_problem(shape, options, lengths);
  a.q = q.data;
  a.k = k.data;
  a.v = v.data;
  a.out = out.data;
  a.lse = lse;
  a.qs = strides_of(q);
  a.ks = strides_of(k);
  a.vs = strides_of(v);
  a.os = strides_of(out);
  dispatch<ForwardLauncher>(precision, a.p.D, a);
}

void attention_backward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v, ConstView4 out,
                        const float* lse, ConstView4 dout, const AttentionOptions& options, Precision precision,
                        View4 dq, View4 dk, View4 dv) {
  check_inner_strides({{"q", q.stride[3]}, {"k", k.stride[3]}, {"v", v.stride[3]}, {"out", out.stride[3]},
                       {"dOut", dout.stride[3]}, {"dq", dq.stride[3]}, {"dk", dk.stride[3]}, {"dv", dv.stride[3]}});
  DeviceBuffer lengths;
  BackwardArgs a{};
  a.p = make_problem(shape, options, lengths);
  const int64_t rows = int64_t(a.p.B) * a.p.Tq * a.p.H;
  // One workspace: delta [B, H, Tq], then the dq accumulator [B, Tq, H, D] (256-byte aligned).
  const size_t delta_floats = (rows + 63) / 64 * 64;
  DeviceBuffer workspace(sizeof(float) * (delta_floats + rows * a.p.D));
  float* delta = workspace.floats();
  a.dq_accum = delta + delta_floats;
  check(cudaMemsetAsync(a.dq_accum, 0, sizeof(float) * rows * a.p.D, 0), "attention_backward: cudaMemsetAsync (dq)");

  constexpr int kElementwiseThreads = 256;
  const auto delta_kernel = precision == Precision::BF16   ? attention_backward_delta_kernel<Precision::BF16>
                            : precision == Precision::TF32 ? attention_backward_delta_kernel<Precision::TF32>
                                                           : attention_backward_delta_kernel<Precision::Float32>;
  W2S_LAUNCH(delta_kernel, grid_size((rows * 32 + kElementwiseThreads - 1) / kElementwiseThreads, "attention_backward"),
             kElementwiseThreads, 0, a.p, out.data, strides_of(out), dout.data, strides_of(dout), delta);
  check_launch("attention_backward (delta)");

  a.q = q.data;
  a.k = k.data;
  a.v = v.data;
  a.dout = dout.data;
  a.lse = lse;
  a.delta = delta;
  a.dk = dk.data;
  a.dv = dv.data;
  a.qs = strides_of(q);
  a.ks = strides_of(k);
  a.vs = strides_of(v);
  a.dos = strides_of(dout);
  a.dks = strides_of(dk);
  a.dvs = strides_of(dv);
  dispatch<BackwardLauncher>(precision, a.p.D, a);

  const int64_t elements = rows * a.p.D;
  W2S_LAUNCH(attention_backward_dq_kernel,
             grid_size((elements + kElementwiseThreads - 1) / kElementwiseThreads, "attention_backward"),
             kElementwiseThreads, 0, a.p, a.dq_accum, dq.data, strides_of(dq));
  check_launch("attention_backward (dq)");
}

}  // namespace w2s::cuda
