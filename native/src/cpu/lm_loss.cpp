// Language-model cross-entropy with token targets, value and gradient in one pass per row
// (layouts in include/w2s/layers.h): max (and a finiteness probe), then Σ exp(z − max) with the
// vector exp, then dz = scale·(softmax(z) − onehot(target)). A row is read before it is written,
// so dlogits may be the logits buffer itself. Any NaN or ±Inf in a scored row throws: the vector
// max and exp would otherwise hide it, so the probe accumulates z·0, which is NaN exactly when
// some z is not finite (the build does not use -ffast-math).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../common/parallel.h"
#include "simd.h"
#include "w2s/kernels.h"
#include "w2s/layers.h"

namespace w2s {

double token_xent_loss(const float* logits, const int32_t* targets, int64_t n, int64_t v, float scale,
                       float* dlogits) {
  using simd::Vec;
  constexpr int kL = simd::kLanes;
  std::vector<double> row_loss(static_cast<size_t>(n), 0.0);
  std::vector<char> bad(static_cast<size_t>(n), 0);
  parallel::for_ranges(n, 4, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* z = logits + r * v;
      float* dz = dlogits + r * v;
      const int32_t t = targets[r];
      if (t < 0) {
        std::fill(dz, dz + v, 0.0f);
        continue;
      }
      Vec vmax = simd::splat(-INFINITY);
      Vec vprobe{};
      int64_t j = 0;
      for (; j + kL <= v; j += kL) {
        const Vec zj = simd::load(z + j);
        vmax = simd::max(vmax, zj);
        vprobe += zj * 0.0f;
      }
      float mx = simd::reduce_max(vmax);
      float probe = simd::reduce_sum(vprobe);
      for (; j < v; ++j) {
        mx = z[j] > mx ? z[j] : mx;
        probe += z[j] * 0.0f;
      }
      if (!std::isfinite(mx) || probe != 0.0f) {
        bad[r] = 1;
        continue;
      }
      Vec vsum{};
      j = 0;
      for (; j + kL <= v; j += kL) vsum += simd::exp(simd::load(z + j) - mx);
      double sum = simd::reduce_sum(vsum);
      for (; j < v; ++j) sum += std::exp(z[j] - mx);
      if (!std::isfinite(sum)) {
        bad[r] = 1;
        continue;
      }
      const float zt = z[t];
      row_loss[r] = std::log(sum) + mx - zt;
      const float inv = static_cast<float>(1.0 / sum) * scale;
      j = 0;
      for (; j + kL <= v; j += kL) simd::store(dz + j, simd::exp(simd::load(z + j) - mx) * inv);
      for (; j < v; ++j) dz[j] = std::exp(z[j] - mx) * inv;
      dz[t] -= scale;
    }
  });
  double total = 0.0;
  for (int64_t r = 0; r < n; ++r) {
    if (bad[r]) throw NonFiniteInput("logits row " + std::to_string(r) + " holds NaN or Inf");
    total += row_loss[r];
  }
  return total;
}

}  // namespace w2s
