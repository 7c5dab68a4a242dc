// CUDA losses (xent, logconf, product) against the CPU kernels (themselves checked against float64
// in test_losses): binary and multi-class, N not a multiple of the block or of the grid, batches
// large enough for many blocks and for every level of the device's quantile selection (ties and
// saturated margins included), gradients poisoned beforehand; the value is the same on a second
// call; NaN/Inf and bad targets named as on the CPU. Without a usable GPU: "skipped: no CUDA
// device", exit 77.
#include "check.h"
#include "cuda_check.h"
#include "w2s/cuda.h"
#include "w2s/kernels.h"

namespace {

using w2s_test::random_distributions;
using w2s_test::relative_error;

enum class Loss { Xent, Logconf, Product };

struct Call {
  Loss loss;
  float alpha = 0.0f, beta = 0.0f;
};

std::string describe(const Call& call) {
  char s[64];
  if (call.loss == Loss::Xent) return "xent";
  if (call.loss == Loss::Logconf) std::snprintf(s, sizeof s, "logconf alpha=%g", call.alpha);
  else std::snprintf(s, sizeof s, "product alpha=%g beta=%g", call.alpha, call.beta);
  return s;
}

double cpu_loss(const Call& call, const std::vector<float>& z, const std::vector<float>& y, int64_t n, int64_t c,
                std::vector<float>& dz) {
  switch (call.loss) {
    case Loss::Xent: return w2s::xent_loss(z.data(), y.data(), n, c, dz.data());
    case Loss::Logconf: return w2s::logconf_loss(z.data(), y.data(), n, c, call.alpha, dz.data());
    case Loss::Product: return w2s::product_loss(z.data(), y.data(), n, c, call.alpha, call.beta, dz.data());
  }
  return 0.0;
}

double cuda_loss(const Call& call, const float* z, const float* y, int64_t n, int64_t c, float* dz) {
  switch (call.loss) {
    case Loss::Xent: return w2s::cuda::xent_loss(z, y, n, c, dz);
    case Loss::Logconf: return w2s::cuda::logconf_loss(z, y, n, c, call.alpha, dz);
    case Loss::Product: return w2s::cuda::product_loss(z, y, n, c, call.alpha, call.beta, dz);
  }
  return 0.0;
}

const Call kCalls[] = {{Loss::Xent},          {Loss::Logconf, 0.0f},     {Loss::Logconf, 0.3f},
                       {Loss::Logconf, 1.0f}, {Loss::Product, 1.0f, 1.0f}, {Loss::Product, 0.5f, 2.0f},
                       {Loss::Product, 0.0f, 1.0f}, {Loss::Product, 1.0f, 0.0f}};

void compare(const char* what, const std::vector<float>& z, const std::vector<float>& y, int64_t n, int64_t c) {
  const auto zd = w2s_test::upload(z), yd = w2s_test::upload(y);
  for (const Call& call : kCalls) {
    std::vector<float> ref_dz(n * c);
    const double ref = cpu_loss(call, z, y, n, c, ref_dz);
    auto dz = w2s_test::poisoned(n * c);
    const double loss = cuda_loss(call, zd.floats(), yd.floats(), n, c, dz.floats());
    const auto got = w2s_test::download(dz, n * c);
    const std::string name = describe(call);
    const double e_loss = std::fabs(loss - ref) / std::max(1e-30, std::fabs(ref));
    // dz relative to its largest entry, but at least 1e-2 / N (as the CPU test).
    const double e_dz = relative_error(got, ref_dz, 1e-2 / static_cast<double>(n));
    CHECK(w2s_test::all_finite(got), "%s %s N=%ld C=%ld: dz has NaN or Inf", what, name.c_str(), (long)n, (long)c);
    CHECK(e_loss <= 1e-4, "%s %s N=%ld C=%ld: loss %.8g vs CPU %.8g (relative error %.3g)", what, name.c_str(), (long)n,
          (long)c, loss, ref, e_loss);
    CHECK(e_dz <= 1e-4, "%s %s N=%ld C=%ld: dz relative error %.3g", what, name.c_str(), (long)n, (long)c, e_dz);
    const double again = cuda_loss(call, zd.floats(), yd.floats(), n, c, dz.floats());
    CHECK(again == loss, "%s %s N=%ld C=%ld: a second call gave %.17g, the first %.17g", what, name.c_str(), (long)n,
          (long)c, again, loss);
  }
  std::printf("  %-28s N=%-8ld C=%-4ld compared\n", what, (long)n, (long)c);
}

void random_cases(std::mt19937_64& rng) {
  std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 2},   {17, 2},  {1000, 2}, {9000, 2},
                                                     {5, 3},   {333, 7}, {70, 50},  {257, 2}};
  if (!w2s_test::small_only()) {
    shapes.push_back({300001, 2});  // more rows than the grid has threads: several rows per thread
    shapes.push_back({20000, 5});
  }
  for (const auto& [n, c] : shapes)
    for (float scale : {1.0f, 30.0f}) {
      const auto z = w2s_test::random_floats(rng, n * c, -scale, scale);
      compare(scale == 1.0f ? "random" : "random, large logits", z, random_distributions(rng, n, c), n, c);
    }
}

