// Plain float64 references of the kernels: the definition the CPU (and later CUDA) kernels are
// tested against. Layouts as in include/w2s/kernels.h, all contiguous here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace w2s_reference {

struct Attention {
  int64_t B, Tq, Tk, H, Hkv, D;
  bool causal;
  double scale;
  std::vector<int32_t> lengths;  // empty: all keys valid

  int64_t qi(int64_t b, int64_t i, int64_t h, int64_t d) const { return ((b * Tq + i) * H + h) * D + d; }
  int64_t ki(int64_t b, int64_t j, int64_t h, int64_t d) const { return ((b * Tk + j) * Hkv + h) * D + d; }
  bool visible(int64_t b, int64_t i, int64_t j) const {
    if (!lengths.empty() && j >= lengths[b]) return false;
    return !causal || j <= i + (Tk - Tq);
  }

  // Softmax probabilities of one query row (zeros where masked).
  std::vector<double> probs(const std::vector<double>& q, const std::vector<double>& k, int64_t b, int64_t i,
                            int64_t h, double* lse) const {
    const int64_t kh = h / (H / Hkv);
    std::vector<double> s(Tk, -INFINITY);
    double m = -INFINITY;
    for (int64_t j = 0; j < Tk; ++j) {
      if (!visible(b, i, j)) continue;
      double dot = 0.0;
      for (int64_t d = 0; d < D; ++d) dot += q[qi(b, i, h, d)] * k[ki(b, j, kh, d)];
      s[j] = dot * scale;
      m = std::max(m, s[j]);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < Tk; ++j) sum += std::isinf(s[j]) ? 0.0 : std::exp(s[j] - m);
    for (int64_t j = 0; j < Tk; ++j) s[j] = std::isinf(s[j]) ? 0.0 : std::exp(s[j] - m) / sum;
    if (lse) *lse = m + std::log(sum);
    return s;
  }

  void forward(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
               std::vector<double>& out, std::vector<double>& lse) const {
    out.assign(B * Tq * H * D, 0.0);
    lse.assign(B * H * Tq, 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < Tq; ++i) {
          const auto p = probs(q, k, b, i, h, &lse[(b * H + h) * Tq + i]);
          const int64_t kh = h / (H / Hkv);
          for (int64_t j = 0; j < Tk; ++j)
            for (int64_t d = 0; d < D; ++d) out[qi(b, i, h, d)] += p[j] * v[ki(b, j, kh, d)];
        }
  }

  void backward(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
                const std::vector<double>& dout, std::vector<double>& dq, std::vector<double>& dk,
                std::vector<double>& dv) const {
    dq.assign(q.size(), 0.0);
    dk.assign(k.size(), 0.0);
    dv.assign(v.size(), 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < Tq; ++i) {
          const int64_t kh = h / (H / Hkv);
          const auto p = probs(q, k, b, i, h, nullptr);
          std::vector<double> dp(Tk, 0.0);
          double delta = 0.0;
          for (int64_t j = 0; j < Tk; ++j) {
            for (int64_t d = 0; d < D; ++d) dp[j] += dout[qi(b, i, h, d)] * v[ki(b, j, kh, d)];
            delta += p[j] * dp[j];
          }
          for (int64_t j = 0; j < Tk; ++j) {
            const double ds = p[j] * (dp[j] - delta);
            for (int64_t d = 0; d < D; ++d) {
              dq[qi(b, i, h, d)] += scale * ds * k[ki(b, j, kh, d)];
              dk[ki(b, j, kh, d)] += scale * ds * q[qi(b, i, h, d)];
              dv[ki(b, j, kh, d)] += p[j] * dout[qi(b, i, h, d)];
            }
          }
        }
  }
};

// log-softmax of a row, as (z_j - max) - log1p(sum of the other exponentials), which keeps its
// relative precision for confident rows (log(1 + 1e-14) in doubles would not).
inline std::vector<double> log_softmax(const double* z, int64_t c) {
  const int64_t top = std::max_element(z, z + c) - z;
  double others = 0.0;
  for (int64_t j = 0; j < c; ++j)
    if (j != top) others += std::exp(z[j] - z[top]);
  std::vector<double> out(c);
  for (int64_t j = 0; j < c; ++j) out[j] = (z[j] - z[top]) - std::log1p(others);
  return out;
}

// CE(z, t) averaged over rows, and its gradient (t a stop-gradient target).
inline double cross_entropy(const std::vector<double>& z, const std::vector<double>& t, int64_t c,
                            std::vector<double>& dz) {
  const int64_t n = static_cast<int64_t>(z.size()) / c;
  dz.assign(z.size(), 0.0);
  double loss = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const auto lp = log_softmax(&z[i * c], c);
    for (int64_t j = 0; j < c; ++j) {
      loss -= t[i * c + j] * lp[j];
      dz[i * c + j] = (std::exp(lp[j]) - t[i * c + j]) / n;
    }
  }
  return loss / n;
}

// torch.quantile(values, q) with linear interpolation.
inline double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double pos = q * (values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - lo) * (values[hi] - values[lo]);
}

// logconf target: (1 - alpha) y + alpha yhat (see include/w2s/kernels.h).
inline std::vector<double> logconf_target(const std::vector<double>& z, const std::vector<double>& y, int64_t c,
                                           double alpha) {
  const int64_t n = static_cast<int64_t>(z.size()) / c;
  std::vector<double> yhat(z.size(), 0.0);
  if (c == 2) {
    std::vector<double> p0(n);
    double q = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      p0[i] = std::exp(log_softmax(&z[i * 2], 2)[0]);
      q += y[i * 2 + 1];
    }
    const double t = quantile(p0, q / n);
    for (int64_t i = 0; i < n; ++i) yhat[i * 2 + (p0[i] >= t ? 0 : 1)] = 1.0;
  } else {
    for (int64_t i = 0; i < n; ++i)
      yhat[i * c + (std::max_element(&z[i * c], &z[i * c] + c) - &z[i * c])] = 1.0;
  }
  std::vector<double> t(z.size());
  for (size_t i = 0; i < t.size(); ++i) t[i] = (1 - alpha) * y[i] + alpha * yhat[i];
  return t;
}

// product target: softmax(z)^beta * y^alpha, normalised (0^0 = 1), in log space so that rows whose
// p^beta underflows (|logits| ~ 1e4) still normalise.
inline std::vector<double> product_target(const std::vector<double>& z, const std::vector<double>& y, int64_t c,
                                          double alpha, double beta) {
  const int64_t n = static_cast<int64_t>(z.size()) / c;
  std::vector<double> t(z.size());
  for (int64_t i = 0; i < n; ++i) {
    const auto lp = log_softmax(&z[i * c], c);
    double top = -INFINITY;
    for (int64_t j = 0; j < c; ++j) {
      t[i * c + j] = beta * lp[j] + (alpha == 0.0 ? 0.0 : alpha * std::log(y[i * c + j]));
      top = std::max(top, t[i * c + j]);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < c; ++j) sum += (t[i * c + j] = std::exp(t[i * c + j] - top));
    for (int64_t j = 0; j < c; ++j) t[i * c + j] /= sum;
  }
  return t;
}

}  // namespace w2s_reference
