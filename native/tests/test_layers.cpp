// The transformer building blocks of include/w2s/layers.h against float64 references written here
// from the header's formulas, on random inputs of awkward shapes (d = 1, 3, 17, 64, 100; N = 1, 5,
// 33; F not a multiple of the 16-lane vectors; enough rows or elements to split across threads).
// Overwritten outputs are poisoned with NaN before the call; "+=" outputs are pre-filled with
// random values and the test compares (after − before) with the reference, so an overwrite fails.
// Backward kernels are checked against the float64 analytic gradient and against central finite
// differences of the float64 forward on a few entries. Then: rope's inverse and rotate-half form,
// dropout's mask (determinism, keep rate, scaling), token cross-entropy (ignored rows, in place,
// NaN/Inf), three AdamW steps, sum_squares and scale_inplace. Everything runs twice: with the
// default thread count and with 3 threads.
#include <cstring>
#include <functional>
#include <string>

#include "check.h"
#include "w2s/kernels.h"
#include "w2s/layers.h"

namespace {

using w2s_test::relative_error;
using Vd = std::vector<double>;
using Vf = std::vector<float>;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kForwardTol = 1e-5;   // float32 kernel vs float64 reference, forward
constexpr double kBackwardTol = 1e-4;  // gradients, and finite differences against the kernel's gradient
// The floor of relative errors for gradients: "+=" outputs are pre-filled with values ~1, so what a
// kernel added is known to ~1e-7 absolute only (float32 rounding of the sum), and a column sum of N
// random terms can cancel down to ~1e-3 by chance: errors are taken relative to at least 1e-2.
constexpr double kGradFloor = 1e-2;

const int64_t kWidths[] = {1, 3, 17, 64, 100};
const int64_t kRows[] = {1, 5, 33};

Vd to_d(const Vf& v) { return Vd(v.begin(), v.end()); }
Vf poisoned(size_t n) { return Vf(n, kNaN); }
// after − before in double: what a "+=" kernel added.
Vd added(const Vf& after, const Vf& before) {
  Vd r(after.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<double>(after[i]) - before[i];
  return r;
}
double dot(const Vd& a, const Vd& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
std::string shape(const char* kernel, int64_t n, int64_t d) {
  return std::string(kernel) + " N=" + std::to_string(n) + " d=" + std::to_string(d);
}

// Central differences of the float64 `loss` at a few entries of x (the first, the last and four
// random ones) against the kernel's gradient `grad`, relative to grad's largest entry (at least
// `floor`). x is perturbed in place and restored.
void check_fd(const std::string& what, const Vd& grad, Vd& x, const std::function<double()>& loss,
              std::mt19937_64& rng, double floor = kGradFloor) {
  double scale = floor;
  for (double g : grad) scale = std::max(scale, std::fabs(g));
  std::vector<size_t> idx = {0, x.size() - 1};
  std::uniform_int_distribution<size_t> pick(0, x.size() - 1);
  for (int k = 0; k < 4; ++k) idx.push_back(pick(rng));
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  const double h = 1e-5;
  for (size_t i : idx) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double lp = loss();
    x[i] = x0 - h;
    const double lm = loss();
    x[i] = x0;
    const double fd = (lp - lm) / (2 * h);
    const double err = std::fabs(grad[i] - fd) / scale;
    CHECK(err <= kBackwardTol, "%s: entry %zu: kernel gradient %.9g vs finite difference %.9g (error %.3g)",
          what.c_str(), i, grad[i], fd, err);
  }
}

void check_close(const std::string& what, const Vf& got, const Vd& ref, double tol, double floor = 1e-6) {
  const double e = relative_error(got, ref, floor);
  CHECK(e <= tol, "%s: relative error %.3g (tolerance %.1g)", what.c_str(), e, tol);
}
void check_close(const std::string& what, const Vd& got, const Vd& ref, double tol, double floor = 1e-6) {
  const double e = relative_error(got, ref, floor);
  CHECK(e <= tol, "%s: relative error %.3g (tolerance %.1g)", what.c_str(), e, tol);
}

// max_r rstd[r] · max_j |dy[r, j]·w[j]|: the size of the terms of a norm's dx.
double natural_scale(const Vd& dy, const Vd& w, const Vd& rstd, int64_t n, int64_t d) {
  double s = 0.0;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < d; ++j) s = std::max(s, rstd[r] * std::fabs(dy[r * d + j] * w[j]));
  return s;
}

// ---- LayerNorm ----------------------------------------------------------------------------------

void ln_ref(const Vd& x, const Vd& w, const Vd* b, int64_t n, int64_t d, double eps, Vd& y, Vd& mean, Vd& rstd) {
  y.assign(n * d, 0.0);
  mean.assign(n, 0.0);
  rstd.assign(n, 0.0);
  for (int64_t r = 0; r < n; ++r) {
    double mu = 0.0, var = 0.0;
    for (int64_t j = 0; j < d; ++j) mu += x[r * d + j];
    mu /= d;
    for (int64_t j = 0; j < d; ++j) var += (x[r * d + j] - mu) * (x[r * d + j] - mu);
    var /= d;  // biased
    const double rs = 1.0 / std::sqrt(var + eps);
    for (int64_t j = 0; j < d; ++j) y[r * d + j] = (x[r * d + j] - mu) * rs * w[j] + (b ? (*b)[j] : 0.0);
    mean[r] = mu;
    rstd[r] = rs;
  }
}

// Rows whose variance is tiny make x − mean lose most of its float32 digits (a property of the
// formula in float32, not of the kernel): redraw rows (d >= 2) until the variance is >= 0.05.
Vf well_spread_rows(std::mt19937_64& rng, int64_t n, int64_t d) {
  Vf x(n * d);
  for (int64_t r = 0; r < n; ++r) {
    for (;;) {
      const auto row = w2s_test::random_floats(rng, d, -1.5f, 1.5f);
      double mu = 0.0, var = 0.0;
      for (float v : row) mu += v;
      mu /= d;
      for (float v : row) var += (v - mu) * (v - mu);
      if (d == 1 || var / d >= 0.05) {
        std::copy(row.begin(), row.end(), x.begin() + r * d);
        break;
      }
    }
  }
  return x;
}

void layer_norm_cases(std::mt19937_64& rng) {
  const float eps = 1e-5f;
  for (int64_t n : kRows)
    for (int64_t d : kWidths)
      for (bool with_bias : {true, false}) {
        const std::string name = shape(with_bias ? "layer_norm" : "layer_norm (no bias)", n, d);
        const Vf x = well_spread_rows(rng, n, d);
        const Vf w = w2s_test::random_floats(rng, d, 0.5f, 1.5f);
        const Vf b = w2s_test::random_floats(rng, d);
        Vd xd = to_d(x), wd = to_d(w), bd = to_d(b);
        Vd ry, rmean, rrstd;
        ln_ref(xd, wd, with_bias ? &bd : nullptr, n, d, eps, ry, rmean, rrstd);

        Vf y = poisoned(n * d), mean = poisoned(n), rstd = poisoned(n);
        w2s::layer_norm_forward(x.data(), w.data(), with_bias ? b.data() : nullptr, n, d, eps, y.data(), mean.data(),
                                rstd.data());
        check_close(name + " forward y", y, ry, kForwardTol);
        check_close(name + " forward mean", mean, rmean, kForwardTol, 1e-3);
        check_close(name + " forward rstd", rstd, rrstd, kForwardTol);

        // Backward of L = Σ dy·y. With x̂ = (x − μ)·rstd, g = dy ⊙ w:
        // dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)), dw = Σ_r dy ⊙ x̂, db = Σ_r dy.
        const Vf dy = w2s_test::random_floats(rng, n * d);
        const Vd dyd = to_d(dy);
        Vd rdx(n * d), rdw(d, 0.0), rdb(d, 0.0);
        for (int64_t r = 0; r < n; ++r) {
          double gm = 0.0, gxm = 0.0;
          for (int64_t j = 0; j < d; ++j) {
            const double xh = (xd[r * d + j] - rmean[r]) * rrstd[r], g = dyd[r * d + j] * wd[j];
            gm += g;
            gxm += g * xh;
            rdw[j] += dyd[r * d + j] * xh;
            rdb[j] += dyd[r * d + j];
          }
          gm /= d;
          gxm /= d;
          for (int64_t j = 0; j < d; ++j) {
            const double xh = (xd[r * d + j] - rmean[r]) * rrstd[r];
            rdx[r * d + j] = rrstd[r] * (dyd[r * d + j] * wd[j] - gm - xh * gxm);
          }
        }
        // dx's floor: its terms are of size rstd·|dy ⊙ w| and cancel (exactly so for d = 1, where dx
        // is 0 and rstd = 1/sqrt(eps) ≈ 316), so float32 leaves noise of rounding size relative to
        // that, not to dx. 1% of it stays far below max |dx| for d >= 2 (rstd ≈ 1.5 there).
        const double dx_floor = std::max(kGradFloor, 1e-2 * natural_scale(dyd, wd, rrstd, n, d));
        const Vf dx0 = w2s_test::random_floats(rng, n * d), dw0 = w2s_test::random_floats(rng, d),
                 db0 = w2s_test::random_floats(rng, d);
        Vf dx = dx0, dw = dw0, db = db0;
        w2s::layer_norm_backward(dy.data(), x.data(), w.data(), mean.data(), rstd.data(), n, d, dx.data(), dw.data(),
                                 with_bias ? db.data() : nullptr);
        const Vd gx = added(dx, dx0), gw = added(dw, dw0), gb = added(db, db0);
        check_close(name + " backward dx (+=)", gx, rdx, kBackwardTol, dx_floor);
        check_close(name + " backward dw (+=)", gw, rdw, kBackwardTol, kGradFloor);
        if (with_bias)
          check_close(name + " backward db (+=)", gb, rdb, kBackwardTol, kGradFloor);
        else
          CHECK(db == db0, "%s: db changed although null was passed", name.c_str());

        const auto loss = [&] {
          Vd yy, mm, rr;
          ln_ref(xd, wd, with_bias ? &bd : nullptr, n, d, eps, yy, mm, rr);
          return dot(dyd, yy);
        };
        check_fd(name + " dx vs finite differences", gx, xd, loss, rng, dx_floor);
        check_fd(name + " dw vs finite differences", gw, wd, loss, rng);
        if (with_bias) check_fd(name + " db vs finite differences", gb, bd, loss, rng);
      }
}

// ---- RMSNorm ------------------------------------------------------------------------------------

void rms_ref(const Vd& x, const Vd& w, int64_t n, int64_t d, double eps, Vd& y, Vd& rstd) {
  y.assign(n * d, 0.0);
  rstd.assign(n, 0.0);
  for (int64_t r = 0; r < n; ++r) {
    double sq = 0.0;
    for (int64_t j = 0; j < d; ++j) sq += x[r * d + j] * x[r * d + j];
    const double rs = 1.0 / std::sqrt(sq / d + eps);
    for (int64_t j = 0; j < d; ++j) y[r * d + j] = x[r * d + j] * rs * w[j];
    rstd[r] = rs;
  }
}

void rms_norm_cases(std::mt19937_64& rng) {
  const float eps = 1e-6f;
  for (int64_t n : kRows)
    for (int64_t d : kWidths) {
      const std::string name = shape("rms_norm", n, d);
      const Vf x = w2s_test::random_floats(rng, n * d, -2.0f, 2.0f);
      const Vf w = w2s_test::random_floats(rng, d, 0.5f, 1.5f);
      Vd xd = to_d(x), wd = to_d(w);
      Vd ry, rrstd;
      rms_ref(xd, wd, n, d, eps, ry, rrstd);

      Vf y = poisoned(n * d), rstd = poisoned(n);
      w2s::rms_norm_forward(x.data(), w.data(), n, d, eps, y.data(), rstd.data());
      check_close(name + " forward y", y, ry, kForwardTol);
      check_close(name + " forward rstd", rstd, rrstd, kForwardTol);

      // dx = rstd·(g − x̂·mean(g ⊙ x̂)), g = dy ⊙ w, x̂ = x·rstd; dw = Σ_r dy ⊙ x̂.
      const Vf dy = w2s_test::random_floats(rng, n * d);
      const Vd dyd = to_d(dy);
      Vd rdx(n * d), rdw(d, 0.0);
      for (int64_t r = 0; r < n; ++r) {
        double gxm = 0.0;
        for (int64_t j = 0; j < d; ++j) {
          const double xh = xd[r * d + j] * rrstd[r];
          gxm += dyd[r * d + j] * wd[j] * xh;
          rdw[j] += dyd[r * d + j] * xh;
        }
        gxm /= d;
        for (int64_t j = 0; j < d; ++j)
          rdx[r * d + j] = rrstd[r] * (dyd[r * d + j] * wd[j] - xd[r * d + j] * rrstd[r] * gxm);
      }
      // dx's floor as for LayerNorm: for d = 1, dx = rstd·g·eps/(x² + eps) is a cancellation of two
      // terms of size rstd·|g|.
      const double dx_floor = std::max(kGradFloor, 1e-2 * natural_scale(dyd, wd, rrstd, n, d));
      const Vf dx0 = w2s_test::random_floats(rng, n * d), dw0 = w2s_test::random_floats(rng, d);
      Vf dx = dx0, dw = dw0;
      w2s::rms_norm_backward(dy.data(), x.data(), w.data(), rstd.data(), n, d, dx.data(), dw.data());
      const Vd gx = added(dx, dx0), gw = added(dw, dw0);
      check_close(name + " backward dx (+=)", gx, rdx, kBackwardTol, dx_floor);
      check_close(name + " backward dw (+=)", gw, rdw, kBackwardTol, kGradFloor);

      const auto loss = [&] {
        Vd yy, rr;
        rms_ref(xd, wd, n, d, eps, yy, rr);
        return dot(dyd, yy);
      };
      check_fd(name + " dx vs finite differences", gx, xd, loss, rng, dx_floor);
      check_fd(name + " dw vs finite differences", gw, wd, loss, rng);
    }
}

// ---- GELU and SwiGLU ----------------------------------------------------------------------------

const double kGeluC = std::sqrt(2.0 / M_PI);
double gelu(double u) { return 0.5 * u * (1.0 + std::tanh(kGeluC * (u + 0.044715 * u * u * u))); }
double gelu_grad(double u) {
  const double t = std::tanh(kGeluC * (u + 0.044715 * u * u * u));
  return 0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * kGeluC * (1.0 + 3.0 * 0.044715 * u * u);
}
double gelu_exact(double u) { return 0.5 * u * (1.0 + std::erf(u / std::sqrt(2.0))); }
double gelu_exact_grad(double u) {
  return 0.5 * (1.0 + std::erf(u / std::sqrt(2.0))) + u * std::exp(-0.5 * u * u) / std::sqrt(2.0 * M_PI);
}
double sigmoid(double a) { return 1.0 / (1.0 + std::exp(-a)); }

void gelu_cases(std::mt19937_64& rng) {
  for (int64_t count : {1, 3, 17, 64, 100, 10007}) {
    const std::string name = "gelu count=" + std::to_string(count);
    const Vf u = w2s_test::random_floats(rng, count, -6.0f, 6.0f);
    Vd ud = to_d(u), ry(count);
    for (int64_t i = 0; i < count; ++i) ry[i] = gelu(ud[i]);
    Vf y = poisoned(count);
    w2s::gelu_forward(u.data(), count, y.data());
    // Floor 1 (the scale of y and du for |u|, |dy| ~ 1): for u ≪ 0, 1 + tanh(·) cancels in float32
    // (ulp(1) ≈ 6e-8 absolute), so those tiny entries are accurate in absolute terms only; a short
    // all-negative draw (count = 3) would otherwise be judged relative to |y| ~ 1e-3.
    check_close(name + " forward", y, ry, kForwardTol, 1.0);

    const Vf dy = w2s_test::random_floats(rng, count);
    const Vd dyd = to_d(dy);
    Vd rdu(count);
    for (int64_t i = 0; i < count; ++i) rdu[i] = dyd[i] * gelu_grad(ud[i]);
    Vf du = poisoned(count);
    w2s::gelu_backward(u.data(), dy.data(), count, du.data());
    check_close(name + " backward", du, rdu, kBackwardTol, 1.0);
    const auto loss = [&] {
      double s = 0.0;
      for (int64_t i = 0; i < count; ++i) s += dyd[i] * gelu(ud[i]);
      return s;
    };
    check_fd(name + " du vs finite differences", to_d(du), ud, loss, rng, 1.0);
  }
}

void gelu_exact_cases(std::mt19937_64& rng) {
  for (int64_t count : {1, 3, 17, 64, 100, 10007}) {
    const std::string name = "gelu exact count=" + std::to_string(count);
    const Vf u = w2s_test::random_floats(rng, count, -6.0f, 6.0f);
    Vd ud = to_d(u), ry(count);
    for (int64_t i = 0; i < count; ++i) ry[i] = gelu_exact(ud[i]);
    Vf y = poisoned(count);
    w2s::gelu_exact_forward(u.data(), count, y.data());
    // Floor 1, as for the tanh form: for u ≪ 0, 1 + erf(·) cancels in float32.
    check_close(name + " forward", y, ry, kForwardTol, 1.0);

    const Vf dy = w2s_test::random_floats(rng, count);
    const Vd dyd = to_d(dy);
    Vd rdu(count);
    for (int64_t i = 0; i < count; ++i) rdu[i] = dyd[i] * gelu_exact_grad(ud[i]);
    Vf du = poisoned(count);
    w2s::gelu_exact_backward(u.data(), dy.data(), count, du.data());
    check_close(name + " backward", du, rdu, kBackwardTol, 1.0);
    const auto loss = [&] {
      double s = 0.0;
      for (int64_t i = 0; i < count; ++i) s += dyd[i] * gelu_exact(ud[i]);
      return s;
    };
    check_fd(name + " du vs finite differences", to_d(du), ud, loss, rng, 1.0);
  }
}

void swiglu_cases(std::mt19937_64& rng) {
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (int64_t n : kRows)
    for (int64_t f : kWidths) shapes.push_back({n, f});
  shapes.push_back({300, 37});  // several row ranges across threads
  for (const auto& [n, f] : shapes) {
    const std::string name = "swiglu N=" + std::to_string(n) + " F=" + std::to_string(f);
    Vf gu(n * 2 * f);
    for (int64_t r = 0; r < n; ++r) {
      const Vf g = w2s_test::random_floats(rng, f, -5.0f, 5.0f), u = w2s_test::random_floats(rng, f, -2.0f, 2.0f);
      std::copy(g.begin(), g.end(), gu.begin() + r * 2 * f);
      std::copy(u.begin(), u.end(), gu.begin() + r * 2 * f + f);
    }
    Vd gud = to_d(gu);
    const auto forward = [&](Vd& y) {
      y.assign(n * f, 0.0);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < f; ++j) {
          const double g = gud[r * 2 * f + j], u = gud[r * 2 * f + f + j];
          y[r * f + j] = g * sigmoid(g) * u;
        }
    };
    Vd ry;
    forward(ry);
    Vf y = poisoned(n * f);
    w2s::swiglu_forward(gu.data(), n, f, y.data());
    check_close(name + " forward", y, ry, kForwardTol);

    const Vf dy = w2s_test::random_floats(rng, n * f);
    const Vd dyd = to_d(dy);
    Vd rdgu(n * 2 * f);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < f; ++j) {
        const double g = gud[r * 2 * f + j], u = gud[r * 2 * f + f + j], s = sigmoid(g), dv = dyd[r * f + j];
        rdgu[r * 2 * f + j] = dv * u * (s + g * s * (1.0 - s));  // d silu/dg = s + g·s·(1 − s)
        rdgu[r * 2 * f + f + j] = dv * g * s;
      }
    Vf dgu = poisoned(n * 2 * f);
    w2s::swiglu_backward(gu.data(), dy.data(), n, f, dgu.data());
    check_close(name + " backward", dgu, rdgu, kBackwardTol, kGradFloor);
    const auto loss = [&] {
      Vd yy;
      forward(yy);
      return dot(dyd, yy);
    };
    check_fd(name + " dgu vs finite differences", to_d(dgu), gud, loss, rng);
  }
}

