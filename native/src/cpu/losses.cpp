// The weak-to-strong losses: value and gradient together, on logits z [N, C] and soft targets
// y [N, C] (row-major). Rows are processed 16 at a time, one row per vector lane, so exp and log
// are vectorised for any C; blocks of kChunkRows rows are the parallel work items, and their
// partial sums are added in a fixed order, so results do not depend on the thread count.
//
// Every loss is CE(z, t) = mean_i sum_c t_ic (lse_i - z_ic) for a stop-gradient target t, whose
// gradient is dz = (softmax(z) - t) / N:
//   xent     t = y
//   logconf  t = (1 - alpha) y + alpha yhat     (yhat: hardened student predictions, see kernels.h)
//   product  t = normalise(softmax(z)^beta * y^alpha)
// The binary logconf threshold needs the whole batch first. p0 = sigmoid(z0 - z1) is monotone in
// the logit margin d = z0 - z1, and d does not saturate in float32 where p0 does (p0 = 1 - 1e-9
// rounds to 1, creating ties that exact arithmetic does not have), so the quantile's order
// statistics are taken on d, recomputed from z in each pass rather than stored: pass 1 validates
// the inputs, sums y[:, 1] and histograms the top 16 bits of d's sort keys; pass 2 collects the keys
// in the bin of rank lo = floor(q (N - 1)) and selects the values of ranks lo and lo + 1; then,
// exactly as torch.quantile with linear interpolation followed by p0 >= t: rows with d > d_lo are
// class 0, rows with d == d_lo are class 0 only when t = p_lo (q (N - 1) is an integer, or
// d_lo+1 == d_lo), rows with d < d_lo are class 1. Pass 3 writes the loss and dz.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../common/loss_checks.h"
#include "../common/parallel.h"
#include "simd.h"
#include "w2s/kernels.h"

