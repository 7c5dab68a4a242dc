// The engine's CUDA device (src/engine/device.h): parameters, gradients, AdamW state and
// activations live in device memory, and every kernel the two architectures need runs on the GPU,
// with the contracts and layouts of include/w2s/layers.h and kernels.h. The matrix products go to
// cuBLAS (blas.h), attention and the classifier losses to attention.cu and losses.cu; the rest is
// here. Precision applies to the matrix products and attention (TF32 or bf16 tensor cores with
// float32 accumulation); everything else, and the parameters, stay float32.
//
// Kernels (N rows of width d unless said otherwise):
//   layer/rms norm forward   one warp per row: mean and variance (two passes) in float
//   norm backward            one warp per row for dx; dw, db summed per block in shared memory,
//                            then added to the outputs with atomics
//   elementwise              grid-stride loops (GELU, SwiGLU, bias, residual, dropout, AdamW, scale)
//   embedding / scatter      atomics for the gradients (a token may appear many times)
//   token cross-entropy      one block per row (V may be 50k), the row losses reduced in a fixed
//                            order by one block
//   sum of squares           per-block float64 partials, then one block in a fixed order
// Column sums with atomics (norm and bias gradients, embeddings) are summed in an order that can
// change from run to run: their last bits may differ between runs; the CPU device is bit-exact.
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <vector>

#include "../engine/device.h"
#include "blas.h"
#include "check.h"
#include "reduce.cuh"

namespace w2s::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int kMaxBlocks = 4096;
constexpr int kMaxNormWidth = 16384;  // shared-memory column sums of the norm backward

unsigned int blocks_for(int64_t count, int64_t per_block = kThreads) {
  const int64_t blocks = (count + per_block - 1) / per_block;
  return static_cast<unsigned int>(blocks < 1 ? 1 : blocks > kMaxBlocks ? kMaxBlocks : blocks);
}

#define W2S_GRID_STRIDE(i, count)                                                                        \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (count);             \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// ---- norms --------------------------------------------------------------------------------------

