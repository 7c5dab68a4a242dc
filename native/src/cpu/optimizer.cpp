// AdamW and the gradient-norm helpers (layouts in include/w2s/layers.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/parallel.h"
#include "w2s/layers.h"

namespace w2s {
namespace {
constexpr int64_t kGrain = 16384;

// AdamW on n elements of separate arrays: a function of its own, its scalars by value and its
// arrays restrict, so that the compiler vectorises the loop (square root and division included).
void adamw_range(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t n,
                 const AdamWStep s, const float inv_bc1, const float inv_bc2) {
  const float beta1 = s.beta1, beta2 = s.beta2, lr = s.lr, eps = s.eps, decay = s.weight_decay, scale = s.grad_scale;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * scale;
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * ((mi * inv_bc1) / (std::sqrt(vi * inv_bc2) + eps) + decay * p[i]);
  }
}

}  // namespace

void adamw_update(float* p, const float* g, float* m, float* v, int64_t count, const AdamWStep& s) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(s.beta1), static_cast<double>(s.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(s.beta2), static_cast<double>(s.step));
  const float inv_bc1 = static_cast<float>(1.0 / bc1), inv_bc2 = static_cast<float>(1.0 / bc2);
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    adamw_range(p + begin, g + begin, m + begin, v + begin, end - begin, s, inv_bc1, inv_bc2);
  });
}

double sum_squares(const float* x, int64_t count) {
  const int64_t chunk = 65536;
  const int64_t chunks = (count + chunk - 1) / chunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel::for_each(chunks, [&](int64_t c, int) {
    // kLanes independent sums (one vector of doubles), not one chain of dependent additions.
    constexpr int kLanes = 8;
    double lane[kLanes] = {};
    const int64_t begin = c * chunk, end = std::min(count, (c + 1) * chunk);
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes)
      for (int j = 0; j < kLanes; ++j) lane[j] += static_cast<double>(x[i + j]) * x[i + j];
    double s = 0.0;
    for (; i < end; ++i) s += static_cast<double>(x[i]) * x[i];
    for (int j = 0; j < kLanes; ++j) s += lane[j];
    partial[c] = s;
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

void scale_inplace(float* x, int64_t count, float s) {
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) x[i] *= s;
  });
}

}  // namespace w2s
