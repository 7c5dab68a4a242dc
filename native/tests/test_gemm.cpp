// sgemm (BLAS or fallback), the portable blocked GEMM and bf16_gemm against a float64 product (for
// bf16_gemm, of the inputs rounded to bfloat16 here), all four transpose combinations, odd sizes,
// row strides larger than the rows, alpha and beta, K = 0, and the split over 1, 2 and 3 threads.
#include <cfloat>

#include "check.h"
#include "../src/common/parallel.h"
#include "w2s/kernels.h"

namespace {

// x rounded to the nearest bfloat16 (8 significant bits), ties to even: the default rounding mode
// of nearbyint on x scaled so that one bfloat16 ulp is 1 (normal numbers; the tests draw no others).
double bf16(double x) {
  if (x == 0.0) return x;
  const int ulp_exponent = std::ilogb(x) - 7;
  return std::ldexp(std::nearbyint(std::ldexp(x, -ulp_exponent)), ulp_exponent);
}

// bf16_gemm with rounded copies kept across calls, one set per calling thread (the nested calls
// below come from the pool's threads), as a model's device keeps one.
void bf16_gemm_reusing_scratch(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  thread_local w2s::Bf16Scratch scratch;
  w2s::bf16_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &scratch);
}

void run(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, float beta, std::mt19937_64& rng) {
  const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
  const auto a = w2s_test::random_floats(rng, (ta ? k : m) * lda);
  const auto b = w2s_test::random_floats(rng, (tb ? n : k) * ldb);
  const auto c0 = w2s_test::random_floats(rng, m * ldc);
  std::vector<double> expected(m * n), expected_bf16(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0, s_bf16 = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double x = ta ? a[p * lda + i] : a[i * lda + p], y = tb ? b[j * ldb + p] : b[p * ldb + j];
        s += x * y;
        s_bf16 += bf16(x) * bf16(y);
      }
      expected[i * n + j] = alpha * s + beta * c0[i * ldc + j];
      expected_bf16[i * n + j] = alpha * s_bf16 + beta * c0[i * ldc + j];
    }
  const struct {
    const char* name;
    decltype(&w2s::sgemm) gemm;
    const std::vector<double>& expected;
  } impls[] = {{"sgemm", w2s::sgemm, expected}, {"blocked", w2s::blocked_sgemm, expected}, {"bf16", bf16_gemm_reusing_scratch, expected_bf16}};
  for (const auto& impl : impls) {
    auto c = c0;
    impl.gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
    std::vector<float> got(m * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) got[i * n + j] = c[i * ldc + j];
    const double e = w2s_test::relative_error(got, impl.expected);
    CHECK(e <= 1e-5, "%s ta=%d tb=%d M=%ld N=%ld K=%ld: relative error %.3g", impl.name, ta, tb, (long)m, (long)n,
          (long)k, e);
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(w2s_test::test_seed());
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      run(ta, tb, 1, 1, 1, 1.0f, 0.0f, rng);
      run(ta, tb, 37, 45, 300, 1.0f, 0.0f, rng);
      run(ta, tb, 130, 600, 70, 0.5f, 2.0f, rng);
      run(ta, tb, 5, 17, 1000, -1.0f, 1.0f, rng);
      run(ta, tb, 40, 30, 0, 1.0f, 0.5f, rng);  // K = 0: C = beta·C
      // sgemm splits products over the pool's threads, by rows when M >= N, else by columns, in
      // blocks of 16 with a shorter last one: 1, 2 and 3 threads, both directions.
      for (int threads : {1, 2, 3}) {
        w2s::set_num_threads(threads);
        run(ta, tb, 601, 131, 70, 1.0f, 0.5f, rng);
        run(ta, tb, 131, 601, 70, 0.5f, 2.0f, rng);
      }
    }
  // A product large enough to split, called from inside the pool's items: it runs on the item's
  // thread alone (nested calls are serial), and neither deadlocks nor changes the result.
  w2s::set_num_threads(2);
  std::vector<std::mt19937_64> rngs;
  for (int i = 0; i < 4; ++i) rngs.emplace_back(rng());
  w2s::parallel::for_each(4, [&](int64_t item, int) { run(item & 1, item & 2, 300, 200, 100, 1.0f, 0.0f, rngs[item]); });
  // Ties round to even: 1 + 2^-8 lies halfway between the bfloat16 values 1 and 1 + 2^-7 and rounds
  // to 1 (even last bit); 1 + 3·2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6 and rounds to 1 + 2^-6.
  const float ties[2] = {1.0f + std::ldexp(1.0f, -8), 1.0f + 3 * std::ldexp(1.0f, -8)}, one = 1.0f;
  float rounded[2] = {0.0f, 0.0f};
  w2s::bf16_gemm(false, false, 2, 1, 1, 1.0f, ties, 1, &one, 1, 0.0f, rounded, 1);
  CHECK(rounded[0] == 1.0f && rounded[1] == 1.0f + std::ldexp(1.0f, -6), "bf16 ties: got %.9g and %.9g", rounded[0],
        rounded[1]);
  // The same below zero, through a scratch kept across calls; infinities stay, a NaN stays a NaN,
  // and the largest float rounds up to infinity (its upper 8 bits are all ones).
  w2s::Bf16Scratch scratch;
  const float specials[6] = {-ties[0], -ties[1], INFINITY, -INFINITY, NAN, FLT_MAX};
  float out[6] = {};
  w2s::bf16_gemm(false, false, 6, 1, 1, 1.0f, specials, 1, &one, 1, 0.0f, out, 1, &scratch);
  CHECK(out[0] == -1.0f && out[1] == -1.0f - std::ldexp(1.0f, -6) && out[2] == INFINITY && out[3] == -INFINITY &&
            std::isnan(out[4]) && out[5] == INFINITY,
        "bf16 specials: got %g %.9g %g %g %g %g", out[0], out[1], out[2], out[3], out[4], out[5]);
  w2s_test::expect_throw<w2s::InvalidArgument>(
      "negative size", [] { w2s::blocked_sgemm(false, false, -1, 2, 2, 1, nullptr, 2, nullptr, 2, 0, nullptr, 2); },
      "sizes must be >= 0");
  return w2s_test::finish("gemm");
}