// LayerNorm (b may be null) or RMSNorm (rms): x, y [N, d]; w, b [d]; mean (LayerNorm), rstd [N].
__global__ void __launch_bounds__(kThreads) norm_forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                                const float* __restrict__ b, int64_t n, int d, float eps,
                                                                bool rms, float* __restrict__ y, float* __restrict__ mean,
                                                                float* __restrict__ rstd) {
  const int lane = threadIdx.x % 32;
  for (int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; r < n;
       r += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const float* xr = x + r * d;
    float mu = 0.0f;
    if (!rms) {
      float s = 0.0f;
      for (int j = lane; j < d; j += 32) s += xr[j];
      mu = warp_sum(s) / static_cast<float>(d);
    }
    float sq = 0.0f;
    for (int j = lane; j < d; j += 32) {
      const float c = xr[j] - mu;
      sq = fmaf(c, c, sq);
    }
    const float rs = rsqrtf(warp_sum(sq) / static_cast<float>(d) + eps);
    float* yr = y + r * d;
    for (int j = lane; j < d; j += 32) yr[j] = (xr[j] - mu) * rs * w[j] + (b ? b[j] : 0.0f);
    if (lane == 0) {
      if (!rms) mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

// With x̂ = (x − μ)·rstd (μ = 0 for RMSNorm) and g = dy ⊙ w:
//   LayerNorm dx += rstd·(g − mean(g) − x̂·mean(g ⊙ x̂));  RMSNorm dx += rstd·(g − x̂·mean(g ⊙ x̂)).
// dw += Σ dy ⊙ x̂ and db += Σ dy (db may be null) via per-block shared sums (dynamic: 2 d floats).
__global__ void __launch_bounds__(kThreads) norm_backward_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                                                 const float* __restrict__ w, const float* __restrict__ mean,
                                                                 const float* __restrict__ rstd, int64_t n, int d, bool rms,
                                                                 float* __restrict__ dx, float* __restrict__ dw,
                                                                 float* __restrict__ db) {
  W2S_DYNAMIC_SHARED(smem);
  float* dw_sum = reinterpret_cast<float*>(smem);
  float* db_sum = dw_sum + d;
  for (int j = threadIdx.x; j < 2 * d; j += kThreads) dw_sum[j] = 0.0f;
  __syncthreads();
  const int lane = threadIdx.x % 32;
  for (int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; r < n;
       r += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const float* dyr = dy + r * d;
    const float* xr = x + r * d;
    const float mu = rms ? 0.0f : mean[r], rs = rstd[r];
    float g_sum = 0.0f, gx_sum = 0.0f;
    for (int j = lane; j < d; j += 32) {
      const float xhat = (xr[j] - mu) * rs;
      const float g = dyr[j] * w[j];
      g_sum += g;
      gx_sum = fmaf(g, xhat, gx_sum);
      atomicAdd(&dw_sum[j], dyr[j] * xhat);
      if (db) atomicAdd(&db_sum[j], dyr[j]);
    }
    const float g_mean = rms ? 0.0f : warp_sum(g_sum) / static_cast<float>(d);
    const float gx_mean = warp_sum(gx_sum) / static_cast<float>(d);
    float* dxr = dx + r * d;
    for (int j = lane; j < d; j += 32) {
      const float xhat = (xr[j] - mu) * rs;
      dxr[j] += rs * (dyr[j] * w[j] - g_mean - xhat * gx_mean);
    }
  }
  __syncthreads();
  for (int j = threadIdx.x; j < d; j += kThreads) {
    atomicAdd(&dw[j], dw_sum[j]);
    if (db) atomicAdd(&db[j], db_sum[j]);
  }
}

// ---- activations, bias, residual, dropout -----------------------------------------------------------

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/π)
constexpr float kGeluA = 0.044715f;

constexpr float kSqrtHalf = 0.7071067811865476f;    // 1/√2
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1/√(2π)

// backward false: y = gelu(u); true: du = dy · gelu'(u); exact: GELU with erf, else its tanh
// approximation (layers.h).   u, y, dy, du [count].
__global__ void gelu_kernel(const float* __restrict__ u, const float* __restrict__ dy, int64_t count, bool backward,
                            bool exact, float* __restrict__ out) {
  W2S_GRID_STRIDE(i, count) {
    const float x = u[i];
    if (exact) {
      const float cdf = 0.5f * (1.0f + erff(x * kSqrtHalf));
      out[i] = backward ? dy[i] * (cdf + x * kInvSqrt2Pi * expf(-0.5f * x * x)) : x * cdf;
    } else {
      const float t = tanhf(kGeluC * (x + kGeluA * x * x * x));
      out[i] = backward ? dy[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kGeluC * (1.0f + 3.0f * kGeluA * x * x))
                        : 0.5f * x * (1.0f + t);
    }
  }
}

// SwiGLU: gu [N, 2F] rows [g | u]; forward y [N, F] = silu(g) ⊙ u; backward dgu from dy [N, F]:
// dg = dy·u·s·(1 + g·(1 − s)), du = dy·g·s, s = sigmoid(g).
__global__ void swiglu_kernel(const float* __restrict__ gu, const float* __restrict__ dy, int64_t n, int64_t f,
                              bool backward, float* __restrict__ out) {
  W2S_GRID_STRIDE(i, n * f) {
    const int64_t r = i / f, j = i % f;
    const float g = gu[r * 2 * f + j], u = gu[r * 2 * f + f + j];
    const float s = 1.0f / (1.0f + expf(-g));
    if (backward) {
      out[r * 2 * f + j] = dy[i] * u * s * (1.0f + g * (1.0f - s));
      out[r * 2 * f + f + j] = dy[i] * g * s;
    } else {
      out[i] = g * s * u;
    }
  }
}

// y [N, d] += b [d] broadcast over rows.
__global__ void add_bias_kernel(float* __restrict__ y, const float* __restrict__ b, int64_t n, int64_t d) {
  W2S_GRID_STRIDE(i, n * d) y[i] += b[i % d];
}

// db [d] += Σ_r dy [N, d]: each thread sums one column over a slice of rows, then one atomic.
// Blocks: column_blocks per slice of rows_per_slice rows.
__global__ void bias_backward_kernel(const float* __restrict__ dy, int64_t n, int64_t d, int64_t rows_per_slice,
                                     unsigned int column_blocks, float* __restrict__ db) {
  const int64_t column = static_cast<int64_t>(blockIdx.x % column_blocks) * blockDim.x + threadIdx.x;
  if (column >= d) return;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x / column_blocks) * rows_per_slice, r1 = min(n, r0 + rows_per_slice);
  float s = 0.0f;
  for (int64_t r = r0; r < r1; ++r) s += dy[r * d + column];
  atomicAdd(&db[column], s);
}

