// The losses (xent, logconf, product) against the float64 reference on random inputs (binary and
// multi-class, N not a multiple of the vector width or the chunk), hand-computed logconf cases
// (quantile interpolation, ties, all predictions equal), huge logits, NaN/Inf and bad targets.
#include "check.h"
#include "reference.h"
#include "w2s/kernels.h"

namespace {

using w2s_test::random_distributions;
using w2s_test::relative_error;
namespace ref = w2s_reference;

void compare(const char* name, int64_t n, int64_t c, double loss, const std::vector<float>& dz, double ref_loss,
             const std::vector<double>& ref_dz) {
  const double e_loss = std::fabs(loss - ref_loss) / std::max(1e-30, std::fabs(ref_loss));
  // dz relative to its largest entry, but at least 1e-2 / N (the gradient's natural scale): where
  // the reference gradient is exactly zero (product with alpha = 0, beta = 1) float32 leaves noise.
  const double e_dz = relative_error(dz, ref_dz, 1e-2 / static_cast<double>(n));
  CHECK(e_loss <= 1e-4, "%s N=%ld C=%ld: loss %.8g vs reference %.8g (relative error %.3g)", name, (long)n, (long)c, loss,
        ref_loss, e_loss);
  CHECK(e_dz <= 1e-4, "%s N=%ld C=%ld: dz relative error %.3g", name, (long)n, (long)c, e_dz);
}

void random_cases(std::mt19937_64& rng) {
  const std::pair<int64_t, int64_t> shapes[] = {{1, 2}, {17, 2}, {1000, 2}, {9000, 2}, {5, 3}, {333, 7}, {70, 50}};
  for (const auto& [n, c] : shapes)
    for (float scale : {1.0f, 30.0f}) {
      const auto z = w2s_test::random_floats(rng, n * c, -scale, scale);
      const auto y = random_distributions(rng, n, c);
      const std::vector<double> zd(z.begin(), z.end()), yd(y.begin(), y.end());
      std::vector<float> dz(n * c, std::numeric_limits<float>::quiet_NaN());
      std::vector<double> rdz;

      double loss = w2s::xent_loss(z.data(), y.data(), n, c, dz.data());
      compare("xent", n, c, loss, dz, ref::cross_entropy(zd, yd, c, rdz), rdz);

      for (float alpha : {0.0f, 0.3f, 1.0f}) {
        loss = w2s::logconf_loss(z.data(), y.data(), n, c, alpha, dz.data());
        compare("logconf", n, c, loss, dz, ref::cross_entropy(zd, ref::logconf_target(zd, yd, c, alpha), c, rdz), rdz);
      }
      for (auto [alpha, beta] : {std::pair{1.0f, 1.0f}, {0.5f, 2.0f}, {0.0f, 1.0f}, {1.0f, 0.0f}}) {
        loss = w2s::product_loss(z.data(), y.data(), n, c, alpha, beta, dz.data());
        compare("product", n, c, loss, dz, ref::cross_entropy(zd, ref::product_target(zd, yd, c, alpha, beta), c, rdz),
                rdz);
      }
    }
}

// logconf, binary, computed by hand.
void hand_cases() {
  // p0 = softmax(z)[:,0] = sigmoid(z0 - z1). Four rows with z0 - z1 = ln(p/(1-p)) for p = .1 .2 .3 .4
  // and weak labels with mean y1 = 0.5: the quantile position is 0.5 * 3 = 1.5, so
  // t = 0.2 + 0.5 (0.3 - 0.2) = 0.25: rows with p0 >= 0.25 (p = .3, .4) harden to class 0.
  const float p[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  std::vector<float> z(8), y = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, dz(8);
  for (int i = 0; i < 4; ++i) {
    z[2 * i] = std::log(p[i] / (1 - p[i]));
    z[2 * i + 1] = 0.0f;
  }
  // alpha = 1: the target is the hardened one-hot, the loss is mean -log p(hardened class).
  double loss = w2s::logconf_loss(z.data(), y.data(), 4, 2, 1.0f, dz.data());
  double expected = -(std::log(0.9) + std::log(0.8) + std::log(0.3) + std::log(0.4)) / 4;
  CHECK(std::fabs(loss - expected) < 1e-6, "hand case: loss %.9g, expected %.9g", loss, expected);
  // dz = (softmax - target) / N: row 0 (p0 = .1, target class 1): d z0 = (0.1 - 0) / 4.
  CHECK(std::fabs(dz[0] - 0.025f) < 1e-7, "hand case: dz[0] = %.9g, expected 0.025", dz[0]);
  CHECK(std::fabs(dz[6] - (0.4f - 1.0f) / 4) < 1e-7, "hand case: dz[6] = %.9g, expected -0.15", dz[6]);

  // Ties: p0 = {.2, .2, .2, .6}, mean y1 = 1/3 -> position 1 -> t = 0.2 exactly: every tied row has
  // p0 >= t and hardens to class 0 (as torch's >=), so all four rows are class 0.
  const float tied[4] = {0.2f, 0.2f, 0.2f, 0.6f};
  for (int i = 0; i < 4; ++i) z[2 * i] = std::log(tied[i] / (1 - tied[i]));
  y = {1.0f, 0.0f, 1.0f, 0.0f, 2.0f / 3, 1.0f / 3, 0.0f, 1.0f};  // mean y1 = (0 + 0 + 1/3 + 1) / 4 = 1/3
  loss = w2s::logconf_loss(z.data(), y.data(), 4, 2, 1.0f, dz.data());
  expected = -(3 * std::log(0.2) + std::log(0.6)) / 4;
  CHECK(std::fabs(loss - expected) < 1e-5, "ties: loss %.9g, expected %.9g", loss, expected);

  // Every prediction the same: t equals it, every row hardens to class 0.
  z.resize(8);
  for (int i = 0; i < 4; ++i) {
    z[2 * i] = 0.7f;
    z[2 * i + 1] = -0.3f;
  }
  y = {0.2f, 0.8f, 0.9f, 0.1f, 0.4f, 0.6f, 0.5f, 0.5f};
  loss = w2s::logconf_loss(z.data(), y.data(), 4, 2, 1.0f, dz.data());
  const double p0 = 1.0 / (1.0 + std::exp(-1.0));
  CHECK(std::fabs(loss + std::log(p0)) < 1e-6, "all equal: loss %.9g, expected %.9g", loss, -std::log(p0));
  // Saturation: margins z0 - z1 = -3, 16, 20, 25 give p0 = 1 - 1e-7, 1 - 2e-9, 1 - 1e-11 for the last
  // three, which float32 rounds to 0.99999988, 1, 1. mean y1 = 5/6 puts the quantile at position
  // 2.5, between p0(20) and p0(25): exactly, only the row with margin 25 hardens to class 0.
  z = {-3.0f, 0.0f, 16.0f, 0.0f, 20.0f, 0.0f, 25.0f, 0.0f};
  y = {0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 2.0f / 3, 1.0f / 3};
  loss = w2s::logconf_loss(z.data(), y.data(), 4, 2, 1.0f, dz.data());
  const auto softplus = [](double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); };
  expected = (softplus(-3) + softplus(16) + softplus(20) + softplus(-25)) / 4;
  CHECK(std::fabs(loss - expected) < 1e-5 * expected, "saturated p0: loss %.9g, expected %.9g", loss, expected);
  // alpha = 0 is plain xent whatever the threshold.
  std::vector<float> dz_xent(8);
  const double xent = w2s::xent_loss(z.data(), y.data(), 4, 2, dz_xent.data());
  loss = w2s::logconf_loss(z.data(), y.data(), 4, 2, 0.0f, dz.data());
  CHECK(std::fabs(loss - xent) < 1e-7, "alpha 0: logconf %.9g vs xent %.9g", loss, xent);
}

void stability_and_errors() {
  // Logits of magnitude 1e4: finite loss and gradient, equal to the reference.
  std::vector<float> z = {1e4f, -1e4f, -1e4f, 1e4f, 5e3f, 5e3f}, y = {0.3f, 0.7f, 1.0f, 0.0f, 0.5f, 0.5f}, dz(6);
  const std::vector<double> zd(z.begin(), z.end()), yd(y.begin(), y.end());
  std::vector<double> rdz;
  double loss = w2s::xent_loss(z.data(), y.data(), 3, 2, dz.data());
  compare("xent 1e4", 3, 2, loss, dz, ref::cross_entropy(zd, yd, 2, rdz), rdz);
  loss = w2s::product_loss(z.data(), y.data(), 3, 2, 1.0f, 1.0f, dz.data());
  compare("product 1e4", 3, 2, loss, dz, ref::cross_entropy(zd, ref::product_target(zd, yd, 2, 1.0, 1.0), 2, rdz), rdz);
  loss = w2s::logconf_loss(z.data(), y.data(), 3, 2, 0.5f, dz.data());
  compare("logconf 1e4", 3, 2, loss, dz, ref::cross_entropy(zd, ref::logconf_target(zd, yd, 2, 0.5), 2, rdz), rdz);

  std::vector<float> bad = z;
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  w2s_test::expect_throw<w2s::NonFiniteInput>(
      "NaN logits", [&] { w2s::xent_loss(bad.data(), y.data(), 3, 2, dz.data()); }, "logits[1, 1] is NaN");
  std::vector<float> bad_y = y;
  bad_y[4] = std::numeric_limits<float>::infinity();
  w2s_test::expect_throw<w2s::NonFiniteInput>(
      "Inf targets", [&] { w2s::logconf_loss(z.data(), bad_y.data(), 3, 2, 0.5f, dz.data(), "weakTargets"); },
      "weakTargets[2, 0] is Infinity");
  bad_y = y;
  bad_y[0] = 0.6f;
  w2s_test::expect_throw<w2s::InvalidArgument>(
      "not a distribution", [&] { w2s::product_loss(z.data(), bad_y.data(), 3, 2, 1, 1, dz.data()); },
      "targets row 0 must sum to 1");
  bad_y[0] = -0.3f;
  bad_y[1] = 1.3f;
  w2s_test::expect_throw<w2s::InvalidArgument>(
      "negative target", [&] { w2s::xent_loss(z.data(), bad_y.data(), 3, 2, dz.data()); },
      "targets[0, 0] must be a probability");
  w2s_test::expect_throw<w2s::InvalidArgument>(
      "N = 0", [&] { w2s::xent_loss(z.data(), y.data(), 0, 2, dz.data()); }, "N (rows of logits) must be >= 1");
  w2s_test::expect_throw<w2s::InvalidArgument>(
      "alpha > 1", [&] { w2s::logconf_loss(z.data(), y.data(), 3, 2, 1.5f, dz.data()); }, "alpha must be in [0, 1]");
  // A NaN deep in a large batch is found too, and the first one by row is named.
  std::mt19937_64 rng(7);
  auto big = w2s_test::random_floats(rng, 20000 * 2);
  auto big_y = random_distributions(rng, 20000, 2);
  std::vector<float> big_dz(40000);
  big[2 * 15000 + 1] = -std::numeric_limits<float>::infinity();
  big[2 * 19999] = std::numeric_limits<float>::quiet_NaN();
  w2s_test::expect_throw<w2s::NonFiniteInput>(
      "first bad row", [&] { w2s::logconf_loss(big.data(), big_y.data(), 20000, 2, 0.5f, big_dz.data()); },
      "logits[15000, 1] is -Infinity");
}

}  // namespace

int main() {
  std::mt19937_64 rng(w2s_test::test_seed());
  random_cases(rng);
  hand_cases();
  stability_and_errors();
  w2s::set_num_threads(3);
  random_cases(rng);
  return w2s_test::finish("losses");
}