// ---- RoPE ---------------------------------------------------------------------------------------

// x rotated in double from the angles (not from the tables): heads [0, heads) of each row.
Vd rope_ref(const Vd& x, int64_t n, int64_t seq_len, int64_t stride, int64_t heads, int64_t hd, int64_t rot,
            double theta, bool inverse) {
  Vd y = x;
  const int64_t half = rot / 2;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < half; ++j) {
        const double a = (inverse ? -1.0 : 1.0) * static_cast<double>(r % seq_len) * std::pow(theta, -2.0 * j / rot);
        const int64_t lo = r * stride + h * hd + j, hi = lo + half;
        y[lo] = x[lo] * std::cos(a) - x[hi] * std::sin(a);
        y[hi] = x[hi] * std::cos(a) + x[lo] * std::sin(a);
      }
  return y;
}

void rope_cases(std::mt19937_64& rng) {
  for (int64_t hd : {8, 16})
    for (int64_t rot : {hd, hd / 4})  // whole heads, and a partial rotary (the rest passes through)
      for (int64_t n : kRows)
        for (int64_t seq_len : {1, 7, 40}) {
          const double theta = hd == 8 ? 10000.0 : 500.0;
          const int64_t heads = 2, stride = 3 * hd + 1;  // a third head and one more float are left alone
          const std::string name = "rope hd=" + std::to_string(hd) + " rot=" + std::to_string(rot) +
                                   " N=" + std::to_string(n) + " seq_len=" + std::to_string(seq_len);
          const int64_t half = rot / 2;
          std::vector<double> inv_freq(half);
          for (int64_t j = 0; j < half; ++j) inv_freq[j] = std::pow(theta, -2.0 * j / rot);
          Vf cos = poisoned(seq_len * half), sin = poisoned(seq_len * half);
          w2s::rope_tables(seq_len, rot, inv_freq.data(), cos.data(), sin.data());
          Vd rcos(seq_len * half), rsin(seq_len * half);
          for (int64_t p = 0; p < seq_len; ++p)
            for (int64_t j = 0; j < half; ++j) {
              const double a = static_cast<double>(p) * std::pow(theta, -2.0 * j / rot);
              rcos[p * half + j] = std::cos(a);
              rsin[p * half + j] = std::sin(a);
            }
          // Values in [−1, 1]: an absolute error (floor 1) of 1e-6 is a few float32 ulps.
          check_close(name + " tables cos", cos, rcos, 1e-6, 1.0);
          check_close(name + " tables sin", sin, rsin, 1e-6, 1.0);

          const Vf x = w2s_test::random_floats(rng, n * stride);
          Vd xd = to_d(x);
          Vf y = x;
          w2s::rope_apply(y.data(), n, seq_len, stride, heads, hd, rot, cos.data(), sin.data(), false);
          check_close(name + " forward vs rotate-half", y,
                      rope_ref(xd, n, seq_len, stride, heads, hd, rot, theta, false), kForwardTol);
          bool untouched = true;
          for (int64_t r = 0; r < n; ++r)
            for (int64_t k = 0; k < stride; ++k)
              if (k >= heads * hd || k % hd >= rot) untouched &= y[r * stride + k] == x[r * stride + k];
          CHECK(untouched, "%s: entries past the rotated dims or heads changed", name.c_str());

          Vf back = y;
          w2s::rope_apply(back.data(), n, seq_len, stride, heads, hd, rot, cos.data(), sin.data(), true);
          check_close(name + " inverse(forward(x)) vs x", back, xd, kForwardTol);
          Vf inv = x;
          w2s::rope_apply(inv.data(), n, seq_len, stride, heads, hd, rot, cos.data(), sin.data(), true);
          check_close(name + " inverse vs rotation by -a", inv,
                      rope_ref(xd, n, seq_len, stride, heads, hd, rot, theta, true), kForwardTol);

          // The inverse is the backward pass: the gradient of L = Σ dy·rope(x) is inverse(dy).
          const Vf dy = w2s_test::random_floats(rng, n * stride);
          const Vd dyd = to_d(dy);
          Vf dx = dy;
          w2s::rope_apply(dx.data(), n, seq_len, stride, heads, hd, rot, cos.data(), sin.data(), true);
          check_fd(name + " inverse as gradient vs finite differences", to_d(dx), xd,
                   [&] { return dot(dyd, rope_ref(xd, n, seq_len, stride, heads, hd, rot, theta, false)); }, rng);
        }
}

