// Matrix products on the GPU through cuBLAS, which is loaded at run time (dlopen): the library
// builds where only the CUDA runtime is installed (as on the CI machines), and a machine without
// cuBLAS says so when a product is first asked for.
#pragma once

#include <cstdint>

#include "w2s/cuda.h"

namespace w2s::cuda {

// C [M, N] = alpha op(A) [M, K] op(B) [K, N] + beta C, row-major device arrays (the contract of
// kernels.h sgemm). Precision picks cuBLAS's compute type: Float32 (float32 FMAs), TF32 or BF16
// (tensor cores on inputs rounded to TF32 or bfloat16, float32 accumulation and output).
void gemm(Precision precision, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace w2s::cuda
