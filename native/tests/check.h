// A minimal test harness for the C++ tests (no third-party framework: the GPU test machine has
// none, and ctest only needs an exit code). CHECK records a failure and goes on; main() returns
// the number of failures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "w2s/kernels.h"

namespace w2s_test {

inline int& failures() {
  static int n = 0;
  return n;
}

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ++w2s_test::failures();                                              \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                   \
      std::fprintf(stderr, "\n");                                          \
    }                                                                      \
  } while (0)

// Runs fn and expects it to throw E whose message contains `needle`.
template <typename E>
void expect_throw(const char* what, const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
  } catch (const E& e) {
    CHECK(std::string(e.what()).find(needle) != std::string::npos, "%s: message '%s' lacks '%s'", what, e.what(),
          needle.c_str());
    return;
  } catch (const std::exception& e) {
    CHECK(false, "%s: wrong exception type: %s", what, e.what());
    return;
  }
  CHECK(false, "%s: no exception", what);
}

// max |a - b| / max(max |b|, floor) (b the reference); NaN anywhere gives +inf.
template <typename A, typename B>
double relative_error(const A& a, const B& b, double floor = 0.0) {
  double num = 0.0, den = floor;
  for (size_t i = 0; i < b.size(); ++i) {
    const double x = a[i], y = b[i];
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<double>::infinity();
    num = std::max(num, std::fabs(x - y));
    den = std::max(den, std::fabs(y));
  }
  return den == 0.0 ? num : num / den;
}

inline std::vector<float> random_floats(std::mt19937_64& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// n random distributions over c classes, row-major [n, c].
inline std::vector<float> random_distributions(std::mt19937_64& rng, int64_t n, int64_t c) {
  auto y = random_floats(rng, static_cast<size_t>(n * c), 0.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    float s = 0.0f;
    for (int64_t j = 0; j < c; ++j) s += y[i * c + j];
    for (int64_t j = 0; j < c; ++j) y[i * c + j] /= s;
  }
  return y;
}

// q, k, v [B, T, H, D] interleaved into one fused [B, T, 3, H, D] buffer (as one QKV projection
// writes it), and the view of part 0 (q), 1 (k) or 2 (v) of such a buffer.
inline std::vector<float> fuse_qkv(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                   int64_t B, int64_t T, int64_t H, int64_t D) {
  std::vector<float> fused(static_cast<size_t>(3 * B * T * H * D));
  for (int64_t r = 0; r < B * T; ++r)
    for (int part = 0; part < 3; ++part) {
      const auto& src = part == 0 ? q : part == 1 ? k : v;
      std::copy_n(&src[r * H * D], H * D, &fused[(r * 3 + part) * H * D]);
    }
  return fused;
}

inline w2s::ConstView4 fused_view(const float* base, int64_t T, int64_t H, int64_t D, int part) {
  w2s::ConstView4 v;
  v.data = base + part * H * D;
  v.stride[0] = T * 3 * H * D;
  v.stride[1] = 3 * H * D;
  v.stride[2] = D;
  return v;
}

// A fresh seed per run (printed, so a failure can be replayed with W2S_TEST_SEED).
inline uint64_t test_seed() {
  if (const char* s = std::getenv("W2S_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu (replay with W2S_TEST_SEED)\n", static_cast<unsigned long long>(seed));
  return seed;
}

inline int finish(const char* name) {
  if (failures() == 0)
    std::printf("%s: all checks passed\n", name);
  else
    std::printf("%s: %d check(s) failed\n", name, failures());
  return failures() == 0 ? 0 : 1;
}

}  // namespace w2s_test
