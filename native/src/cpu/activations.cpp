// GELU (tanh approximation) and SwiGLU, forward and backward, 16 lanes at a time, and exact GELU
// (scalar std::erf) (layouts in include/w2s/layers.h). tanh and sigmoid come from the vector exp of simd.h:
// tanh(a) = sign(a)·(1 − 2 / (exp(2|a|) + 1)), sigmoid(a) = 1 / (1 + exp(−a)).
#include <cmath>

#include "../common/parallel.h"
#include "simd.h"
#include "w2s/layers.h"

namespace w2s {
namespace {

using simd::Vec;
using simd::splat;

constexpr int64_t kGrain = 4096;
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/π)
constexpr float kGeluA = 0.044715f;
constexpr float kSqrtHalf = 0.7071067811865476f;    // 1/√2
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1/√(2π)

inline Vec tanh_vec(Vec a) {
  const Vec abs = a < 0.0f ? -a : a;
  const Vec t = splat(1.0f) - splat(2.0f) / (simd::exp(abs + abs) + 1.0f);
  return a < 0.0f ? -t : t;
}
inline Vec sigmoid_vec(Vec a) { return splat(1.0f) / (splat(1.0f) + simd::exp(-a)); }

inline Vec gelu_vec(Vec u) { return 0.5f * u * (1.0f + tanh_vec(kGeluC * (u + kGeluA * u * u * u))); }
// d gelu / du = 0.5·(1 + t) + 0.5·u·(1 − t²)·c·(1 + 3a·u²), t = tanh(c·(u + a·u³)).
inline Vec gelu_grad_vec(Vec u) {
  const Vec t = tanh_vec(kGeluC * (u + kGeluA * u * u * u));
  return 0.5f * (1.0f + t) + 0.5f * u * (1.0f - t * t) * kGeluC * (1.0f + 3.0f * kGeluA * u * u);
}

// Applies fn to whole vectors, then to the tail through a zero-padded vector.
template <typename Fn>
void for_vectors(int64_t begin, int64_t end, Fn fn) {
  int64_t i = begin;
  for (; i + simd::kLanes <= end; i += simd::kLanes) fn(i, simd::kLanes);
  if (i < end) fn(i, end - i);
}
inline Vec load_n(const float* p, int64_t n) {
  if (n == simd::kLanes) return simd::load(p);
  Vec v{};
  for (int64_t k = 0; k < n; ++k) v[k] = p[k];
  return v;
}
inline void store_n(float* p, Vec v, int64_t n) {
  if (n == simd::kLanes) return simd::store(p, v);
  for (int64_t k = 0; k < n; ++k) p[k] = v[k];
}

}  // namespace

void gelu_forward(const float* u, int64_t count, float* y) {
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    for_vectors(begin, end, [&](int64_t i, int64_t n) { store_n(y + i, gelu_vec(load_n(u + i, n)), n); });
  });
}

void gelu_backward(const float* u, const float* dy, int64_t count, float* du) {
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    for_vectors(begin, end, [&](int64_t i, int64_t n) {
      store_n(du + i, load_n(dy + i, n) * gelu_grad_vec(load_n(u + i, n)), n);
    });
  });
}

void gelu_exact_forward(const float* u, int64_t count, float* y) {
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) y[i] = 0.5f * u[i] * (1.0f + std::erf(u[i] * kSqrtHalf));
  });
}

void gelu_exact_backward(const float* u, const float* dy, int64_t count, float* du) {
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const float x = u[i];
      du[i] = dy[i] * (0.5f * (1.0f + std::erf(x * kSqrtHalf)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x));
    }
  });
}

void swiglu_forward(const float* gu, int64_t n, int64_t f, float* y) {
  parallel::for_ranges(n, std::max<int64_t>(1, kGrain / f), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* g = gu + r * 2 * f;
      const float* u = g + f;
      float* yr = y + r * f;
      for_vectors(0, f, [&](int64_t j, int64_t k) {
        const Vec gv = load_n(g + j, k);
        store_n(yr + j, gv * sigmoid_vec(gv) * load_n(u + j, k), k);
      });
    }
  });
}

// dg = dy·u·s·(1 + g·(1 − s)), du = dy·g·s, with s = sigmoid(g).
void swiglu_backward(const float* gu, const float* dy, int64_t n, int64_t f, float* dgu) {
  parallel::for_ranges(n, std::max<int64_t>(1, kGrain / f), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* g = gu + r * 2 * f;
      const float* u = g + f;
      const float* dyr = dy + r * f;
      float* dg = dgu + r * 2 * f;
      float* du = dg + f;
      for_vectors(0, f, [&](int64_t j, int64_t k) {
        const Vec gv = load_n(g + j, k), uv = load_n(u + j, k), dv = load_n(dyr + j, k);
        const Vec s = sigmoid_vec(gv);
        store_n(dg + j, dv * uv * s * (1.0f + gv * (1.0f - s)), k);
        store_n(du + j, dv * gv * s, k);
      });
    }
  });
}

}  // namespace w2s
