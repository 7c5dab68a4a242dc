// Bias, residual and dropout kernels (layouts in include/w2s/layers.h).
#include <algorithm>

#include "../common/parallel.h"
#include "w2s/layers.h"

namespace w2s {
namespace {

constexpr int64_t kGrain = 8192;

// splitmix64: a counter-based generator, so any thread can draw element i's number directly.
inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

void add_bias(float* y, const float* b, int64_t n, int64_t d) {
  parallel::for_ranges(n, std::max<int64_t>(1, kGrain / d), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t j = 0; j < d; ++j) y[r * d + j] += b[j];
  });
}

void bias_backward(const float* dy, int64_t n, int64_t d, float* db) {
  constexpr int64_t kColumns = 64;
  parallel::for_ranges((d + kColumns - 1) / kColumns, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t block = begin; block < end; ++block) {
      const int64_t j0 = block * kColumns, j1 = std::min(d, j0 + kColumns);
      float sums[kColumns] = {};
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = j0; j < j1; ++j) sums[j - j0] += dy[r * d + j];
      for (int64_t j = j0; j < j1; ++j) db[j] += sums[j - j0];
    }
  });
}

void add_inplace(float* y, const float* x, int64_t count) {
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) y[i] += x[i];
  });
}

void dropout_apply(float* x, int64_t count, float p, uint64_t seed) {
  if (p <= 0.0f) return;
  const uint64_t threshold = static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
  const float keep_scale = 1.0f / (1.0f - p);
  const uint64_t key = mix(seed);
  parallel::for_ranges(count, kGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t u = mix(key ^ static_cast<uint64_t>(i)) >> 32;
      x[i] = u >= threshold ? x[i] * keep_scale : 0.0f;
    }
  });
}

}  // namespace w2s
