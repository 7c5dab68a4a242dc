// LayerNorm and RMSNorm over rows, forward and backward (layouts in include/w2s/layers.h).
// Rows are independent: the threads take ranges of rows. The weight (and bias) gradients are
// column sums over rows: each block of kBlockRows rows is summed into its own [d] buffer, and the
// buffers are added up in block order at the end, so the result does not depend on which thread
// took which block, nor on the thread count (training is reproducible bit for bit).
#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/parallel.h"
#include "w2s/layers.h"

namespace w2s {
namespace {

constexpr int64_t kRowGrain = 16;
constexpr int64_t kBlockRows = 64;

int64_t blocks_of(int64_t n) { return (n + kBlockRows - 1) / kBlockRows; }

// Per-block [d] accumulators for column sums; reduce() adds them, in block order, into the outputs.
class ColumnSums {
 public:
  ColumnSums(int64_t d, int64_t parts) : d_(d), sums_(static_cast<size_t>(d * parts), 0.0f) {}
  float* part(int64_t block) { return sums_.data() + block * d_; }
  void reduce(float* out) const {
    if (!out) return;
    const int64_t parts = static_cast<int64_t>(sums_.size()) / d_;
    for (int64_t p = 0; p < parts; ++p)
      for (int64_t j = 0; j < d_; ++j) out[j] += sums_[p * d_ + j];
  }

 private:
  int64_t d_;
  std::vector<float> sums_;
};

}  // namespace

void layer_norm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                        float* mean, float* rstd) {
  parallel::for_ranges(n, kRowGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      double sum = 0.0;
      for (int64_t j = 0; j < d; ++j) sum += xr[j];
      const float mu = static_cast<float>(sum / static_cast<double>(d));
      double sq = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const float c = xr[j] - mu;
        sq += static_cast<double>(c) * c;
      }
      const float rs = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(d) + eps));
      for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mu) * rs * w[j] + (b ? b[j] : 0.0f);
      mean[r] = mu;
      rstd[r] = rs;
    }
  });
}

// With x̂ = (x − μ)·rstd and g = dy ⊙ w: dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)).
void layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                         int64_t n, int64_t d, float* dx, float* dw, float* db) {
  ColumnSums dw_parts(d, blocks_of(n)), db_parts(d, blocks_of(n));
  parallel::for_each(blocks_of(n), [&](int64_t block, int) {
    float* dw_acc = dw_parts.part(block);
    float* db_acc = db_parts.part(block);
    for (int64_t r = block * kBlockRows; r < std::min(n, (block + 1) * kBlockRows); ++r) {
      const float* dyr = dy + r * d;
      const float* xr = x + r * d;
      float* dxr = dx + r * d;
      const float mu = mean[r], rs = rstd[r];
      float g_mean = 0.0f, gx_mean = 0.0f;
      for (int64_t j = 0; j < d; ++j) {
        const float xhat = (xr[j] - mu) * rs;
        const float g = dyr[j] * w[j];
        g_mean += g;
        gx_mean += g * xhat;
        dw_acc[j] += dyr[j] * xhat;
        db_acc[j] += dyr[j];
      }
      g_mean /= static_cast<float>(d);
      gx_mean /= static_cast<float>(d);
      for (int64_t j = 0; j < d; ++j) {
        const float xhat = (xr[j] - mu) * rs;
        dxr[j] += rs * (dyr[j] * w[j] - g_mean - xhat * gx_mean);
      }
    }
  });
  dw_parts.reduce(dw);
  db_parts.reduce(db);
}

void rms_norm_forward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd) {
  parallel::for_ranges(n, kRowGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      double sq = 0.0;
      for (int64_t j = 0; j < d; ++j) sq += static_cast<double>(xr[j]) * xr[j];
      const float rs = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(d) + eps));
      for (int64_t j = 0; j < d; ++j) yr[j] = xr[j] * rs * w[j];
      rstd[r] = rs;
    }
  });
}

// With x̂ = x·rstd and g = dy ⊙ w: dx = rstd · (g − x̂ · mean(g ⊙ x̂)).
void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d,
                       float* dx, float* dw) {
  ColumnSums dw_parts(d, blocks_of(n));
  parallel::for_each(blocks_of(n), [&](int64_t block, int) {
    float* dw_acc = dw_parts.part(block);
    for (int64_t r = block * kBlockRows; r < std::min(n, (block + 1) * kBlockRows); ++r) {
      const float* dyr = dy + r * d;
      const float* xr = x + r * d;
      float* dxr = dx + r * d;
      const float rs = rstd[r];
      float gx_mean = 0.0f;
      for (int64_t j = 0; j < d; ++j) {
        const float xhat = xr[j] * rs;
        gx_mean += dyr[j] * w[j] * xhat;
        dw_acc[j] += dyr[j] * xhat;
      }
      gx_mean /= static_cast<float>(d);
      for (int64_t j = 0; j < d; ++j) dxr[j] += rs * (dyr[j] * w[j] - xr[j] * rs * gx_mean);
    }
  });
  dw_parts.reduce(dw);
}

}  // namespace w2s
