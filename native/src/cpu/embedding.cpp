// Token (and learned position) embeddings, forward and backward (layouts in include/w2s/layers.h).
// The backward scatter-add is race-free without atomics: each thread owns a range of columns of
// the tables and walks every row.
#include <algorithm>

#include "../common/parallel.h"
#include "w2s/layers.h"

namespace w2s {

void embedding_forward(const int32_t* tokens, const float* table, const float* positions, int64_t n,
                       int64_t seq_len, int64_t d, float* out) {
  parallel::for_ranges(n, 16, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* e = table + static_cast<int64_t>(tokens[r]) * d;
      float* o = out + r * d;
      if (positions) {
        const float* p = positions + (r % seq_len) * d;
        for (int64_t j = 0; j < d; ++j) o[j] = e[j] + p[j];
      } else {
        std::copy(e, e + d, o);
      }
    }
  });
}

void embedding_backward(const int32_t* tokens, const float* dout, int64_t n, int64_t seq_len, int64_t d,
                        float* dtable, float* dpositions) {
  constexpr int64_t kColumns = 16;
  parallel::for_ranges((d + kColumns - 1) / kColumns, 1, [&](int64_t begin, int64_t end, int) {
    const int64_t j0 = begin * kColumns, j1 = std::min(d, end * kColumns);
    for (int64_t r = 0; r < n; ++r) {
      const float* g = dout + r * d;
      float* e = dtable + static_cast<int64_t>(tokens[r]) * d;
      for (int64_t j = j0; j < j1; ++j) e[j] += g[j];
      if (dpositions) {
        float* p = dpositions + (r % seq_len) * d;
        for (int64_t j = j0; j < j1; ++j) p[j] += g[j];
      }
    }
  });
}

}  // namespace w2s
