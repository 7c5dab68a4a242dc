// The register-blocked micro-kernel shared by the attention tiles and the portable GEMM.
//
//   C[M, N] (+)= A[M, K] * B[K, N]
//   A: element (i, p) at a[i * a_row + p * a_col]   (any strides: A^T is free)
//   B: row p at b + p * ldb, with N contiguous floats (N a multiple of 16)
//   C: row-major with row stride ldc
//
// The kernel keeps an MR x (16 * NV) block of C in vector registers, broadcasting one element of A
// per row and multiplying it by NV vectors of B per step of p.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd.h"

namespace w2s::cpu {

constexpr int kTileRows = 4;  // MR: rows of C per micro-kernel call

template <int MR, int NV, bool Accumulate>
inline void micro_kernel(int64_t k, const float* __restrict a, int64_t a_row, int64_t a_col,
                         const float* __restrict b, int64_t ldb, float* __restrict c, int64_t ldc) {
  using simd::Vec;
  Vec acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = Vec{};
  for (int64_t p = 0; p < k; ++p) {
    Vec bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = simd::load(b + p * ldb + v * simd::kLanes);
    for (int i = 0; i < MR; ++i) {
      const Vec av = simd::splat(a[i * a_row + p * a_col]);
      for (int v = 0; v < NV; ++v) acc[i][v] += av * bv[v];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      float* dst = c + i * ldc + v * simd::kLanes;
      simd::store(dst, Accumulate ? simd::load(dst) + acc[i][v] : acc[i][v]);
    }
}

template <int NV, bool Accumulate>
inline void column_block(int64_t m, int64_t k, const float* a, int64_t a_row, int64_t a_col,
                         const float* b, int64_t ldb, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + kTileRows <= m; i += kTileRows)
    micro_kernel<kTileRows, NV, Accumulate>(k, a + i * a_row, a_row, a_col, b, ldb, c + i * ldc, ldc);
  const float* ar = a + i * a_row;
  float* cr = c + i * ldc;
  switch (m - i) {
    case 3: micro_kernel<3, NV, Accumulate>(k, ar, a_row, a_col, b, ldb, cr, ldc); break;
    case 2: micro_kernel<2, NV, Accumulate>(k, ar, a_row, a_col, b, ldb, cr, ldc); break;
    case 1: micro_kernel<1, NV, Accumulate>(k, ar, a_row, a_col, b, ldb, cr, ldc); break;
    default: break;
  }
}

// C[M, N] (+)= A[M, K] * B[K, N] for any M, K and N a multiple of 16 (see the layout above).
template <bool Accumulate>
inline void tile_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_row, int64_t a_col,
                      const float* b, int64_t ldb, float* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) column_block<4, Accumulate>(m, k, a, a_row, a_col, b + j, ldb, c + j, ldc);
  if (j + 32 <= n) {
    column_block<2, Accumulate>(m, k, a, a_row, a_col, b + j, ldb, c + j, ldc);
    j += 32;
  }
  if (j + 16 <= n) column_block<1, Accumulate>(m, k, a, a_row, a_col, b + j, ldb, c + j, ldc);
}

}  // namespace w2s::cpu