__global__ void add_kernel(float* __restrict__ y, const float* __restrict__ x, int64_t count) {
  W2S_GRID_STRIDE(i, count) y[i] += x[i];
}

__global__ void scale_kernel(float* __restrict__ x, int64_t count, float s) {
  W2S_GRID_STRIDE(i, count) x[i] *= s;
}

// splitmix64, as the CPU's dropout: element i is kept when mix(mix(seed) ^ i) >> 32 >= p·2^32.
__device__ __host__ __forceinline__ uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

__global__ void dropout_kernel(float* __restrict__ x, int64_t count, uint64_t threshold, float keep_scale, uint64_t key) {
  W2S_GRID_STRIDE(i, count) {
    const uint64_t u = mix(key ^ static_cast<uint64_t>(i)) >> 32;
    x[i] = u >= threshold ? x[i] * keep_scale : 0.0f;
  }
}

// AdamW (layers.h): p, g, m, v [count]; inv_bc1 = 1/(1 − β1^t), inv_bc2 = 1/(1 − β2^t).
__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                             float* __restrict__ v, int64_t count, AdamWStep s, float inv_bc1, float inv_bc2) {
  W2S_GRID_STRIDE(i, count) {
    const float gi = g[i] * s.grad_scale;
    const float mi = s.beta1 * m[i] + (1.0f - s.beta1) * gi;
    const float vi = s.beta2 * v[i] + (1.0f - s.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= s.lr * ((mi * inv_bc1) / (sqrtf(vi * inv_bc2) + s.eps) + s.weight_decay * p[i]);
  }
}

// ---- rotary embedding, embeddings, row gathers ------------------------------------------------------

// In place on the first rotary_dim dims of the first `heads` heads of each of N rows of row_stride
// floats; cos, sin [seq_len, rotary_dim/2] (layers.h rope_apply).
__global__ void rope_kernel(float* __restrict__ x, int64_t n, int64_t seq_len, int64_t row_stride, int64_t heads,
                            int64_t head_dim, int64_t rotary_dim, const float* __restrict__ cos,
                            const float* __restrict__ sin, float sign) {
  const int64_t half = rotary_dim / 2;
  W2S_GRID_STRIDE(i, n * heads * half) {
    const int64_t j = i % half, h = (i / half) % heads, r = i / (half * heads);
    float* lo = x + r * row_stride + h * head_dim;
    const float c = cos[(r % seq_len) * half + j], s = sign * sin[(r % seq_len) * half + j];
    const float a = lo[j], b = lo[j + half];
    lo[j] = a * c - b * s;
    lo[j + half] = b * c + a * s;
  }
}

// out [N, d] = table [V, d] rows of tokens [N] (+ positions [≥ T, d] row r % T).
__global__ void embedding_forward_kernel(const int32_t* __restrict__ tokens, const float* __restrict__ table,
                                         const float* __restrict__ positions, int64_t n, int64_t seq_len, int64_t d,
                                         float* __restrict__ out) {
  W2S_GRID_STRIDE(i, n * d) {
    const int64_t r = i / d, j = i % d;
    out[i] = table[static_cast<int64_t>(tokens[r]) * d + j] + (positions ? positions[(r % seq_len) * d + j] : 0.0f);
  }
}

// dtable [V, d] += dout rows by token; dpositions [≥ T, d] += by position (may be null).
__global__ void embedding_backward_kernel(const int32_t* __restrict__ tokens, const float* __restrict__ dout, int64_t n,
                                          int64_t seq_len, int64_t d, float* __restrict__ dtable,
                                          float* __restrict__ dpositions) {
  W2S_GRID_STRIDE(i, n * d) {
    const int64_t r = i / d, j = i % d;
    atomicAdd(&dtable[static_cast<int64_t>(tokens[r]) * d + j], dout[i]);
    if (dpositions) atomicAdd(&dpositions[(r % seq_len) * d + j], dout[i]);
  }
}

// dst [count, d] = src rows `rows` (gather), or dst rows += src [count, d] (scatter_add).
__global__ void rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ rows, int64_t count, int64_t d,
                            bool scatter_add, float* __restrict__ dst) {
  W2S_GRID_STRIDE(i, count * d) {
    const int64_t k = i / d, j = i % d, row = rows[k];
    if (scatter_add)
      atomicAdd(&dst[row * d + j], src[i]);
    else
      dst[i] = src[row * d + j];
  }
}

