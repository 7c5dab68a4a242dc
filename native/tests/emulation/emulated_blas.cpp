// The CPU emulation's stand-in for src/cuda/blas.cpp (cuBLAS cannot run here): the same product on
// host memory by the CPU sgemm, on operands rounded as cuBLAS's TF32 and bf16 compute types round
// them, so that mixed precision is emulated too.
#include <vector>

#include "../../src/cuda/blas.h"
#include "cuda_bf16.h"
#include "mma.h"

namespace w2s::cuda {
namespace {

// A copy of the stored rows x cols matrix (row stride ld) rounded to the precision's inputs.
std::vector<float> rounded(const float* x, int64_t rows, int64_t cols, int64_t ld, Precision precision) {
  std::vector<float> out(static_cast<size_t>(rows * ld));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = x[r * ld + c];
      out[r * ld + c] = precision == Precision::TF32   ? nvcuda::wmma::__float_to_tf32(v)
                        : precision == Precision::BF16 ? __bfloat162float(__float2bfloat16_rn(v))
                                                       : v;
    }
  return out;
}

}  // namespace

void gemm(Precision precision, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (precision == Precision::Float32) return w2s::sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  const auto ar = rounded(a, trans_a ? k : m, trans_a ? m : k, lda, precision);
  const auto br = rounded(b, trans_b ? n : k, trans_b ? k : n, ldb, precision);
  w2s::sgemm(trans_a, trans_b, m, n, k, alpha, ar.data(), lda, br.data(), ldb, beta, c, ldc);
}

}  // namespace w2s::cuda
