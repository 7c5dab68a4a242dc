// CUDA kernel benchmark (no Node): fused attention forward and forward+backward, causal, at the
// shapes of the targets in float32, TF32 and bf16; the losses at N = 16,777,216, C = 2
// against the card's device-to-device copy bandwidth. Times are CUDA-event medians after warm-up.
// TFLOP/s are counted as FlashAttention does (forward 4 B H T^2 D, halved when causal; forward +
// backward 3.5 x forward). A loss moves 3 N C floats (reads z and y, writes dz); a copy of S bytes
// moves 2 S.
//   bench_cuda [--quick] [--json FILE]      (--json: one JSON object per measurement, for gpu-check.sh)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../src/cuda/check.h"
#include "w2s/cuda.h"

namespace {

using w2s::cuda::Precision;

double median_ms(const std::function<void()>& run, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) run();
  using w2s::cuda::check;
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    check(cudaEventRecord(start), "cudaEventRecord");
    run();
    check(cudaEventRecord(stop), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    times.push_back(ms);
  }
  check(cudaEventDestroy(start), "cudaEventDestroy");
  check(cudaEventDestroy(stop), "cudaEventDestroy");
  w2s::cuda::synchronize("benchmark");
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

w2s::cuda::DeviceBuffer random_device(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> host(n);
  for (auto& x : host) x = dist(rng);
  w2s::cuda::DeviceBuffer buffer(sizeof(float) * n);
  w2s::cuda::copy_to_device(buffer.data(), host.data(), sizeof(float) * n);
  return buffer;
}

FILE* json_file = nullptr;

void emit(const std::string& object) {
  if (json_file) std::fprintf(json_file, "%s\n", object.c_str());
}

void bench_attention(int64_t B, int64_t H, int64_t T, int64_t D, Precision precision, int reps) {
  const int64_t size = B * T * H * D;
  auto q = random_device(size, -1, 1, 1), k = random_device(size, -1, 1, 2), v = random_device(size, -1, 1, 3);
  auto dout = random_device(size, -1, 1, 4);
  w2s::cuda::DeviceBuffer out(sizeof(float) * size), lse(sizeof(float) * B * H * T), dq(sizeof(float) * size),
      dk(sizeof(float) * size), dv(sizeof(float) * size);
  const w2s::AttentionShape shape{B, T, T, H, H, D};
  w2s::AttentionOptions opts;
  opts.causal = true;
  const auto view = [&](const w2s::cuda::DeviceBuffer& b) { return w2s::contiguous_view(static_cast<const float*>(b.data()), T, H, D); };
  const auto mview = [&](w2s::cuda::DeviceBuffer& b) { return w2s::contiguous_view(b.floats(), T, H, D); };
  const auto forward = [&] { w2s::cuda::attention_forward(shape, view(q), view(k), view(v), opts, precision, mview(out), lse.floats()); };
  const auto both = [&] {
    forward();
    w2s::cuda::attention_backward(shape, view(q), view(k), view(v), view(out), lse.floats(), view(dout), opts, precision,
                                  mview(dq), mview(dk), mview(dv));
  };
  const double fwd_flops = 4.0 * B * H * T * T * D / 2;
  const double f = median_ms(forward, 3, reps), fb = median_ms(both, 3, reps);
  const char* name = w2s::cuda::precision_name(precision);
  std::printf("attention %-7s B=%ld H=%ld T=%ld D=%ld causal  forward %8.3f ms %6.1f TFLOP/s   forward+backward %8.3f ms %6.1f TFLOP/s\n",
              name, (long)B, (long)H, (long)T, (long)D, f, fwd_flops / f / 1e9, fb, 3.5 * fwd_flops / fb / 1e9);
  char json[512];
  std::snprintf(json, sizeof json,
                "{\"kind\":\"attention\",\"precision\":\"%s\",\"B\":%ld,\"H\":%ld,\"S\":%ld,\"D\":%ld,\"causal\":true,"
                "\"fwd_ms\":%.4f,\"fwd_tflops\":%.2f,\"fwdbwd_ms\":%.4f,\"fwdbwd_tflops\":%.2f}",
                name, (long)B, (long)H, (long)T, (long)D, f, fwd_flops / f / 1e9, fb, 3.5 * fwd_flops / fb / 1e9);
  emit(json);
}

void bench_losses(int64_t n, int reps) {
  const int64_t c = 2;
  auto z = random_device(n * c, -3, 3, 5);
  std::vector<float> y(n * c);
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> dist(0, 1);
  for (int64_t i = 0; i < n; ++i) y[2 * i + 1] = 1.0f - (y[2 * i] = dist(rng));
  w2s::cuda::DeviceBuffer yd(sizeof(float) * n * c), dz(sizeof(float) * n * c), copy_dst(sizeof(float) * n * c * 3 / 2),
      copy_src(sizeof(float) * n * c * 3 / 2);
  w2s::cuda::copy_to_device(yd.data(), y.data(), sizeof(float) * n * c);
  // The yardstick: a device-to-device copy of the same 3 N C floats of traffic (1.5 N C read + written).
  const size_t copy_bytes = sizeof(float) * n * c * 3 / 2;
  const double copy_ms = median_ms([&] { w2s::cuda::copy_on_device(copy_dst.data(), copy_src.data(), copy_bytes); }, 3, reps);
  const double copy_gbps = 2.0 * copy_bytes / copy_ms / 1e6;
  std::printf("copy (device to device) %zu bytes: %.3f ms, %.0f GB/s\n", copy_bytes, copy_ms, copy_gbps);
  char json[512];
  std::snprintf(json, sizeof json, "{\"kind\":\"copy\",\"bytes\":%zu,\"ms\":%.4f,\"gbps\":%.1f}", copy_bytes, copy_ms, copy_gbps);
  emit(json);
  const struct {
    const char* name;
    std::function<void()> run;
  } losses[] = {
      {"xent", [&] { w2s::cuda::xent_loss(z.floats(), yd.floats(), n, c, dz.floats()); }},
      {"logconf", [&] { w2s::cuda::logconf_loss(z.floats(), yd.floats(), n, c, 0.5f, dz.floats()); }},
      {"product", [&] { w2s::cuda::product_loss(z.floats(), yd.floats(), n, c, 1.0f, 1.0f, dz.floats()); }},
  };
  for (const auto& loss : losses) {
    const double ms = median_ms(loss.run, 3, reps);
    const double gbps = 3.0 * sizeof(float) * n * c / ms / 1e6;
    std::printf("loss %-8s N=%ld C=%ld: %.3f ms, %.0f GB/s = %.0f%% of the copy\n", loss.name, (long)n, (long)c, ms, gbps,
                100.0 * gbps / copy_gbps);
    std::snprintf(json, sizeof json,
                  "{\"kind\":\"loss\",\"loss\":\"%s\",\"N\":%ld,\"C\":%ld,\"ms\":%.4f,\"gbps\":%.1f,\"copy_fraction\":%.3f}",
                  loss.name, (long)n, (long)c, ms, gbps, gbps / copy_gbps);
    emit(json);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json_file = std::fopen(argv[++i], "w");
      if (!json_file) {
        std::perror(argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: bench_cuda [--quick] [--json FILE]\n");
      return 2;
    }
  }
  if (!w2s::cuda::available()) {
    std::printf("bench_cuda: no CUDA device (%s)\n", w2s::cuda::unavailable_reason().c_str());
    return 1;
  }
  // Each measurement on its own: one that fails is reported, and the others still run.
  int failed = 0;
  const auto measure = [&](const char* what, const std::function<void()>& run) {
    try {
      run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_cuda: %s: %s\n", what, e.what());
      ++failed;
    }
  };
  measure("device", [] { std::printf("device: %s\n", w2s::cuda::device_description().c_str()); });
  const int reps = quick ? 5 : 20;
  for (Precision precision : {Precision::Float32, Precision::TF32, Precision::BF16}) {
    measure("attention", [&] { bench_attention(8, 16, 1024, 64, precision, reps); });
    measure("attention", [&] { bench_attention(2, 16, 4096, 128, precision, reps); });
  }
  measure("losses", [&] { bench_losses(quick ? (1 << 20) : 16777216, reps); });
  if (json_file) std::fclose(json_file);
  return failed == 0 ? 0 : 1;
}