// Copies a [B, T, H, D] view into / out of a contiguous [B, T, H, Dp] buffer (zeros in D..Dp).
__global__ void pad_heads_kernel(const float* __restrict__ src, int64_t s0, int64_t s1, int64_t s2, int64_t b, int64_t t,
                                 int64_t h, int64_t d, int64_t dp, bool unpad, float* __restrict__ dst) {
  W2S_GRID_STRIDE(i, b * t * h * dp) {
    const int64_t c = i % dp, hh = (i / dp) % h, tt = (i / (dp * h)) % t, bb = i / (dp * h * t);
    const int64_t view = bb * s0 + tt * s1 + hh * s2 + c;
    if (unpad) {
      if (c < d) dst[view] = src[i];
    } else {
      dst[i] = c < d ? src[view] : 0.0f;
    }
  }
}

// ---- reductions and the token loss -------------------------------------------------------------------

// partials[block] = Σ x² over the block's grid-stride elements (float64).
__global__ void __launch_bounds__(kThreads) sum_squares_kernel(const float* __restrict__ x, int64_t count,
                                                               double* __restrict__ partials) {
  double s = 0.0;
  W2S_GRID_STRIDE(i, count) s += static_cast<double>(x[i]) * x[i];
  const double total = block_sum<kWarpsPerBlock>(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// result = Σ values[0..count) in order (one block, thread 0).
__global__ void sum_in_order_kernel(const double* __restrict__ values, int64_t count, double* __restrict__ result) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double s = 0.0;
  for (int64_t i = 0; i < count; ++i) s += values[i];
  *result = s;
}

// One block per row of logits [N, V]: row_loss[r] = lse − z[t] (0 for t = −1), dlogits = scale ·
// (softmax − onehot(t)) (0 rows for t = −1; in place allowed), bad[r] = 1 when the row holds NaN/Inf.
__global__ void __launch_bounds__(kThreads) token_xent_kernel(const float* logits, const int32_t* __restrict__ targets,
                                                              int64_t v, float scale, float* dlogits,
                                                              double* __restrict__ row_loss, int* __restrict__ bad) {
  __shared__ float reduce[kWarpsPerBlock];
  const int64_t r = blockIdx.x;
  const float* z = logits + r * v;
  float* dz = dlogits + r * v;
  const int32_t t = targets[r];
  if (t < 0) {
    for (int64_t j = threadIdx.x; j < v; j += kThreads) dz[j] = 0.0f;
    if (threadIdx.x == 0) row_loss[r] = 0.0, bad[r] = 0;
    return;
  }
  float mx = -INFINITY, probe = 0.0f;
  for (int64_t j = threadIdx.x; j < v; j += kThreads) {
    mx = fmaxf(mx, z[j]);
    probe += z[j] * 0.0f;  // NaN exactly when some z is not finite
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, offset));
    probe += __shfl_xor_sync(0xffffffffu, probe, offset);
  }
  if (threadIdx.x % 32 == 0) reduce[threadIdx.x / 32] = mx;
  __syncthreads();
  mx = reduce[0];
  for (int w = 1; w < kWarpsPerBlock; ++w) mx = fmaxf(mx, reduce[w]);
  __syncthreads();
  if (threadIdx.x % 32 == 0) reduce[threadIdx.x / 32] = probe;
  __syncthreads();
  probe = 0.0f;
  for (int w = 0; w < kWarpsPerBlock; ++w) probe += reduce[w];
  __syncthreads();
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < v; j += kThreads) sum += expf(z[j] - mx);
  sum = warp_sum(sum);
  if (threadIdx.x % 32 == 0) reduce[threadIdx.x / 32] = sum;
  __syncthreads();
  sum = 0.0f;
  for (int w = 0; w < kWarpsPerBlock; ++w) sum += reduce[w];
  const bool finite = isfinite(mx) && probe == 0.0f && isfinite(sum);
  const float zt = z[t];
  __syncthreads();  // every thread has read z[t] before dz (which may be z) is written
  const float inv = scale / sum;
  for (int64_t j = threadIdx.x; j < v; j += kThreads) dz[j] = expf(z[j] - mx) * inv - (j == t ? scale : 0.0f);
  if (threadIdx.x == 0) {
    row_loss[r] = finite ? static_cast<double>(logf(sum)) + mx - zt : 0.0;
    bad[r] = finite ? 0 : 1;
  }
}

