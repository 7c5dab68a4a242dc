// C++ kernel benchmark (no Node): attention forward and forward+backward, the losses, sgemm and a
// memory copy, medians after warm-up, on 1 thread and on all threads. For quick iteration on the
// kernels and for machines without Node; `npm run bench:kernels` is the full comparison with tfjs.
//   bench_kernels [--quick]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "w2s/kernels.h"

namespace {

double median_ms(const std::function<void()>& run, int reps) {
  run();
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::vector<float> random_floats(size_t n, float scale) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

w2s::ConstView4 view(const std::vector<float>& d, int64_t T, int64_t H, int64_t D) {
  return w2s::contiguous_view(d.data(), T, H, D);
}
w2s::View4 view(std::vector<float>& d, int64_t T, int64_t H, int64_t D) { return w2s::contiguous_view(d.data(), T, H, D); }

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int all = std::max(1u, std::thread::hardware_concurrency());
  const w2s::BackendInfo info = w2s::backend_info();
  std::printf("blas: %s; simd: %s; cores: %d\n", info.blas.c_str(), info.simd.c_str(), all);
  if (!info.blas_note.empty()) std::printf("%s\n", info.blas_note.c_str());
  const int reps = quick ? 3 : 7;
  const int64_t shapes[][4] = {{8, 8, 256, 64}, {4, 8, 1024, 64}, {1, 8, 4096, 64}};
  const int64_t n = 1000000, c = 2;
  const auto z = random_floats(n * c, 3.0f);
  std::vector<float> y(n * c), dz(n * c);
  for (int64_t i = 0; i < n; ++i) {
    y[2 * i] = 0.5f + 0.5f * z[2 * i + 1] / 3.0f;
    y[2 * i + 1] = 1.0f - y[2 * i];
  }
  const auto a = random_floats(1024 * 1024, 1.0f), b = random_floats(1024 * 1024, 1.0f);
  std::vector<float> cm(1024 * 1024), src = random_floats(n * c * 3, 1.0f), dst(n * c * 3);
  for (int threads : all == 1 ? std::vector<int>{1} : std::vector<int>{1, all}) {
    w2s::set_num_threads(threads);
    std::printf("\n%d thread(s)\n", threads);
    for (const auto& s : shapes) {
      if (quick && s[2] > 256) break;
      const int64_t B = s[0], H = s[1], T = s[2], D = s[3];
      const auto q = random_floats(B * T * H * D, 1), k = random_floats(B * T * H * D, 1), v = random_floats(B * T * H * D, 1);
      const auto g_out = random_floats(B * T * H * D, 1);
      std::vector<float> out(B * T * H * D), lse(B * H * T), dq(out.size()), dk(out.size()), dv(out.size());
      w2s::AttentionShape shape{B, T, T, H, H, D};
      w2s::AttentionOptions opts;
      opts.causal = true;
      const auto fwd = [&] { w2s::attention_forward(shape, view(q, T, H, D), view(k, T, H, D), view(v, T, H, D), opts, view(out, T, H, D), lse.data()); };
      const double f = median_ms(fwd, reps);
      const double fb = median_ms([&] {
        fwd();
        w2s::attention_backward(shape, view(q, T, H, D), view(k, T, H, D), view(v, T, H, D), view(static_cast<const std::vector<float>&>(out), T, H, D),
                                lse.data(), view(g_out, T, H, D), opts, view(dq, T, H, D), view(dk, T, H, D), view(dv, T, H, D));
      }, reps);
      const double flops = 4.0 * B * H * T * T * D / 2;
      std::printf("  attention [%ld,%ld,%ld,%ld] fwd %8.2f ms %6.1f GFLOP/s  fwd+bwd %8.2f ms %6.1f GFLOP/s\n", (long)B, (long)H, (long)T,
                  (long)D, f, flops / f / 1e6, fb, 3.5 * flops / fb / 1e6);
    }
    const double x = median_ms([&] { w2s::xent_loss(z.data(), y.data(), n, c, dz.data()); }, reps);
    const double l = median_ms([&] { w2s::logconf_loss(z.data(), y.data(), n, c, 0.5f, dz.data()); }, reps);
    const double p = median_ms([&] { w2s::product_loss(z.data(), y.data(), n, c, 1, 1, dz.data()); }, reps);
    std::printf("  losses N=1e6 C=2: xent %.2f ms, logconf %.2f ms, product %.2f ms\n", x, l, p);
    const double g = median_ms([&] { w2s::sgemm(false, false, 1024, 1024, 1024, 1, a.data(), 1024, b.data(), 1024, 0, cm.data(), 1024); }, reps);
    std::printf("  sgemm 1024^3                %8.2f ms %7.1f GFLOP/s\n", g, 2.0 * 1024 * 1024 * 1024 / g / 1e6);
    const double bg = median_ms([&] { w2s::blocked_sgemm(false, false, 1024, 1024, 1024, 1, a.data(), 1024, b.data(), 1024, 0, cm.data(), 1024); }, reps);
    std::printf("  blocked sgemm 1024^3        %8.2f ms %7.1f GFLOP/s\n", bg, 2.0 * 1024 * 1024 * 1024 / bg / 1e6);
    const double m = median_ms([&] { std::memcpy(dst.data(), src.data(), src.size() * 4); }, reps);
    std::printf("  memcpy %zu MB (1 thread)   %8.2f ms\n", src.size() * 4 / 1000000, m);
  }
  return 0;
}
