// AdamW and the gradient-norm helpers (layouts in include/w2s/layers.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/parallel.h"
#include "w2s/layers.h"

namespace w2s {
namespace {
constexpr int64_t kGrain = 16384;
}

void adamw_update(float* p, const float* g, float* m, float* v, int64_t count, const AdamWStep& s) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(s.beta1), static_cast<double>(s.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(s.beta2), static_cast<double>(s.step));
  const float inv_bc1 = static_cast<float>(1.0 / bc1), inv_bc2 = static_cast<float>(1.0 / bc2);
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i];
      m[i] = s.beta1 * m[i] + (1.0f - s.beta1) * gi;
      v[i] = s.beta2 * v[i] + (1.0f - s.beta2) * gi * gi;
      const float m_hat = m[i] * inv_bc1, v_hat = v[i] * inv_bc2;
      p[i] -= s.lr * (m_hat / (std::sqrt(v_hat) + s.eps) + s.weight_decay * p[i]);
    }
  });
}

double sum_squares(const float* x, int64_t count) {
  const int64_t chunk = 65536;
  const int64_t chunks = (count + chunk - 1) / chunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel::for_each(chunks, [&](int64_t c, int) {
    double s = 0.0;
    const int64_t end = std::min(count, (c + 1) * chunk);
    for (int64_t i = c * chunk; i < end; ++i) s += static_cast<double>(x[i]) * x[i];
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