// ---- embeddings, bias, residual -------------------------------------------------------------------

void embedding_cases(std::mt19937_64& rng) {
  const int64_t vocab = 13;
  for (int64_t n : kRows)
    for (int64_t d : kWidths)
      for (int64_t seq_len : {4, 33})
        for (bool with_pos : {true, false}) {
          const std::string name = shape(with_pos ? "embedding" : "embedding (no positions)", n, d) +
                                   " seq_len=" + std::to_string(seq_len);
          const int64_t pos_rows = seq_len + 2;  // [≥ seq_len, d]: the extra rows are never read or written
          std::uniform_int_distribution<int32_t> tok(0, vocab - 1);
          std::vector<int32_t> tokens(n);
          for (auto& t : tokens) t = tok(rng);
          if (n > 2) tokens[n - 1] = tokens[0];  // a repeated token: the backward must add both rows
          const Vf table = w2s_test::random_floats(rng, vocab * d), pos = w2s_test::random_floats(rng, pos_rows * d);
          Vd td = to_d(table), pd = to_d(pos);
          const auto forward = [&] {
            Vd out(n * d);
            for (int64_t r = 0; r < n; ++r)
              for (int64_t j = 0; j < d; ++j)
                out[r * d + j] = td[tokens[r] * d + j] + (with_pos ? pd[(r % seq_len) * d + j] : 0.0);
            return out;
          };
          Vf out = poisoned(n * d);
          w2s::embedding_forward(tokens.data(), table.data(), with_pos ? pos.data() : nullptr, n, seq_len, d,
                                 out.data());
          check_close(name + " forward", out, forward(), kForwardTol);

          const Vf dout = w2s_test::random_floats(rng, n * d);
          const Vd doutd = to_d(dout);
          Vd rdt(vocab * d, 0.0), rdp(pos_rows * d, 0.0);
          for (int64_t r = 0; r < n; ++r)
            for (int64_t j = 0; j < d; ++j) {
              rdt[tokens[r] * d + j] += doutd[r * d + j];
              rdp[(r % seq_len) * d + j] += doutd[r * d + j];
            }
          const Vf dt0 = w2s_test::random_floats(rng, vocab * d), dp0 = w2s_test::random_floats(rng, pos_rows * d);
          Vf dt = dt0, dp = dp0;
          w2s::embedding_backward(tokens.data(), dout.data(), n, seq_len, d, dt.data(), with_pos ? dp.data() : nullptr);
          const Vd gt = added(dt, dt0), gp = added(dp, dp0);
          check_close(name + " backward dtable (+=)", gt, rdt, kBackwardTol, kGradFloor);
          if (with_pos) {
            check_close(name + " backward dpositions (+=)", gp, rdp, kBackwardTol, kGradFloor);
          } else {
            CHECK(dp == dp0, "%s: dpositions changed although null was passed", name.c_str());
          }
          const auto loss = [&] { return dot(doutd, forward()); };
          check_fd(name + " dtable vs finite differences", gt, td, loss, rng);
          if (with_pos) check_fd(name + " dpositions vs finite differences", gp, pd, loss, rng);
        }
}

