// The public C++ API of the w2s kernel library (CPU). No Node.js here: the N-API binding
// (src/napi) and the C++ tests (tests/) both sit on top of this header.
//
// Conventions
// - float32 everywhere, row-major; strides are counted in elements, not bytes.
// - Outputs (out, lse, dq, dk, dv, dz, C) must not overlap any input: the kernels read inputs while
//   they write outputs, and the tile micro-kernel is compiled with restrict-qualified pointers.
// - Every function validates what it cannot trust and throws w2s::InvalidArgument (a bad argument,
//   mapped to RangeError/TypeError by the binding) or w2s::NonFiniteInput (NaN/Inf in an input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace w2s {

// A caller error: the message names the argument and what was expected.
class InvalidArgument : public std::invalid_argument {
 public:
  enum class Kind { Type, Range };
  InvalidArgument(Kind kind, const std::string& message) : std::invalid_argument(message), kind(kind) {}
  Kind kind;
};

// NaN or +-Inf found in an input tensor: the message names the tensor and the first bad element.
class NonFiniteInput : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// Threads

// Number of threads used by the kernels and by the BLAS (default: all cores). n >= 1.
void set_num_threads(int n);
int num_threads();

// One line per fact: which BLAS, threads, CUDA status. Stable keys, human-readable values.
struct BackendInfo {
  std::string blas;          // "onednn 2.6.3 (...)", "openblas (Haswell, ...)" or "blocked-gemm"
  std::string blas_note;     // empty, or the one-line hint naming the package to install
  int threads = 1;
  std::string simd;          // the vector ISA the kernels were compiled for, e.g. "avx512f"
  bool cuda_compiled = false;
  bool cuda_available = false;
  std::string cuda_reason;   // why CUDA is not available (empty when it is)
  std::string cuda_device;   // name of device 0 when available
};
BackendInfo backend_info();

// ---------------------------------------------------------------------------------------------
// Fused multi-head attention
//
// Layouts (element strides, innermost D must be contiguous: stride[3] == 1):
//   q    [B, Tq, H,   D]        k, v [B, Tk, Hkv, D]       (views: may live in one [B,T,3,H,D] buffer)
//   out  [B, Tq, H,   D]        lse  [B, H, Tq] contiguous (natural log of the softmax denominator)
//   dout [B, Tq, H,   D]        dq [B,Tq,H,D], dk dv [B,Tk,Hkv,D] (views, written, not accumulated)
// Grouped-query attention: query head h reads key/value head h / (H / Hkv).
// Causal masking is aligned bottom-right (query i sees keys j <= i + Tk - Tq), so it needs Tk >= Tq.
// kv_lengths (optional, [B]): keys j >= kv_lengths[b] are masked (right padding), 1 <= len <= Tk.
// Supported head sizes: D a multiple of 16, 16 <= D <= 256.

struct AttentionShape {
  int64_t batch = 0;     // B
  int64_t q_len = 0;     // Tq
  int64_t kv_len = 0;    // Tk
  int64_t heads = 0;     // H
  int64_t kv_heads = 0;  // Hkv
  int64_t head_dim = 0;  // D
};

struct ConstView4 {
  const float* data = nullptr;
  int64_t stride[4] = {0, 0, 0, 1};
};
struct View4 {
  float* data = nullptr;
  int64_t stride[4] = {0, 0, 0, 1};
};

// Views of a contiguous [B, T, H, D] buffer.
inline ConstView4 contiguous_view(const float* data, int64_t length, int64_t heads, int64_t head_dim) {
  ConstView4 v;
  v.data = data;
  v.stride[0] = length * heads * head_dim;
  v.stride[1] = heads * head_dim;
  v.stride[2] = head_dim;
  return v;
}
inline View4 contiguous_view(float* data, int64_t length, int64_t heads, int64_t head_dim) {
  View4 v;
  v.data = data;
  v.stride[0] = length * heads * head_dim;
  v.stride[1] = heads * head_dim;
  v.stride[2] = head_dim;
  return v;
}

struct AttentionOptions {
  bool causal = false;
  float scale = 0.0f;                    // 0 means 1/sqrt(D)
  const int32_t* kv_lengths = nullptr;   // nullptr: every key valid
};

void attention_forward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                       const AttentionOptions& options, View4 out, float* lse);

void attention_backward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                        ConstView4 out, const float* lse, ConstView4 dout,
                        const AttentionOptions& options, View4 dq, View4 dk, View4 dv);

// Scratch bytes the kernels allocate for a call (all threads together): O(threads x tile).
size_t attention_forward_workspace_bytes(const AttentionShape& shape, int threads);
size_t attention_backward_workspace_bytes(const AttentionShape& shape, int threads);

// Validates shape/options (sizes, GQA divisibility, D, lengths); throws InvalidArgument.
void validate_attention(const AttentionShape& shape, const AttentionOptions& options);

// ---------------------------------------------------------------------------------------------
// Weak-to-strong losses on logits z [N, C] and soft targets y [N, C] (rows are distributions).
// Each returns the mean loss over the N rows and writes dz [N, C] = d(mean loss)/dz.
// Inputs with NaN/Inf throw NonFiniteInput; targets that are not distributions throw InvalidArgument.

// Soft-label cross-entropy: mean_i -sum_c y_ic log softmax(z_i)_c.
// targets_name is how error messages call y (the binding passes the JS argument's name).
double xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz,
                      const char* targets_name = "targets");

// Auxiliary confidence loss: CE(z, (1 - alpha) y + alpha yhat), yhat hardened student predictions
// (stop-gradient). C == 2: p0 = softmax(z)[:,0], t = quantile(p0, mean(y[:,1])) with linear
// interpolation (torch.quantile), yhat = class 0 where p0 >= t else class 1, evaluated exactly
// through the order statistics of the margin z0 - z1 (p0 itself saturates in float32). C > 2:
// yhat is the one-hot argmax of z (first index on ties).
double logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz,
                     const char* targets_name = "targets");

// Product loss: target proportional to softmax(z)^beta * y^alpha (stop-gradient), CE(z, target).
// 0^0 is taken as 1 (as torch.pow), so alpha == 0 ignores y and beta == 0 ignores the student.
double product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta,
                    float* dz, const char* targets_name = "targets");

// ---------------------------------------------------------------------------------------------
// Matrix product (row-major): C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
// op(X) is X or X^T per trans flag; lda/ldb/ldc are row strides of the stored matrices.
// Goes to the BLAS when one was found at build time, else to the portable blocked GEMM.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The rounded copies of bf16_gemm's inputs, kept between calls by their owner (a model's device
// keeps one, so that its products reuse it and it is freed with the model).
struct Bf16Scratch {
  std::vector<uint16_t> a16, b16;  // bfloat16 bits (oneDNN's path)
  std::vector<float> a32, b32;     // the rounded values as floats (the fallback)
};

// sgemm's contract with A and B rounded to bfloat16 (round to nearest even) and the products summed
// in float32: the engine's bf16 precision (as CUDA's CUBLAS_COMPUTE_32F_FAST_16BF). oneDNN's bf16
// matmul where built with oneDNN 2.x and the CPU has AVX512-BF16 or AMX (twice sgemm's rate with
// AVX512-BF16 on Zen 4); else the rounded values through sgemm (the same rounding, float32 sums in
// sgemm's order, at sgemm's speed plus the rounding). scratch: where the copies go; nullptr: copies
// for this call alone.
void bf16_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
               Bf16Scratch* scratch = nullptr);

// The portable blocked GEMM itself (always available, used by sgemm when no BLAS was found).
void blocked_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc);

}  // namespace w2s