namespace w2s {
namespace {

using simd::kLanes;
using simd::Vec;
using IVec = simd::IVec;
typedef uint32_t KeyVec __attribute__((vector_size(64)));  // sort keys of 16 floats

using loss_checks::Diagnosis;
using loss_checks::kDistributionTolerance;

constexpr int64_t kChunkRows = 4096;

enum class LossKind { Xent, Logconf, Product };

struct LossSpec {
  LossKind kind;
  float alpha = 0.0f;
  float beta = 0.0f;
  bool binary_threshold = false;  // logconf with C == 2: yhat from the margin's order statistics
  float margin_lo = 0.0f;         // d of rank lo
  bool ties_are_class0 = false;   // rows with d == margin_lo harden to class 0
  const char* targets = "targets";  // the targets' name in error messages
};

// Lanes [0, rows) of a block read row r from base + r * stride; other lanes get `fill`.
Vec gather(const float* base, int64_t stride, int rows, float fill) {
  Vec v = simd::splat(fill);
  for (int r = 0; r < rows; ++r) v[r] = base[r * stride];
  return v;
}

// Loads class j of rows [row0, row0 + rows) into out[j], one row per lane. Binary full blocks
// (the common case) take two vector loads and a deinterleave instead of 32 scalar loads.
void load_classes(const float* src, int64_t row0, int rows, int64_t c, float fill, Vec* out) {
  if (c == 2 && rows == kLanes) {
    const Vec a = simd::load(src + row0 * 2), b = simd::load(src + row0 * 2 + kLanes);
    out[0] = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    out[1] = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return;
  }
  for (int64_t j = 0; j < c; ++j) out[j] = gather(src + row0 * c + j, c, rows, fill);
}

// The inverse of load_classes: writes lanes [0, rows) of in[j] to class j of the rows.
void store_classes(float* dst, int64_t row0, int rows, int64_t c, const Vec* in) {
  if (c == 2 && rows == kLanes) {
    simd::store(dst + row0 * 2,
                __builtin_shufflevector(in[0], in[1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
    simd::store(dst + row0 * 2 + kLanes,
                __builtin_shufflevector(in[0], in[1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31));
    return;
  }
  for (int64_t j = 0; j < c; ++j)
    for (int r = 0; r < rows; ++r) dst[(row0 + r) * c + j] = in[j][r];
}

bool any(IVec mask) {
  for (int i = 0; i < kLanes; ++i)
    if (mask[i]) return true;
  return false;
}

// Exact diagnosis of the first bad row among rows [row0, row0 + rows).
Diagnosis diagnose(const float* z, const float* y, int64_t row0, int rows, int64_t c, const char* targets) {
  for (int64_t i = row0; i < row0 + rows; ++i) {
    Diagnosis d = loss_checks::diagnose_row(z + i * c, y + i * c, i, c, targets);
    if (!d.message.empty()) return d;
  }
  return {};
}

// Mask of lanes whose z row has a NaN/Inf, or whose y row is not a distribution.
IVec check_block(const Vec* zc, const Vec* yc, int64_t c) {
  IVec bad = IVec{};
  Vec sum = Vec{};
  for (int64_t j = 0; j < c; ++j) {
    bad |= (zc[j] - zc[j]) != Vec{};  // NaN for NaN and +-Inf
    bad |= ~(yc[j] >= Vec{}) | (yc[j] > simd::splat(1.0f + kDistributionTolerance));
    sum += yc[j];
  }
  const Vec dev = sum - simd::splat(1.0f);
  bad |= ~((dev <= simd::splat(kDistributionTolerance)) & (dev >= simd::splat(-kDistributionTolerance)));
  return bad;
}

// A sum over the rows of a chunk, deterministic and accurate: rows are added per lane in float over
// at most 16 blocks, then into one double per lane. Lanes past `rows` in a tail block are ignored.
class LaneSum {
 public:
  void add(Vec v, int rows) {
    pending_ += rows == kLanes ? v : (simd::lane_index() < static_cast<float>(rows) ? v : Vec{});
    if (++blocks_ == 16) flush();
  }
  double total() {
    flush();
    double sum = 0.0;
    for (double x : lanes_) sum += x;
    return sum;
  }

 private:
  void flush() {
    for (int i = 0; i < kLanes; ++i) lanes_[i] += pending_[i];
    pending_ = Vec{};
    blocks_ = 0;
  }
  Vec pending_ = Vec{};
  std::array<double, kLanes> lanes_{};
  int blocks_ = 0;
};

struct ChunkResult {
  double loss = 0.0;
  double target1_sum = 0.0;  // sum of y[:, 1] (binary logconf, pass 1)
  Diagnosis error;
};

// Loads a block's z and y (classes in registers/stack) and, unless `validated` (a previous pass
// checked them), validates it; false (with the error) if bad.
bool load_block(const float* z, const float* y, int64_t row0, int rows, int64_t c, std::vector<Vec>& zc,
                std::vector<Vec>& yc, const char* targets, bool validated, ChunkResult& result) {
  load_classes(z, row0, rows, c, 0.0f, zc.data());
  load_classes(y, row0, rows, c, 1.0f / static_cast<float>(c), yc.data());
  if (validated || !any(check_block(zc.data(), yc.data(), c))) return true;
  result.error = diagnose(z, y, row0, rows, c, targets);
  return result.error.message.empty();
}

// Sort keys of floats, per lane: unsigned integers that order like the values (-0 before +0), and
// back.
KeyVec keys_of(Vec x) {
  const KeyVec bits = __builtin_bit_cast(KeyVec, x);
  const KeyVec negative = KeyVec{} - (bits >> 31);  // all ones where the sign bit is set
  return bits ^ (negative | 0x80000000u);
}

float float_of_key(uint32_t key) {
  const uint32_t u = (key & 0x80000000u) ? key & 0x7fffffffu : ~key;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// The logit margin z0 - z1 of binary rows (+ 0 turns -0 into +0, so equal margins have equal keys).
Vec margin(const Vec* zc) { return zc[0] - zc[1] + Vec{}; }

// Pass 1 of binary logconf: validation, the sum of y[:, 1], and the histogram of the top 16 bits of
// the margins' sort keys.
void margin_statistics_chunk(const float* z, const float* y, int64_t n, const char* targets, int64_t chunk,
                             uint32_t* histogram, ChunkResult& result) {
  std::vector<Vec> zc(2), yc(2);
  const int64_t end = std::min(n, (chunk + 1) * kChunkRows);
  LaneSum target1;
  for (int64_t row0 = chunk * kChunkRows; row0 < end; row0 += kLanes) {
    const int rows = static_cast<int>(std::min<int64_t>(kLanes, end - row0));
    if (!load_block(z, y, row0, rows, 2, zc, yc, targets, false, result)) return;
    const Vec d = margin(zc.data());
    target1.add(yc[1], rows);
    const KeyVec bins = keys_of(d) >> 16;
    for (int r = 0; r < rows; ++r) ++histogram[bins[r]];
  }
  result.target1_sum = target1.total();
}

void loss_chunk(const float* z, const float* y, int64_t n, int64_t c, const LossSpec& spec, float* dz,
                int64_t chunk, ChunkResult& result) {
  std::vector<Vec> zc(c), yc(c), tc(c), ec(c);
  const Vec inv_n = simd::splat(static_cast<float>(1.0 / static_cast<double>(n)));
  const Vec alpha = simd::splat(spec.alpha), keep = simd::splat(1.0f - spec.alpha), beta = simd::splat(spec.beta);
  const int64_t end = std::min(n, (chunk + 1) * kChunkRows);
  LaneSum loss;
  for (int64_t row0 = chunk * kChunkRows; row0 < end; row0 += kLanes) {
    const int rows = static_cast<int>(std::min<int64_t>(kLanes, end - row0));
    if (!load_block(z, y, row0, rows, c, zc, yc, spec.targets, spec.binary_threshold, result)) return;
    // Softmax without forming lse = zmax + log(sum) (which loses the low bits of large logits):
    // with e_j = exp(z_j - zmax) and s = sum of e_j over j != argmax, log p_j = (z_j - zmax) - log1p(s).
    Vec zmax = zc[0];
    IVec argmax = IVec{};
    for (int64_t j = 1; j < c; ++j) {
      const IVec greater = zc[j] > zmax;
      argmax = greater ? IVec{} + static_cast<int32_t>(j) : argmax;
      zmax = greater ? zc[j] : zmax;
    }
    Vec others = Vec{};
    if (c == 2) {  // one exponential: the larger logit's is 1
      const Vec d = zc[0] - zc[1];
      others = simd::exp(-(d > Vec{} ? d : -d));
      const IVec first_is_max = argmax == 0;
      ec[0] = first_is_max ? simd::splat(1.0f) : others;
      ec[1] = first_is_max ? others : simd::splat(1.0f);
    } else {
      for (int64_t j = 0; j < c; ++j) {
        ec[j] = simd::exp(zc[j] - zmax);
        others += argmax == static_cast<int32_t>(j) ? Vec{} : ec[j];
      }
    }
    const Vec log_norm = simd::log1p(others);
    const Vec inv_norm = simd::splat(1.0f) / (simd::splat(1.0f) + others);

    switch (spec.kind) {
      case LossKind::Xent:
        for (int64_t j = 0; j < c; ++j) tc[j] = yc[j];
        break;
      case LossKind::Logconf:
        if (spec.binary_threshold) {
          const Vec d = margin(zc.data());
          const Vec lo = simd::splat(spec.margin_lo);
          const IVec hard0 = (d > lo) | ((d == lo) & (spec.ties_are_class0 ? IVec{} - 1 : IVec{}));
          const Vec yhat0 = hard0 ? simd::splat(1.0f) : Vec{};
          tc[0] = keep * yc[0] + alpha * yhat0;
          tc[1] = keep * yc[1] + alpha * (simd::splat(1.0f) - yhat0);
        } else {
          for (int64_t j = 0; j < c; ++j) {
            const Vec yhat = argmax == static_cast<int32_t>(j) ? simd::splat(1.0f) : Vec{};
            tc[j] = keep * yc[j] + alpha * yhat;
          }
        }
        break;
      case LossKind::Product:
        if (c == 2) {
          // t1 / t0 = exp(delta), delta = beta (z1 - z0) + alpha log(y1 / y0): one exponential and
          // one logarithm (y0 = 0 gives delta = +inf and t = (0, 1), as the limit).
          Vec delta = beta * (zc[1] - zc[0]);
          if (spec.alpha != 0.0f) delta += alpha * simd::log(yc[1] / yc[0]);
          const Vec e = simd::exp(-(delta > Vec{} ? delta : -delta));
          const Vec big = simd::splat(1.0f) / (simd::splat(1.0f) + e), small = e * big;
          const IVec second = delta > Vec{};
          tc[0] = second ? small : big;
          tc[1] = second ? big : small;
        } else {
          // log t_j = beta log p_j + alpha log y_j (0^0 = 1), normalised by its own log-sum-exp.
          Vec tmax = simd::splat(-__builtin_inff());
          for (int64_t j = 0; j < c; ++j) {
            Vec lt = beta * (zc[j] - zmax - log_norm);
            if (spec.alpha != 0.0f) lt += alpha * simd::log(yc[j]);
            tc[j] = lt;
            tmax = simd::max(tmax, lt);
          }
          Vec tsum = Vec{};
          for (int64_t j = 0; j < c; ++j) {
            tc[j] = simd::exp(tc[j] - tmax);
            tsum += tc[j];
          }
          const Vec inv = simd::splat(1.0f) / tsum;
          for (int64_t j = 0; j < c; ++j) tc[j] *= inv;
        }
        break;
    }

    // loss = sum_j t_j (log1p(s) + zmax - z_j); dz_j = (p_j - t_j) / N, where for the argmax class
    // p - t = (1 - t) - s / (1 + s) keeps its precision when both are close to 1.
    Vec row_loss = Vec{};
    for (int64_t j = 0; j < c; ++j) {
      // t = 0 contributes nothing, even where z_j is so far below zmax that the term is infinite.
      row_loss += tc[j] > Vec{} ? tc[j] * (log_norm + (zmax - zc[j])) : Vec{};
      const IVec is_max = argmax == static_cast<int32_t>(j);
      const Vec p_minus_t = is_max ? (simd::splat(1.0f) - tc[j]) - others * inv_norm : ec[j] * inv_norm - tc[j];
      tc[j] = p_minus_t * inv_n;  // tc now holds the gradient
    }
    store_classes(dz, row0, rows, c, tc.data());
    loss.add(row_loss, rows);
  }
  result.loss = loss.total();
}

// Runs fn(chunk, stripe, result) over all chunks in parallel; throws the first error by row order.
// With stripes > 0, the chunks are split into that many contiguous stripes, one work item each
// (for per-stripe state such as histograms); otherwise every chunk is a work item (stripe 0).
template <typename Fn>
std::vector<ChunkResult> run_chunks(int64_t n, Fn fn, int64_t stripes = 0) {
  const int64_t chunks = (n + kChunkRows - 1) / kChunkRows;
  std::vector<ChunkResult> results(chunks);
  if (stripes > 0)
    parallel::for_each(stripes, [&](int64_t stripe, int) {
      for (int64_t chunk = chunks * stripe / stripes; chunk < chunks * (stripe + 1) / stripes; ++chunk)
        fn(chunk, stripe, results[chunk]);
    });
  else
    parallel::for_each(chunks, [&](int64_t chunk, int) { fn(chunk, 0, results[chunk]); });
  for (const auto& r : results)
    if (!r.error.message.empty()) loss_checks::throw_diagnosis(r.error);
  return results;
}

double total_loss(const std::vector<ChunkResult>& results, int64_t n) {
  double sum = 0.0;
  for (const auto& r : results) sum += r.loss;
  return sum / static_cast<double>(n);
}

double run_loss(const float* z, const float* y, int64_t n, int64_t c, const LossSpec& spec, float* dz) {
  const auto results = run_chunks(n, [&](int64_t chunk, int64_t, ChunkResult& r) { loss_chunk(z, y, n, c, spec, dz, chunk, r); });
  return total_loss(results, n);
}

// Bin holding the element of rank k (0-based) and the count of elements in lower bins.
std::pair<uint32_t, int64_t> find_rank(const std::vector<int64_t>& hist, int64_t k) {
  int64_t below = 0;
  for (uint32_t b = 0; b < hist.size(); ++b) {
    if (below + hist[b] > k) return {b, below};
    below += hist[b];
  }
  return {static_cast<uint32_t>(hist.size() - 1), below};
}

// The margins of ranks k and k + 1 (k + 1 < n) among the n binary rows of z, given the histogram
// of the top 16 bits of their keys: one more pass collects the keys in the bin of rank k (and the
// smallest key of the next non-empty bin), and a selection among those finishes.
std::pair<float, float> select_margin_ranks(const float* z, int64_t n, int64_t k, const std::vector<int64_t>& high) {
  const auto [hbin, hbelow] = find_rank(high, k);
  uint32_t next_bin = hbin + 1;
  while (next_bin < high.size() && high[next_bin] == 0) ++next_bin;
  const int parts = std::max(1, parallel::threads());
  std::vector<std::vector<uint32_t>> collected(parts);
  std::vector<uint32_t> next_min(parts, UINT32_MAX);
  parallel::for_each(parts, [&](int64_t part, int) {
    auto& keys = collected[part];
    KeyVec smallest = KeyVec{} + UINT32_MAX;
    const int64_t begin = n * part / parts, end = n * (part + 1) / parts;
    Vec zc[2];
    for (int64_t row0 = begin; row0 < end; row0 += kLanes) {
      const int rows = static_cast<int>(std::min<int64_t>(kLanes, end - row0));
      load_classes(z, row0, rows, 2, 0.0f, zc);
      const KeyVec key = keys_of(margin(zc));
      const IVec valid = simd::lane_index() < static_cast<float>(rows);
      const IVec in_bin = ((key >> 16) == hbin) & valid;
      if (any(in_bin))
        for (int r = 0; r < rows; ++r)
          if (in_bin[r]) keys.push_back(key[r]);
      const IVec in_next = ((key >> 16) == next_bin) & valid;
      const KeyVec candidate = in_next ? key : KeyVec{} + UINT32_MAX;
      smallest = candidate < smallest ? candidate : smallest;
    }
    uint32_t m = UINT32_MAX;
    for (int i = 0; i < kLanes; ++i) m = std::min(m, smallest[i]);
    next_min[part] = m;
  });
  std::vector<uint32_t> keys;
  keys.reserve(high[hbin]);
  for (const auto& part : collected) keys.insert(keys.end(), part.begin(), part.end());
  // Pass 1 counted high[hbin] keys in this bin; fewer here means the inputs changed during the call
  // (a SharedArrayBuffer written by another thread).
  if (k - hbelow >= static_cast<int64_t>(keys.size()))
    throw std::runtime_error("logits changed while the loss was being computed");
  const auto rank = keys.begin() + (k - hbelow);
  std::nth_element(keys.begin(), rank, keys.end());
  const uint32_t kth = *rank;
  if (k + 1 >= n) return {float_of_key(kth), float_of_key(kth)};
  const uint32_t next = rank + 1 < keys.end() ? *std::min_element(rank + 1, keys.end())
                                              : *std::min_element(next_min.begin(), next_min.end());
  return {float_of_key(kth), float_of_key(next)};
}

}  // namespace

double xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz, const char* targets_name) {
  loss_checks::check_sizes(n, c);
  LossSpec spec{LossKind::Xent};
  spec.targets = targets_name;
  return run_loss(z, y, n, c, spec, dz);
}

double logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz,
                     const char* targets_name) {
  loss_checks::check_sizes(n, c);
  loss_checks::check_unit_alpha(alpha);
  LossSpec spec{LossKind::Logconf, alpha};
  spec.targets = targets_name;
  if (c == 2) {
    const int64_t stripes = std::max(1, parallel::threads());
    std::vector<std::vector<uint32_t>> histograms(stripes, std::vector<uint32_t>(1 << 16, 0));
    const auto pass1 = run_chunks(
        n,
        [&](int64_t chunk, int64_t stripe, ChunkResult& r) {
          margin_statistics_chunk(z, y, n, targets_name, chunk, histograms[stripe].data(), r);
        },
        stripes);
    std::vector<int64_t> high(1 << 16, 0);
    for (const auto& h : histograms)
      for (size_t b = 0; b < high.size(); ++b) high[b] += h[b];
    double target1 = 0.0;
    for (const auto& r : pass1) target1 += r.target1_sum;
    // torch.quantile(p0, q): position q (N - 1) between the sorted values, linear interpolation.
    const double q = std::clamp(target1 / static_cast<double>(n), 0.0, 1.0);
    const double position = q * static_cast<double>(n - 1);
    const int64_t below = std::min<int64_t>(static_cast<int64_t>(std::floor(position)), n - 1);
    const auto [lo, hi] = select_margin_ranks(z, n, below, high);
    spec.binary_threshold = true;
    spec.margin_lo = lo;
    spec.ties_are_class0 = position == static_cast<double>(below) || hi == lo;
  }
  return run_loss(z, y, n, c, spec, dz);
}

double product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta, float* dz,
                    const char* targets_name) {
  loss_checks::check_sizes(n, c);
  loss_checks::check_coefficient("alpha", alpha);
  loss_checks::check_coefficient("beta", beta);
  LossSpec spec{LossKind::Product, alpha, beta};
  spec.targets = targets_name;
  return run_loss(z, y, n, c, spec, dz);
}

}  // namespace w2s
