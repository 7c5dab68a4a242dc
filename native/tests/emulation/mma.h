// The CPU emulation's WMMA (see cuda_runtime.h here). Every lane holds the whole fragment (so the
// kernels, which never touch fragment elements by position except to convert them all, behave as
// on a GPU); loads check the alignment rules (32-byte pointers, leading dimensions of a multiple of
// 16 bytes) and fault when they are broken; mma_sync accumulates in float; stores are warp
// collective (one lane writes, between two warp barriers).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <typename T>
using storage_t = std::conditional_t<std::is_same_v<T, precision::tf32>, float, T>;

inline float to_float(float x) { return x; }
inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  static constexpr int num_elements = rows * cols;
  using element_type = storage_t<T>;
  element_type x[num_elements];
};

template <typename Pointer>
void check_alignment(const Pointer* p, unsigned ldm, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) w2s_emulation::fault(std::string(what) + ": pointer not 32-byte aligned");
  if (ldm * sizeof(Pointer) % 16 != 0) w2s_emulation::fault(std::string(what) + ": leading dimension not a multiple of 16 bytes");
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const storage_t<T>* p, unsigned ldm) {
  check_alignment(p, ldm, "load_matrix_sync");
  using F = fragment<Use, M, N, K, T, Layout>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c)
      f.x[r * F::cols + c] = std::is_same_v<Layout, row_major> ? p[r * ldm + c] : p[c * ldm + r];
}

template <int M, int N, int K>
void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t layout) {
  check_alignment(p, ldm, "load_matrix_sync (accumulator)");
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) f.x[r * N + c] = layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  check_alignment(p, ldm, "store_matrix_sync");
  w2s_emulation::sync_warp();
  if (threadIdx.x % 32 == 0)
    for (int r = 0; r < M; ++r)
      for (int c = 0; c < N; ++c) (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
  w2s_emulation::sync_warp();
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, storage_t<T> value) {
  for (auto& x : f.x) x = value;
}

template <int M, int N, int K, typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float result[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; ++k) s += to_float(a.x[i * K + k]) * to_float(b.x[k * N + j]);
      result[i * N + j] = s;
    }
  for (int i = 0; i < M * N; ++i) d.x[i] = result[i];
}

// cvt.rna.tf32.f32: round to the nearest value with a 10-bit mantissa, ties away from zero.
inline float __float_to_tf32(float x) {
  uint32_t u = __float_as_uint(x);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  return __uint_as_float(u);
}

}  // namespace nvcuda::wmma
