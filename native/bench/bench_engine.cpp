// GPU training benchmark of the engine (no Node): a GPT-2-small-shaped language model (vocabulary
// 50304, d 768, 12 layers, 12 heads, T 256, tied embeddings) trained with AdamW (lr 3e-4, no weight
// decay) on one fixed batch of random tokens, in float32, TF32 and bf16 (tensor-core products and
// attention, float32 master weights). Reports tokens per second (median step after warm-up) and
// the model FLOP utilisation against cuBLAS's matrix rate measured in the same run and precision
// (FLOPs as the PyTorch anchor counts them: 6·N per token, N without the position embeddings, plus
// 6·L·B·T²·D for causal attention forward and backward). The batch is the largest of 64, 48, 32, 24,
// 16 whose training uses at most --memory-gib of device memory (default 16).
//   bench_engine [--steps N] [--memory-gib G] [--tokens FILE] [--json FILE]
// --tokens writes the batch (int32 [B, T + 1]) for native/scripts/gpt2_train_pytorch.py.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../src/cuda/blas.h"
#include "../src/engine/device.h"
#include "w2s/cuda.h"
#include "w2s/engine.h"

namespace {

namespace eng = w2s::engine;
using w2s::cuda::Precision;

constexpr int64_t kVocab = 50304, kDim = 768, kLayers = 12, kHeads = 12, kSeq = 256;

eng::ModelConfig gpt2_small() {
  eng::ModelConfig c;
  // c.architecture: gpt2's features (the default Architecture).
  c.vocab_size = kVocab;
  c.context_length = kSeq;
  c.d_model = kDim;
  c.n_layers = kLayers;
  c.n_heads = kHeads;
  c.n_kv_heads = kHeads;
  c.d_ff = 4 * kDim;
  return c;
}

// Random tokens from a fixed LCG: [B, T + 1], inputs are the first T, targets the last T.
std::vector<int32_t> random_tokens(int64_t batch) {
  std::vector<int32_t> tokens(batch * (kSeq + 1));
  uint64_t state = 12345;
  for (auto& t : tokens) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    t = static_cast<int32_t>((state >> 33) % kVocab);
  }
  return tokens;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// cuBLAS's matrix rate (TFLOP/s) at 4096³ in this precision: the MFU's denominator.
double matrix_rate(Precision precision) {
  const int64_t n = 4096;
  w2s::cuda::DeviceBuffer a(sizeof(float) * n * n), b(sizeof(float) * n * n), c(sizeof(float) * n * n);
  w2s::cuda::fill_bytes(a.data(), 0, a.bytes());
  w2s::cuda::fill_bytes(b.data(), 0, b.bytes());
  const auto run = [&] { w2s::cuda::gemm(precision, false, false, n, n, n, 1.0f, a.floats(), n, b.floats(), n, 0.0f, c.floats(), n); };
  for (int i = 0; i < 3; ++i) run();
  w2s::cuda::synchronize("matrix rate");
  std::vector<double> times;
  for (int i = 0; i < 10; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    w2s::cuda::synchronize("matrix rate");
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  return 2.0 * n * n * n / times[times.size() / 2] / 1e12;
}

size_t used_bytes() {
  size_t free = 0, total = 0;
  cudaMemGetInfo(&free, &total);
  return total - free;
}

struct Result {
  int64_t batch = 0;
  double tokens_per_second = 0, ms_per_step = 0, tflops = 0, mfu = 0, matrix_tflops = 0, loss = 0, memory_gib = 0;
};

// One precision: the largest batch that fits, then the timed steps.
Result measure(Precision precision, int steps, double memory_gib, std::vector<int32_t>* tokens_out) {
  Result r;
  for (int64_t batch : {64, 48, 32, 24, 16}) {
    w2s::cuda::synchronize("bench_engine");  // the pool gives back what the last try freed
    const size_t before = used_bytes();
    try {
      eng::Model model(gpt2_small(), eng::make_cuda_device(precision), 0);
      const auto data = random_tokens(batch);
      std::vector<int32_t> inputs(batch * kSeq), targets(batch * kSeq), lengths(batch, static_cast<int32_t>(kSeq));
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t t = 0; t < kSeq; ++t) {
          inputs[b * kSeq + t] = data[b * (kSeq + 1) + t];
          targets[b * kSeq + t] = data[b * (kSeq + 1) + t + 1];
        }
      eng::Minibatch mb;
      mb.batch = {inputs.data(), lengths.data(), batch, kSeq};
      mb.loss.kind = eng::LossKind::Token;
      mb.loss.token_targets = targets.data();
      eng::OptimizerOptions opt;
      opt.adamw.lr = 3e-4f;
      const std::vector<eng::Minibatch> step = {mb};
      model.train_step(step, opt, nullptr);
      w2s::cuda::synchronize("bench_engine");
      const double gib = static_cast<double>(used_bytes() - before) / (1u << 30);
      if (gib > memory_gib) {
        std::printf("  %s batch %ld: %.1f GiB > %.0f GiB, smaller\n", w2s::cuda::precision_name(precision), (long)batch, gib,
                    memory_gib);
        continue;
      }
      for (int i = 0; i < 2; ++i) model.train_step(step, opt, nullptr);
      std::vector<double> times;
      for (int i = 0; i < steps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        r.loss = model.train_step(step, opt, nullptr).loss;  // returns the loss: waits for the GPU
        times.push_back(seconds_since(t0));
      }
      std::sort(times.begin(), times.end());
      const double dt = times[times.size() / 2];
      int64_t params = 0;
      for (const auto& p : model.parameters())
        if (p.name != "positionEmbedding.weight") params += p.count;
      const double tokens = static_cast<double>(batch * kSeq);
      const double flops = 6.0 * params * tokens + 6.0 * kLayers * batch * kSeq * kSeq * kDim;
      r.batch = batch;
      r.ms_per_step = dt * 1e3;
      r.tokens_per_second = tokens / dt;
      r.tflops = flops / dt / 1e12;
      r.memory_gib = gib;
      if (tokens_out && tokens_out->empty()) *tokens_out = data;
      break;
    } catch (const w2s::cuda::CudaError& e) {
      std::printf("  %s batch %ld: %s, smaller\n", w2s::cuda::precision_name(precision), (long)batch, e.what());
    }
  }
  if (r.batch == 0) throw std::runtime_error("no batch size fits");
  r.matrix_tflops = matrix_rate(precision);
  r.mfu = r.tflops / r.matrix_tflops;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 10;
  double memory_gib = 16;
  const char* tokens_file = nullptr;
  const char* json_file = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--steps" && i + 1 < argc)
      steps = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--memory-gib" && i + 1 < argc)
      memory_gib = std::atof(argv[++i]);
    else if (arg == "--tokens" && i + 1 < argc)
      tokens_file = argv[++i];
    else if (arg == "--json" && i + 1 < argc)
      json_file = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_engine [--steps N] [--memory-gib G] [--tokens FILE] [--json FILE]\n");
      return 2;
    }
  }
  if (!w2s::cuda::available()) {
    std::printf("bench_engine: no CUDA device (%s)\n", w2s::cuda::unavailable_reason().c_str());
    return 1;
  }
  try {
    std::printf("device: %s; GPT-2 small (V %ld, d %ld, %ld layers, %ld heads, T %ld), AdamW, random tokens\n",
                w2s::cuda::device_description().c_str(), (long)kVocab, (long)kDim, (long)kLayers, (long)kHeads, (long)kSeq);
    FILE* json = json_file ? std::fopen(json_file, "w") : nullptr;
    std::vector<int32_t> tokens;
    for (Precision precision : {Precision::Float32, Precision::TF32, Precision::BF16}) {
      const Result r = measure(precision, steps, memory_gib, &tokens);
      const char* name = w2s::cuda::precision_name(precision);
      std::printf("engine %-7s batch %ld: %8.0f tokens/s, %7.1f ms/step, %6.1f TFLOP/s = %4.1f%% of cuBLAS's %.1f TFLOP/s "
                  "(%.1f GiB, loss %.3f)\n",
                  name, (long)r.batch, r.tokens_per_second, r.ms_per_step, r.tflops, 100 * r.mfu, r.matrix_tflops,
                  r.memory_gib, r.loss);
      if (json)
        std::fprintf(json,
                     "{\"impl\":\"w2s\",\"mode\":\"%s\",\"batch\":%ld,\"tokens_per_s\":%.0f,\"ms_per_step\":%.2f,"
                     "\"tflops\":%.1f,\"matrix_tflops\":%.1f,\"mfu\":%.3f,\"memory_gib\":%.2f}\n",
                     name, (long)r.batch, r.tokens_per_second, r.ms_per_step, r.tflops, r.matrix_tflops, r.mfu,
                     r.memory_gib);
    }
    if (json) std::fclose(json);
    if (tokens_file) {
      FILE* f = std::fopen(tokens_file, "wb");
      if (!f || std::fwrite(tokens.data(), sizeof(int32_t), tokens.size(), f) != tokens.size()) {
        std::perror(tokens_file);
        return 1;
      }
      std::fclose(f);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engine: %s\n", e.what());
    return 1;
  }
  return 0;
}
