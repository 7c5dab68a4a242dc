// The engine's device-neutral interface: memory and every kernel the architectures need.
// model.cpp is written once against it; a device supplies the kernels (cpu_device.cpp, and
// src/cuda/engine_device.cu). Pointers are device pointers; upload/download move data from/to the host.
// Each kernel has the contract and layouts of its CPU version in include/w2s/layers.h and
// include/w2s/kernels.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "w2s/cuda.h"
#include "w2s/kernels.h"
#include "w2s/layers.h"

namespace w2s::engine {

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;

  // Memory: zero-initialised, aligned, released with release().
  virtual void* allocate(int64_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void upload(void* dst, const void* host, int64_t bytes) = 0;
  virtual void download(void* host, const void* src, int64_t bytes) = 0;
  virtual void copy(void* dst, const void* src, int64_t bytes) = 0;
  virtual void fill_zero(void* dst, int64_t bytes) = 0;

  // C[M,N] = alpha·op(A)·op(B) + beta·C, row-major (kernels.h sgemm).
  virtual void matmul(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) = 0;

  virtual void layer_norm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps,
                                  float* y, float* mean, float* rstd) = 0;
  virtual void layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean,
                                   const float* rstd, int64_t n, int64_t d, float* dx, float* dw, float* db) = 0;
  virtual void rms_norm_forward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y,
                                float* rstd) = 0;
  virtual void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n,
                                 int64_t d, float* dx, float* dw) = 0;
  // exact: GELU with erf (layers.h gelu_exact_*), else its tanh approximation (gelu_*).
  virtual void gelu_forward(const float* u, int64_t count, bool exact, float* y) = 0;
  virtual void gelu_backward(const float* u, const float* dy, int64_t count, bool exact, float* du) = 0;
  virtual void swiglu_forward(const float* gu, int64_t n, int64_t f, float* y) = 0;
  virtual void swiglu_backward(const float* gu, const float* dy, int64_t n, int64_t f, float* dgu) = 0;
  // cos/sin tables [seq_len, rotary_dim/2] live on the device (uploaded by the model).
  virtual void rope_apply(float* x, int64_t n, int64_t seq_len, int64_t row_stride, int64_t heads,
                          int64_t head_dim, int64_t rotary_dim, const float* cos, const float* sin, bool inverse) = 0;
  virtual void embedding_forward(const int32_t* tokens, const float* table, const float* positions, int64_t n,
                                 int64_t seq_len, int64_t d, float* out) = 0;
  virtual void embedding_backward(const int32_t* tokens, const float* dout, int64_t n, int64_t seq_len, int64_t d,
                                  float* dtable, float* dpositions) = 0;
  virtual void add_bias(float* y, const float* b, int64_t n, int64_t d) = 0;
  virtual void bias_backward(const float* dy, int64_t n, int64_t d, float* db) = 0;
  virtual void add_inplace(float* y, const float* x, int64_t count) = 0;
  virtual void dropout_apply(float* x, int64_t count, float p, uint64_t seed) = 0;
  // dst[i] = src[rows[i]] for i < count (rows of width d); dst_rows += for the backward.
  virtual void gather_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) = 0;
  virtual void scatter_add_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) = 0;

  // Attention on views into the fused QKV rows (any head size; kernels.h attention contract).
  virtual void attention_forward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                                 const AttentionOptions& options, View4 out, float* lse) = 0;
  virtual void attention_backward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                                  ConstView4 out, const float* lse, ConstView4 dout, const AttentionOptions& options,
                                  View4 dq, View4 dk, View4 dv) = 0;

  // Losses: value (returned to the host) and gradient (on the device), layouts as in kernels.h.
  virtual double token_xent_loss(const float* logits, const int32_t* targets, int64_t n, int64_t v, float scale,
                                 float* dlogits) = 0;
  virtual double xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz) = 0;
  virtual double logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz) = 0;
  virtual double product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta,
                              float* dz) = 0;

  virtual void adamw_update(float* p, const float* g, float* m, float* v, int64_t count, const AdamWStep& s) = 0;
  virtual double sum_squares(const float* x, int64_t count) = 0;
  virtual void scale_inplace(float* x, int64_t count, float s) = 0;
};

// The CPU device: the kernels of src/cpu on host memory, threads from the kernels' pool. Its matrix
// products are sgemm (Float32) or bf16_gemm (BF16: inputs rounded to bfloat16, float32 sums; the
// attention kernels and everything else stay float32).
enum class CpuProducts { Float32, BF16 };
std::unique_ptr<Device> make_cpu_device(CpuProducts products = CpuProducts::Float32);

// The CUDA device (src/cuda/engine_device.cu): everything resident on GPU 0; precision applies to
// the matrix products and attention. Throws cuda::Unavailable (with the reason) without a GPU.
std::unique_ptr<Device> make_cuda_device(cuda::Precision precision);

}  // namespace w2s::engine