void bias_residual_cases(std::mt19937_64& rng) {
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (int64_t n : kRows)
    for (int64_t d : kWidths) shapes.push_back({n, d});
  shapes.push_back({200, 130});  // several row ranges (add_bias) and column blocks (bias_backward)
  for (const auto& [n, d] : shapes) {
    const std::string name = shape("bias", n, d);
    const Vf y0 = w2s_test::random_floats(rng, n * d), b = w2s_test::random_floats(rng, d);
    Vd bd = to_d(b), ry(n * d);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < d; ++j) ry[r * d + j] = static_cast<double>(y0[r * d + j]) + bd[j];
    Vf y = y0;
    w2s::add_bias(y.data(), b.data(), n, d);
    check_close(name + " add_bias (+=)", y, ry, kForwardTol);

    const Vf dy = w2s_test::random_floats(rng, n * d);
    const Vd dyd = to_d(dy);
    Vd rdb(d, 0.0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < d; ++j) rdb[j] += dyd[r * d + j];
    const Vf db0 = w2s_test::random_floats(rng, d);
    Vf db = db0;
    w2s::bias_backward(dy.data(), n, d, db.data());
    const Vd gb = added(db, db0);
    check_close(name + " bias_backward (+=)", gb, rdb, kBackwardTol, kGradFloor);
    // L = Σ dy·(y0 + b): dL/db is the column sum.
    check_fd(name + " bias_backward vs finite differences", gb, bd,
             [&] {
               double s = 0.0;
               for (int64_t r = 0; r < n; ++r)
                 for (int64_t j = 0; j < d; ++j) s += dyd[r * d + j] * (y0[r * d + j] + bd[j]);
               return s;
             },
             rng);
  }
  for (int64_t count : {1, 3, 17, 100, 20001}) {
    const Vf y0 = w2s_test::random_floats(rng, count), x = w2s_test::random_floats(rng, count);
    Vd ry(count);
    for (int64_t i = 0; i < count; ++i) ry[i] = static_cast<double>(y0[i]) + x[i];
    Vf y = y0;
    w2s::add_inplace(y.data(), x.data(), count);
    check_close("add_inplace count=" + std::to_string(count), y, ry, kForwardTol);
  }
}