// Binary logconf's selection where it is hard: many equal margins, margins in one narrow band (so
// that the first levels of the selection leave many candidates), saturated p0, all rows equal.
void selection_cases(std::mt19937_64& rng) {
  const int64_t n = w2s_test::small_only() ? 4099 : 200003;
  std::uniform_int_distribution<int> few(0, 6);
  std::vector<float> z(2 * n);
  for (int64_t i = 0; i < n; ++i) z[2 * i] = 0.25f * few(rng), z[2 * i + 1] = 0.0f;
  compare("seven distinct margins", z, random_distributions(rng, n, 2), n, 2);
  const auto band = w2s_test::random_floats(rng, n, 1.0f, 1.0001f);
  for (int64_t i = 0; i < n; ++i) z[2 * i] = band[i], z[2 * i + 1] = 0.0f;
  compare("margins within 1e-4", z, random_distributions(rng, n, 2), n, 2);
  const auto wide = w2s_test::random_floats(rng, n, 15.0f, 40.0f);
  for (int64_t i = 0; i < n; ++i) z[2 * i] = wide[i], z[2 * i + 1] = -wide[i];
  compare("saturated p0", z, random_distributions(rng, n, 2), n, 2);
  for (int64_t i = 0; i < n; ++i) z[2 * i] = 0.7f, z[2 * i + 1] = -0.3f;
  compare("every row equal", z, random_distributions(rng, n, 2), n, 2);
  // Hard labels with mean exactly 1/2 on an even count of rows: q (N - 1) is not an integer.
  std::vector<float> hard(2 * 1000);
  for (int64_t i = 0; i < 1000; ++i) hard[2 * i + (i % 2)] = 1.0f;
  compare("hard labels", w2s_test::random_floats(rng, 2 * 1000, -3.0f, 3.0f), hard, 1000, 2);
  // Smoothed labels, the same in every row: q (N - 1) lands within rounding of an integer, so the
  // rank depends on the order of the sum of y[:, 1], which must be the CPU's.
  for (auto [rows, y1] : {std::pair<int64_t, float>{81, 0.3f}, {81, 0.9f}, {91, 0.9f}, {97, 1.0f / 3}, {100, 1.0f / 3},
                          {12289, 0.3f}}) {
    std::vector<float> smooth(2 * rows);
    for (int64_t i = 0; i < rows; ++i) smooth[2 * i] = 1.0f - y1, smooth[2 * i + 1] = y1;
    compare("smoothed labels", w2s_test::random_floats(rng, 2 * rows, -3.0f, 3.0f), smooth, rows, 2);
  }
}

void errors(std::mt19937_64& rng) {
  const int64_t n = 20000;
  auto z = w2s_test::random_floats(rng, 2 * n);
  const auto y = random_distributions(rng, n, 2);
  z[2 * 15000 + 1] = -std::numeric_limits<float>::infinity();
  z[2 * 19999] = std::numeric_limits<float>::quiet_NaN();
  auto zd = w2s_test::upload(z), yd = w2s_test::upload(y);
  auto dz = w2s_test::poisoned(2 * n);
  w2s_test::expect_throw<w2s::NonFiniteInput>(
      "first bad row (logconf)", [&] { w2s::cuda::logconf_loss(zd.floats(), yd.floats(), n, 2, 0.5f, dz.floats()); },
      "logits[15000, 1] is -Infinity");
  w2s_test::expect_throw<w2s::NonFiniteInput>(
      "first bad row (xent)", [&] { w2s::cuda::xent_loss(zd.floats(), yd.floats(), n, 2, dz.floats()); },
      "logits[15000, 1] is -Infinity");
  auto bad_y = y;
  bad_y[2 * 123] = 0.9f;  // row 123 sums to more than 1
  const auto zok = w2s_test::upload(w2s_test::random_floats(rng, 2 * n));
  auto bad_yd = w2s_test::upload(bad_y);
  w2s_test::expect_throw<w2s::InvalidArgument>(
      "not a distribution",
      [&] { w2s::cuda::product_loss(zok.floats(), bad_yd.floats(), n, 2, 1.0f, 1.0f, dz.floats(), "weakTargets"); },
      "weakTargets row 123 must sum to 1");
  std::vector<float> y3 = random_distributions(rng, 10, 3);
  y3[3 * 4 + 2] = std::numeric_limits<float>::infinity();
  const auto z3 = w2s_test::upload(w2s_test::random_floats(rng, 30));
  const auto y3d = w2s_test::upload(y3);
  w2s_test::expect_throw<w2s::NonFiniteInput>(
      "Inf target, C = 3", [&] { w2s::cuda::logconf_loss(z3.floats(), y3d.floats(), 10, 3, 0.5f, dz.floats()); },
      "targets[4, 2] is Infinity");
  w2s_test::expect_throw<w2s::InvalidArgument>(
      "alpha > 1", [&] { w2s::cuda::logconf_loss(zok.floats(), yd.floats(), n, 2, 1.5f, dz.floats()); },
      "alpha must be in [0, 1]");
  w2s_test::expect_throw<w2s::InvalidArgument>(
      "N = 0", [&] { w2s::cuda::xent_loss(zok.floats(), yd.floats(), 0, 2, dz.floats()); },
      "N (rows of logits) must be >= 1");
  // The device is still usable after rejected inputs.
  compare("after errors", w2s_test::random_floats(rng, 64), random_distributions(rng, 32, 2), 32, 2);
}

}  // namespace

int main() {
  w2s_test::require_cuda_or_skip("cuda_losses");
  std::mt19937_64 rng(w2s_test::test_seed());
  random_cases(rng);
  selection_cases(rng);
  errors(rng);
  return w2s_test::finish("cuda_losses");
}