// ---- the device ----------------------------------------------------------------------------------------

class CudaDevice final : public engine::Device {
 public:
  explicit CudaDevice(Precision precision) : precision_(precision) {
    require_device();
    name_ = "cuda (" + device_description() + ", " + precision_name(precision) + ")";
  }
  std::string name() const override { return name_; }

  void* allocate(int64_t bytes) override {
    void* p = nullptr;
    const size_t size = static_cast<size_t>(bytes < 1 ? 1 : bytes);
    check(cudaMallocAsync(&p, size, 0), ("engine: cudaMallocAsync(" + std::to_string(size) + " bytes)").c_str());
    check(cudaMemsetAsync(p, 0, size, 0), "engine: cudaMemsetAsync");
    return p;
  }
  void release(void* p) override { cudaFreeAsync(p, 0); }
  void upload(void* dst, const void* host, int64_t bytes) override { copy_to_device(dst, host, static_cast<size_t>(bytes)); }
  void download(void* host, const void* src, int64_t bytes) override { copy_to_host(host, src, static_cast<size_t>(bytes)); }
  void copy(void* dst, const void* src, int64_t bytes) override { copy_on_device(dst, src, static_cast<size_t>(bytes)); }
  void fill_zero(void* dst, int64_t bytes) override { fill_bytes(dst, 0, static_cast<size_t>(bytes)); }