// ---- dropout --------------------------------------------------------------------------------------

void dropout_cases(std::mt19937_64& rng) {
  const int64_t count = 1 << 20;
  const Vf x = w2s_test::random_floats(rng, count, 0.5f, 1.5f);  // never 0: a 0 in the output is a drop
  const uint64_t seed = rng();
  Vf same = x;
  w2s::dropout_apply(same.data(), count, 0.0f, seed);
  CHECK(same == x, "dropout p=0 is not the identity");

  for (float p : {0.1f, 0.5f, 0.9f}) {
    const std::string name = "dropout p=" + std::to_string(p);
    Vf a = x, b = x;
    w2s::dropout_apply(a.data(), count, p, seed);
    w2s::dropout_apply(b.data(), count, p, seed);
    CHECK(std::memcmp(a.data(), b.data(), count * sizeof(float)) == 0, "%s: same seed, different results",
          name.c_str());

    // Kept values are x / (1 − p) (float32 rounding of the scale: 1e-6), dropped ones exactly 0.
    const double keep_scale = 1.0 / (1.0 - static_cast<double>(p));
    int64_t kept = 0, kept_pairs = 0;
    double worst = 0.0;
    for (int64_t i = 0; i < count; ++i) {
      const bool k = a[i] != 0.0f;
      kept += k;
      if (i % 2 == 1) kept_pairs += k && a[i - 1] != 0.0f;
      if (k) worst = std::max(worst, std::fabs(a[i] - x[i] * keep_scale) / (x[i] * keep_scale));
      else CHECK(a[i] == 0.0f, "%s: dropped element %ld is %g", name.c_str(), (long)i, a[i]);
    }
    CHECK(worst <= 1e-6, "%s: kept values not x/(1-p): worst relative error %.3g", name.c_str(), worst);
    // Binomial keep count: within 6 standard deviations of (1 − p)·count; likewise for the pairs
    // (2i, 2i + 1) both kept, (1 − p)² of count/2 (a cheap check that neighbours are independent).
    const double q = 1.0 - p, sd = std::sqrt(count * p * q);
    CHECK(std::fabs(kept - q * count) <= 6 * sd, "%s: kept %ld of %ld, expected %.0f ± %.0f", name.c_str(), (long)kept,
          (long)count, q * count, sd);
    const double pairs = count / 2.0, q2 = q * q, sd2 = std::sqrt(pairs * q2 * (1 - q2));
    CHECK(std::fabs(kept_pairs - q2 * pairs) <= 6 * sd2, "%s: %ld kept pairs, expected %.0f ± %.0f", name.c_str(),
          (long)kept_pairs, q2 * pairs, sd2);

    // Another seed draws another mask.
    Vf c = x;
    w2s::dropout_apply(c.data(), count, p, seed + 1);
    int64_t differ = 0;
    for (int64_t i = 0; i < count; ++i) differ += (a[i] == 0.0f) != (c[i] == 0.0f);
    CHECK(differ > count * p * q, "%s: seeds %llu and %llu: masks differ in only %ld elements", name.c_str(),
          (unsigned long long)seed, (unsigned long long)(seed + 1), (long)differ);

    // The mask depends on (seed, element index) only: a shorter call keeps the same prefix, and
    // the thread count does not matter.
    Vf prefix(x.begin(), x.begin() + 1001);
    w2s::dropout_apply(prefix.data(), 1001, p, seed);
    CHECK(std::equal(prefix.begin(), prefix.end(), a.begin()), "%s: a 1001-element call is not the prefix",
          name.c_str());
    const int threads = w2s::num_threads();
    w2s::set_num_threads(1);
    Vf serial = x;
    w2s::dropout_apply(serial.data(), count, p, seed);
    w2s::set_num_threads(threads);
    CHECK(serial == a, "%s: one thread and %d threads give different masks", name.c_str(), threads);
  }
}

