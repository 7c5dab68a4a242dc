// Portable 16-lane float vectors (GCC/Clang vector extensions). With AVX-512 each is one zmm
// register; elsewhere the compiler splits it (2 x ymm with AVX2, 4 x xmm with SSE/NEON).
#pragma once

#include <cstdint>

namespace w2s::simd {

constexpr int kLanes = 16;

typedef float Vec __attribute__((vector_size(64)));
typedef int32_t IVec __attribute__((vector_size(64)));
// Unaligned, aliasing-safe views used for loads and stores.
typedef float UVec __attribute__((vector_size(64), aligned(4), may_alias));

inline Vec load(const float* p) { return *reinterpret_cast<const UVec*>(p); }
inline void store(float* p, Vec v) { *reinterpret_cast<UVec*>(p) = v; }
inline Vec splat(float x) { return Vec{} + x; }

inline float reduce_sum(Vec v) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}
inline float reduce_max(Vec v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
// {0, 1, ..., 15}: compared with a count to mask the lanes past it.
inline Vec lane_index() { return Vec{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; }

inline Vec max(Vec a, Vec b) { return a > b ? a : b; }

// exp(x) to ~2 ulp on [-87.3, 88.7]; exactly 0 below (so exp(-inf) == 0, which masking relies on).
// Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial, 2^n via the exponent bits.
inline Vec exp(Vec x) {
  const Vec lo_cut = splat(-87.33654f);
  const IVec keep = x >= lo_cut;  // lanes that do not underflow (false for -inf and NaN)
  x = x < splat(88.37626f) ? x : splat(88.37626f);
  x = x > lo_cut ? x : lo_cut;
  const Vec magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to the nearest integer
  Vec t = x * splat(1.44269504088896341f) + magic;
  const IVec n = __builtin_bit_cast(IVec, t) - __builtin_bit_cast(IVec, magic);
  t = t - magic;
  Vec r = x - t * splat(0.693359375f);
  r = r - t * splat(-2.12194440e-4f);
  Vec p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  Vec y = p * (r * r) + r + splat(1.0f);
  const IVec scale_bits = (n + 127) << 23;
  y = y * __builtin_bit_cast(Vec, scale_bits);
  return __builtin_bit_cast(Vec, __builtin_bit_cast(IVec, y) & keep);
}

// log(x) to ~2 ulp for normal x > 0 (Cephes logf); -inf for x below the smallest normal float
// (0 included), NaN for x < 0 or NaN.
inline Vec log(Vec x) {
  const IVec bits = __builtin_bit_cast(IVec, x);
  IVec e = ((bits >> 23) & 0xff) - 126;  // x = m * 2^e with m in [0.5, 1)
  Vec m = __builtin_bit_cast(Vec, (bits & 0x007fffff) | 0x3f000000);
  const IVec small = m < splat(0.707106781186547524f);
  e = e + small;  // small lanes: e - 1 and m doubled
  m = m + __builtin_bit_cast(Vec, __builtin_bit_cast(IVec, m) & small) - splat(1.0f);
  const Vec ef = __builtin_convertvector(e, Vec);
  const Vec z = m * m;
  Vec y = splat(7.0376836292e-2f);
  y = y * m + splat(-1.1514610310e-1f);
  y = y * m + splat(1.1676998740e-1f);
  y = y * m + splat(-1.2420140846e-1f);
  y = y * m + splat(1.4249322787e-1f);
  y = y * m + splat(-1.6668057665e-1f);
  y = y * m + splat(2.0000714765e-1f);
  y = y * m + splat(-2.4999993993e-1f);
  y = y * m + splat(3.3333331174e-1f);
  y = y * m * z;
  y = y + ef * splat(-2.12194440e-4f);
  y = y - splat(0.5f) * z;
  Vec r = m + y + ef * splat(0.693359375f);
  const float inf = __builtin_inff();
  r = x < splat(1.17549435e-38f) ? splat(-inf) : r;
  r = x < splat(0.0f) ? splat(__builtin_nanf("")) : r;
  r = x == splat(inf) ? splat(inf) : r;
  return x != x ? x : r;
}

// log(1 + x) for x >= 0, accurate for small x (Kahan's correction of log(u), u = 1 + x).
inline Vec log1p(Vec x) {
  const Vec u = splat(1.0f) + x;
  const Vec d = u - splat(1.0f);
  const IVec exact = d == Vec{};
  const Vec safe_d = exact ? splat(1.0f) : d;
  const Vec r = log(u) * (x / safe_d);
  return exact ? x : r;
}

// In-register transpose of a 16 x 16 block: four stages, each swapping the off-diagonal s x s
// sub-blocks of every 2s x 2s block (s = 8, 4, 2, 1).
inline void transpose16(Vec (&m)[16]) {
  for (int i = 0; i < 16; ++i)
    if ((i & 8) == 0) {
      const Vec a = m[i], b = m[i + 8];
      m[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      m[i + 8] = __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    }
  for (int i = 0; i < 16; ++i)
    if ((i & 4) == 0) {
      const Vec a = m[i], b = m[i + 4];
      m[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
      m[i + 4] = __builtin_shufflevector(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    }
  for (int i = 0; i < 16; ++i)
    if ((i & 2) == 0) {
      const Vec a = m[i], b = m[i + 2];
      m[i] = __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
      m[i + 2] = __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    }
  for (int i = 0; i < 16; ++i)
    if ((i & 1) == 0) {
      const Vec a = m[i], b = m[i + 1];
      m[i] = __builtin_shufflevector(a, b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
      m[i + 1] = __builtin_shufflevector(a, b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    }
}

inline const char* isa_name() {
#if defined(__AVX512F__)
  return "avx512f";
#elif defined(__AVX2__)
  return "avx2";
#elif defined(__AVX__)
  return "avx";
#elif defined(__SSE2__)
  return "sse2";
#elif defined(__ARM_NEON)
  return "neon";
#else
  return "generic";
#endif
}

}  // namespace w2s::simd
