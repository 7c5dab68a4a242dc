// Rotary position embedding, rotate-half convention, in place (layouts in include/w2s/layers.h).
// The engine applies it to the query and key heads of the fused QKV rows [N, (H + 2·KV)·hd]:
// they are the first H + KV heads of each row.
#include <cmath>

#include "../common/parallel.h"
#include "w2s/layers.h"

namespace w2s {

void rope_tables(int64_t seq_len, int64_t rotary_dim, const double* inv_freq, float* cos, float* sin) {
  const int64_t half = rotary_dim / 2;
  for (int64_t pos = 0; pos < seq_len; ++pos)
    for (int64_t j = 0; j < half; ++j) {
      // The angle in double (float32 angles drift by ~1e-5 rad at pos 500).
      const double angle = static_cast<double>(pos) * inv_freq[j];
      cos[pos * half + j] = static_cast<float>(std::cos(angle));
      sin[pos * half + j] = static_cast<float>(std::sin(angle));
    }
}

void rope_apply(float* x, int64_t n, int64_t seq_len, int64_t row_stride, int64_t heads, int64_t head_dim,
                int64_t rotary_dim, const float* cos, const float* sin, bool inverse) {
  const int64_t half = rotary_dim / 2;
  const float sign = inverse ? -1.0f : 1.0f;
  parallel::for_ranges(n, 16, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* c = cos + (r % seq_len) * half;
      const float* s = sin + (r % seq_len) * half;
      for (int64_t h = 0; h < heads; ++h) {
        float* lo = x + r * row_stride + h * head_dim;
        float* hi = lo + half;
        for (int64_t j = 0; j < half; ++j) {
          const float a = lo[j], b = hi[j], sj = sign * s[j];
          lo[j] = a * c[j] - b * sj;
          hi[j] = b * c[j] + a * sj;
        }
      }
    }
  });
}

}  // namespace w2s