// ---- token cross-entropy -----------------------------------------------------------------------------

// Σ over rows with a target of logsumexp(z) − z_t; grad = scale·(softmax − onehot), 0 for ignored rows.
double xent_ref(const Vd& z, const std::vector<int32_t>& t, int64_t n, int64_t v, double scale, Vd* grad) {
  double total = 0.0;
  if (grad) grad->assign(n * v, 0.0);
  for (int64_t r = 0; r < n; ++r) {
    if (t[r] < 0) continue;
    double mx = -INFINITY, s = 0.0;
    for (int64_t j = 0; j < v; ++j) mx = std::max(mx, z[r * v + j]);
    for (int64_t j = 0; j < v; ++j) s += std::exp(z[r * v + j] - mx);
    total += std::log(s) + mx - z[r * v + t[r]];
    if (grad) {
      for (int64_t j = 0; j < v; ++j) (*grad)[r * v + j] = scale * std::exp(z[r * v + j] - mx) / s;
      (*grad)[r * v + t[r]] -= scale;
    }
  }
  return total;
}

void xent_cases(std::mt19937_64& rng) {
  for (int64_t n : kRows)
    for (int64_t v : kWidths) {
      const std::string name = "token_xent_loss N=" + std::to_string(n) + " V=" + std::to_string(v);
      const Vf z = w2s_test::random_floats(rng, n * v, -6.0f, 6.0f);
      Vd zd = to_d(z);
      std::vector<int32_t> t(n);
      std::uniform_int_distribution<int32_t> tok(0, v - 1);
      std::bernoulli_distribution ignore(0.25);
      for (auto& x : t) x = ignore(rng) ? -1 : tok(rng);
      if (n >= 5) {  // where there are several rows, at least one ignored and one not
        t[1] = -1;
        t[2] = tok(rng);
      }
      int64_t valid = 0;
      for (auto x : t) valid += x >= 0;
      const float scale = valid ? 1.0f / static_cast<float>(valid) : 0.37f;

      Vd rgrad;
      const double rloss = xent_ref(zd, t, n, v, scale, &rgrad);
      Vf dz = poisoned(n * v);
      const double loss = w2s::token_xent_loss(z.data(), t.data(), n, v, scale, dz.data());
      const double e_loss = std::fabs(loss - rloss) / std::max(1e-6, std::fabs(rloss));
      CHECK(e_loss <= kForwardTol, "%s: loss %.9g vs reference %.9g (relative error %.3g)", name.c_str(), loss, rloss,
            e_loss);
      check_close(name + " dlogits", dz, rgrad, kBackwardTol, kGradFloor * scale);
      bool zero_rows = true;
      for (int64_t r = 0; r < n; ++r)
        if (t[r] < 0)
          for (int64_t j = 0; j < v; ++j) zero_rows &= dz[r * v + j] == 0.0f;
      CHECK(zero_rows, "%s: ignored rows have a nonzero (or NaN) gradient", name.c_str());
      check_fd(name + " dlogits vs finite differences", to_d(dz), zd,
               [&] { return scale * xent_ref(zd, t, n, v, scale, nullptr); }, rng, kGradFloor * scale);

      // In place: the same numbers as out of place.
      Vf buf = z;
      const double loss_in_place = w2s::token_xent_loss(buf.data(), t.data(), n, v, scale, buf.data());
      CHECK(loss_in_place == loss, "%s: in-place loss %.17g vs out-of-place %.17g", name.c_str(), loss_in_place, loss);
      CHECK(std::memcmp(buf.data(), dz.data(), dz.size() * sizeof(float)) == 0,
            "%s: in-place dlogits differ from out-of-place", name.c_str());

      // Every row ignored: no loss, zero gradient.
      const std::vector<int32_t> none(n, -1);
      Vf dz_none = poisoned(n * v);
      const double loss_none = w2s::token_xent_loss(z.data(), none.data(), n, v, scale, dz_none.data());
      CHECK(loss_none == 0.0, "%s: all rows ignored, loss %.9g", name.c_str(), loss_none);
      CHECK(std::all_of(dz_none.begin(), dz_none.end(), [](float g) { return g == 0.0f; }),
            "%s: all rows ignored, nonzero gradient", name.c_str());
    }

  // Non-finite logits in a row with a target throw NonFiniteInput, wherever they are in the row:
  // in a full 16-lane vector (V = 100: full vectors at columns 0, 16, ..., 80), in the scalar tail
  // (96..99), at the target.
  const int64_t n = 3, v = 100;
  const Vf z = w2s_test::random_floats(rng, n * v, -3.0f, 3.0f);
  const std::vector<int32_t> t = {4, 50, 7};
  Vf dz(n * v);
  struct Bad {
    int64_t col;
    float value;
    const char* what;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const Bad bads[] = {{5, kNaN, "NaN in the first vector"},
                      {80, kNaN, "NaN in lane 0 of the last full vector"},
                      {86, kNaN, "NaN in lane 6 of the last full vector"},
                      {98, kNaN, "NaN in the scalar tail"},
                      {50, kNaN, "NaN at the target"},
                      {20, inf, "+Inf in a vector"},
                      {99, inf, "+Inf in the tail"},
                      {20, -inf, "-Inf in a vector"},
                      {99, -inf, "-Inf in the tail"}};
  for (const Bad& bad : bads) {
    Vf zb = z;
    zb[1 * v + bad.col] = bad.value;
    const std::string what = std::string("token_xent_loss: ") + bad.what + " (row 1, column " +
                             std::to_string(bad.col) + ", target 50)";
    w2s_test::expect_throw<w2s::NonFiniteInput>(
        what.c_str(), [&] { w2s::token_xent_loss(zb.data(), t.data(), n, v, 1.0f, dz.data()); }, "logits");
  }
}

// ---- AdamW, sum_squares, scale_inplace --------------------------------------------------------------

void adamw_cases(std::mt19937_64& rng) {
  for (int64_t count : {1, 17, 100, 40000}) {
    w2s::AdamWStep s;
    s.lr = 1e-2f;
    s.weight_decay = 0.1f;
    const Vf p0 = w2s_test::random_floats(rng, count);
    Vf p = p0, m(count, 0.0f), v(count, 0.0f);
    Vd rp = to_d(p0), rm(count, 0.0), rv(count, 0.0);
    const double b1 = s.beta1, b2 = s.beta2, lr = s.lr, eps = s.eps, wd = s.weight_decay;
    for (int64_t step = 1; step <= 3; ++step) {
      const std::string name = "adamw count=" + std::to_string(count) + " step " + std::to_string(step);
      const Vf g = w2s_test::random_floats(rng, count);
      const Vf g_copy = g;
      const Vd rp_before = rp;
      const Vf p_before = p;
      s.grad_scale = step == 2 ? 0.37f : 1.0f;  // the clipping factor, on step 2
      for (int64_t i = 0; i < count; ++i) {
        const double gi = static_cast<double>(g[i]) * s.grad_scale;
        rm[i] = b1 * rm[i] + (1 - b1) * gi;
        rv[i] = b2 * rv[i] + (1 - b2) * gi * gi;
        const double mh = rm[i] / (1 - std::pow(b1, step)), vh = rv[i] / (1 - std::pow(b2, step));
        rp[i] -= lr * (mh / (std::sqrt(vh) + eps) + wd * rp[i]);
      }
      s.step = step;
      w2s::adamw_update(p.data(), g.data(), m.data(), v.data(), count, s);
      CHECK(g == g_copy, "%s: g was modified", name.c_str());
      // m's floor: m sums terms (1 − β1)·g of size ~0.1 with either sign, which can cancel (with
      // count = 1 the one entry may be ~1e-3); v only adds positive terms and needs none.
      check_close(name + " m", m, rm, kForwardTol, 1e-2);
      check_close(name + " v", v, rv, kForwardTol);
      check_close(name + " p", p, rp, kForwardTol, 0.1);  // floor: one entry of p may be ~0
      // The update itself (p_after − p_before, ~lr) must match too, or a small error in it would
      // hide behind p's magnitude. It is a difference of two floats of magnitude ~1 rounded to
      // 6e-8, over an update of ~1e-2: hence the backward tolerance, 1e-4, relative to at least lr
      // (the update's natural size: where m cancels, m̂/sqrt(v̂) ≪ 1 and the update is tiny).
      Vd rdelta(count);
      for (int64_t i = 0; i < count; ++i) rdelta[i] = rp[i] - rp_before[i];
      check_close(name + " update", added(p, p_before), rdelta, kBackwardTol, lr);
    }
  }
}

void reduction_cases(std::mt19937_64& rng) {
  for (int64_t count : {1, 17, 65536, 200003}) {
    const Vf x = w2s_test::random_floats(rng, count, -3.0f, 3.0f);
    double ref = 0.0;
    for (float a : x) ref += static_cast<double>(a) * a;
    const double got = w2s::sum_squares(x.data(), count);
    // Both sum float32 squares in double, in different orders: ~count·1e-16.
    CHECK(std::fabs(got - ref) <= 1e-11 * ref, "sum_squares count=%ld: %.17g vs %.17g", (long)count, got, ref);

    const float s = -0.37f;
    Vf y = x;
    w2s::scale_inplace(y.data(), count, s);
    bool exact = true;
    for (int64_t i = 0; i < count; ++i) exact &= y[i] == x[i] * s;  // one float32 product: exact
    CHECK(exact, "scale_inplace count=%ld: not x·s", (long)count);
  }
}

void all_cases(std::mt19937_64& rng) {
  layer_norm_cases(rng);
  rms_norm_cases(rng);
  gelu_cases(rng);
  gelu_exact_cases(rng);
  swiglu_cases(rng);
  rope_cases(rng);
  embedding_cases(rng);
  bias_residual_cases(rng);
  dropout_cases(rng);
  xent_cases(rng);
  adamw_cases(rng);
  reduction_cases(rng);
}

}  // namespace

int main() {
  std::mt19937_64 rng(w2s_test::test_seed());
  all_cases(rng);
  w2s::set_num_threads(3);
  all_cases(rng);
  return w2s_test::finish("layers");
}