  void matmul(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override {
    gemm(precision_, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  void layer_norm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                          float* mean, float* rstd) override {
    norm_forward(x, w, b, n, d, eps, false, y, mean, rstd);
  }
  void layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                           int64_t n, int64_t d, float* dx, float* dw, float* db) override {
    norm_backward(dy, x, w, mean, rstd, n, d, false, dx, dw, db);
  }
  void rms_norm_forward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd) override {
    norm_forward(x, w, nullptr, n, d, eps, true, y, nullptr, rstd);
  }
  void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d,
                         float* dx, float* dw) override {
    norm_backward(dy, x, w, nullptr, rstd, n, d, true, dx, dw, nullptr);
  }

  void gelu_forward(const float* u, int64_t count, bool exact, float* y) override {
    W2S_LAUNCH(gelu_kernel, blocks_for(count), kThreads, 0, u, nullptr, count, false, exact, y);
    check_launch("gelu_forward");
  }
  void gelu_backward(const float* u, const float* dy, int64_t count, bool exact, float* du) override {
    W2S_LAUNCH(gelu_kernel, blocks_for(count), kThreads, 0, u, dy, count, true, exact, du);
    check_launch("gelu_backward");
  }
  void swiglu_forward(const float* gu, int64_t n, int64_t f, float* y) override {
    W2S_LAUNCH(swiglu_kernel, blocks_for(n * f), kThreads, 0, gu, nullptr, n, f, false, y);
    check_launch("swiglu_forward");
  }
  void swiglu_backward(const float* gu, const float* dy, int64_t n, int64_t f, float* dgu) override {
    W2S_LAUNCH(swiglu_kernel, blocks_for(n * f), kThreads, 0, gu, dy, n, f, true, dgu);
    check_launch("swiglu_backward");
  }

  void rope_apply(float* x, int64_t n, int64_t seq_len, int64_t row_stride, int64_t heads, int64_t head_dim,
                  int64_t rotary_dim, const float* cos, const float* sin, bool inverse) override {
    W2S_LAUNCH(rope_kernel, blocks_for(n * heads * (rotary_dim / 2)), kThreads, 0, x, n, seq_len, row_stride, heads,
               head_dim, rotary_dim, cos, sin, inverse ? -1.0f : 1.0f);
    check_launch("rope_apply");
  }
  void embedding_forward(const int32_t* tokens, const float* table, const float* positions, int64_t n,
                         int64_t seq_len, int64_t d, float* out) override {
    W2S_LAUNCH(embedding_forward_kernel, blocks_for(n * d), kThreads, 0, tokens, table, positions, n, seq_len, d, out);
    check_launch("embedding_forward");
  }
  void embedding_backward(const int32_t* tokens, const float* dout, int64_t n, int64_t seq_len, int64_t d,
                          float* dtable, float* dpositions) override {
    W2S_LAUNCH(embedding_backward_kernel, blocks_for(n * d), kThreads, 0, tokens, dout, n, seq_len, d, dtable,
               dpositions);
    check_launch("embedding_backward");
  }
  void add_bias(float* y, const float* b, int64_t n, int64_t d) override {
    W2S_LAUNCH(add_bias_kernel, blocks_for(n * d), kThreads, 0, y, b, n, d);
    check_launch("add_bias");
  }
  void bias_backward(const float* dy, int64_t n, int64_t d, float* db) override {
    constexpr int64_t kRowsPerSlice = 256;
    const auto column_blocks = static_cast<unsigned int>((d + kThreads - 1) / kThreads);
    const auto slices = static_cast<unsigned int>((n + kRowsPerSlice - 1) / kRowsPerSlice);
    W2S_LAUNCH(bias_backward_kernel, column_blocks * slices, kThreads, 0, dy, n, d, kRowsPerSlice, column_blocks, db);
    check_launch("bias_backward");
  }
  void add_inplace(float* y, const float* x, int64_t count) override {
    W2S_LAUNCH(add_kernel, blocks_for(count), kThreads, 0, y, x, count);
    check_launch("add_inplace");
  }
  void dropout_apply(float* x, int64_t count, float p, uint64_t seed) override {
    if (p <= 0.0f) return;
    const uint64_t threshold = static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
    W2S_LAUNCH(dropout_kernel, blocks_for(count), kThreads, 0, x, count, threshold, 1.0f / (1.0f - p), mix(seed));
    check_launch("dropout_apply");
  }
  void gather_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) override {
    W2S_LAUNCH(rows_kernel, blocks_for(count * d), kThreads, 0, src, rows, count, d, false, dst);
    check_launch("gather_rows");
  }
  void scatter_add_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) override {
    W2S_LAUNCH(rows_kernel, blocks_for(count * d), kThreads, 0, src, rows, count, d, true, dst);
    check_launch("scatter_add_rows");
  }

  // Head sizes that are not a multiple of 16 are padded with zeros into scratch buffers (zero
  // columns change neither the scores nor the outputs; the scale stays 1/sqrt(true head size)).
  void attention_forward(const AttentionShape& s, ConstView4 q, ConstView4 k, ConstView4 v,
                         const AttentionOptions& options, View4 out, float* lse) override {
    if (s.head_dim % 16 == 0) return cuda::attention_forward(s, q, k, v, options, precision_, out, lse);
    const int64_t dp = (s.head_dim + 15) / 16 * 16;
    float* qp = pad(0, q, s.batch, s.q_len, s.heads, s.head_dim, dp);
    float* kp = pad(1, k, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp);
    float* vp = pad(2, v, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp);
    float* op = scratch(3, s.batch * s.q_len * s.heads * dp);
    AttentionShape ps = s;
    ps.head_dim = dp;
    cuda::attention_forward(ps, cview(qp, s.q_len, s.heads, dp), cview(kp, s.kv_len, s.kv_heads, dp),
                            cview(vp, s.kv_len, s.kv_heads, dp), true_scale(s, options), precision_,
                            contiguous_view(op, s.q_len, s.heads, dp), lse);
    unpad(op, s.batch, s.q_len, s.heads, s.head_dim, dp, out);
  }
  void attention_backward(const AttentionShape& s, ConstView4 q, ConstView4 k, ConstView4 v, ConstView4 out,
                          const float* lse, ConstView4 dout, const AttentionOptions& options, View4 dq, View4 dk,
                          View4 dv) override {
    if (s.head_dim % 16 == 0)
      return cuda::attention_backward(s, q, k, v, out, lse, dout, options, precision_, dq, dk, dv);
    const int64_t dp = (s.head_dim + 15) / 16 * 16;
    const int64_t q_count = s.batch * s.q_len * s.heads * dp, kv_count = s.batch * s.kv_len * s.kv_heads * dp;
    float* qp = pad(0, q, s.batch, s.q_len, s.heads, s.head_dim, dp);
    float* kp = pad(1, k, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp);
    float* vp = pad(2, v, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp);
    float* op = pad(3, out, s.batch, s.q_len, s.heads, s.head_dim, dp);
    float* dop = pad(4, dout, s.batch, s.q_len, s.heads, s.head_dim, dp);
    float* dqp = scratch(5, q_count);
    float* dkp = scratch(6, kv_count);
    float* dvp = scratch(7, kv_count);
    AttentionShape ps = s;
    ps.head_dim = dp;
    cuda::attention_backward(ps, cview(qp, s.q_len, s.heads, dp), cview(kp, s.kv_len, s.kv_heads, dp),
                             cview(vp, s.kv_len, s.kv_heads, dp), cview(op, s.q_len, s.heads, dp), lse,
                             cview(dop, s.q_len, s.heads, dp), true_scale(s, options), precision_,
                             contiguous_view(dqp, s.q_len, s.heads, dp), contiguous_view(dkp, s.kv_len, s.kv_heads, dp),
                             contiguous_view(dvp, s.kv_len, s.kv_heads, dp));
    unpad(dqp, s.batch, s.q_len, s.heads, s.head_dim, dp, dq);
    unpad(dkp, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp, dk);
    unpad(dvp, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp, dv);
  }

  double token_xent_loss(const float* logits, const int32_t* targets, int64_t n, int64_t v, float scale,
                         float* dlogits) override {
    DeviceBuffer rows(sizeof(double) * (n + 1)), bad(sizeof(int) * n);
    double* row_loss = static_cast<double*>(rows.data());
    W2S_LAUNCH(token_xent_kernel, static_cast<unsigned int>(n), kThreads, 0, logits, targets, v, scale, dlogits, row_loss,
               static_cast<int*>(bad.data()));
    check_launch("token_xent_loss");
    W2S_LAUNCH(sum_in_order_kernel, 1, 32, 0, row_loss, n, row_loss + n);
    check_launch("token_xent_loss (sum)");
    double total = 0.0;
    copy_to_host(&total, row_loss + n, sizeof total);
    std::vector<int> flags(n);
    copy_to_host(flags.data(), bad.data(), sizeof(int) * n);
    for (int64_t r = 0; r < n; ++r)
      if (flags[r]) throw NonFiniteInput("logits row " + std::to_string(r) + " holds NaN or Inf");
    return total;
  }
  double xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz) override {
    return cuda::xent_loss(z, y, n, c, dz, "softTargets");
  }
  double logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz) override {
    return cuda::logconf_loss(z, y, n, c, alpha, dz, "softTargets");
  }
  double product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta,
                      float* dz) override {
    return cuda::product_loss(z, y, n, c, alpha, beta, dz, "softTargets");
  }

  void adamw_update(float* p, const float* g, float* m, float* v, int64_t count, const AdamWStep& s) override {
    const double bc1 = 1.0 - std::pow(static_cast<double>(s.beta1), static_cast<double>(s.step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(s.beta2), static_cast<double>(s.step));
    W2S_LAUNCH(adamw_kernel, blocks_for(count), kThreads, 0, p, g, m, v, count, s, static_cast<float>(1.0 / bc1),
               static_cast<float>(1.0 / bc2));
    check_launch("adamw_update");
  }
  double sum_squares(const float* x, int64_t count) override {
    const unsigned int blocks = blocks_for(count);
    DeviceBuffer partials(sizeof(double) * (blocks + 1));
    double* p = static_cast<double*>(partials.data());
    W2S_LAUNCH(sum_squares_kernel, blocks, kThreads, 0, x, count, p);
    check_launch("sum_squares");
    W2S_LAUNCH(sum_in_order_kernel, 1, 32, 0, p, static_cast<int64_t>(blocks), p + blocks);
    check_launch("sum_squares (sum)");
    double total = 0.0;
    copy_to_host(&total, p + blocks, sizeof total);
    return total;
  }
  void scale_inplace(float* x, int64_t count, float s) override {
    W2S_LAUNCH(scale_kernel, blocks_for(count), kThreads, 0, x, count, s);
    check_launch("scale_inplace");
  }

 private:
  void norm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, bool rms, float* y,
                    float* mean, float* rstd) {
    W2S_LAUNCH(norm_forward_kernel, blocks_for(n, kWarpsPerBlock), kThreads, 0, x, w, b, n, static_cast<int>(d), eps,
               rms, y, mean, rstd);
    check_launch(rms ? "rms_norm_forward" : "layer_norm_forward");
  }
  void norm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd, int64_t n,
                     int64_t d, bool rms, float* dx, float* dw, float* db) {
    if (d > kMaxNormWidth)
      throw InvalidArgument(InvalidArgument::Kind::Range, "norm backward on CUDA: row width " + std::to_string(d) +
                                                              " exceeds " + std::to_string(kMaxNormWidth));
    const size_t shared = sizeof(float) * 2 * d;
    static bool allowed = false;
    if (!allowed) {
      check(cudaFuncSetAttribute(norm_backward_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(sizeof(float) * 2 * kMaxNormWidth)),
            "norm_backward: cudaFuncSetAttribute");
      allowed = true;
    }
    W2S_LAUNCH(norm_backward_kernel, blocks_for(n, kWarpsPerBlock * 8), kThreads, shared, dy, x, w, mean, rstd, n,
               static_cast<int>(d), rms, dx, dw, db);
    check_launch(rms ? "rms_norm_backward" : "layer_norm_backward");
  }

  static AttentionOptions true_scale(const AttentionShape& s, AttentionOptions options) {
    if (options.scale == 0.0f) options.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    return options;
  }
  static ConstView4 cview(const float* p, int64_t t, int64_t h, int64_t d) { return contiguous_view(p, t, h, d); }
  float* scratch(int slot, int64_t count) {
    DeviceBuffer& buffer = scratch_[slot];
    if (buffer.bytes() < sizeof(float) * count) buffer = DeviceBuffer(sizeof(float) * count);
    return buffer.floats();
  }
  float* pad(int slot, const ConstView4& src, int64_t b, int64_t t, int64_t h, int64_t d, int64_t dp) {
    float* dst = scratch(slot, b * t * h * dp);
    W2S_LAUNCH(pad_heads_kernel, blocks_for(b * t * h * dp), kThreads, 0, src.data, src.stride[0], src.stride[1],
               src.stride[2], b, t, h, d, dp, false, dst);
    check_launch("attention (pad heads)");
    return dst;
  }
  void unpad(const float* src, int64_t b, int64_t t, int64_t h, int64_t d, int64_t dp, const View4& dst) {
    W2S_LAUNCH(pad_heads_kernel, blocks_for(b * t * h * dp), kThreads, 0, src, dst.stride[0], dst.stride[1],
               dst.stride[2], b, t, h, d, dp, true, dst.data);
    check_launch("attention (unpad heads)");
  }

  Precision precision_;
  std::string name_;
  DeviceBuffer scratch_[8];
};

}  // namespace
}  // namespace w2s::cuda

namespace w2s::engine {

std::unique_ptr<Device> make_cuda_device(cuda::Precision precision) {
  return std::make_unique<cuda::CudaDevice>(precision);
}

}  // namespace w2s::engine
