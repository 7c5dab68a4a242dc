// The engine on the CUDA device against the engine on the CPU device (itself tested against the
// tfjs twin and finite differences): the same configuration and seed (so the same initial
// weights) and the same batches, for the gpt2 and llama features, a GPT-NeoX-like model (exact
// GELU, partial rotary, parallel residual) and a Qwen2-like one (q/k/v biases, Llama 3 RoPE
// scaling), and both heads, in every precision:
// logits, every parameter's gradient, and every parameter after several AdamW steps (with
// dropout, gradient clipping and weight decay on). Tolerances as the CUDA kernels' (float32 1e-4,
// TF32 3e-3, bf16 2e-2), relative to the largest entry of the CPU's tensor, or to 1e-3 of the
// largest gradient of the whole model for a parameter whose own gradient is that small, and for
// the parameters after training to 1e-2 (half the initial weights' std): a zero-initialised bias is
// then three small updates, and would be judged by their rounding alone. AdamW runs
// with eps = 1e-2, so that an update stays proportional to its gradient: with the usual 1e-8 an
// element whose gradient is small steps by about ±lr whatever its value, and the rounding of TF32
// or bf16 products would decide its sign. The logits are compared again after training (the
// classifier head starts at zero, so the first comparison of a classifier's logits is trivial), and
// an LM's logits through the key/value cache (decode) against the CPU's full forward. Without a
// usable GPU: "skipped: no CUDA device", exit 77.
#include <memory>
#include <string>

#include "../src/engine/device.h"
#include "check.h"
#include "cuda_check.h"
#include "w2s/engine.h"

namespace {

namespace eng = w2s::engine;
using w2s::cuda::Precision;
using w2s_test::relative_error;

double tolerance(Precision p) { return p == Precision::Float32 ? 1e-4 : p == Precision::TF32 ? 3e-3 : 2e-2; }

struct Case {
  const char* name;
  eng::ModelConfig config;
  eng::LossKind loss;
  // logconf hardens the rows at a batch quantile: TF32 or bf16 rounding moves a row across it now
  // and then, a discrete change of its target that no tolerance describes. It is compared in float32.
  bool float32_only = false;
};

std::vector<Case> cases() {
  eng::ModelConfig gpt2;
  // eng::Architecture{} is gpt2's: LayerNorm, tanh GELU, learned positions, every bias, tied head.
  gpt2.vocab_size = 61;
  gpt2.context_length = 24;
  gpt2.d_model = 64;
  gpt2.n_layers = 2;
  gpt2.n_heads = 4;
  gpt2.n_kv_heads = 4;
  gpt2.d_ff = 128;
  eng::ModelConfig llama = gpt2;
  eng::Architecture& la = llama.architecture;
  la.norm = eng::Norm::RmsNorm;
  la.mlp = eng::Mlp::SwiGlu;
  la.positions = eng::Positions::Rope;
  la.qkv_bias = la.attn_out_bias = la.mlp_bias = false;
  la.tied_embeddings = false;
  llama.d_model = 48;  // head size 12: not a multiple of 16, the padded attention path
  llama.n_kv_heads = 2;
  llama.d_ff = 96;
  eng::ModelConfig neox = gpt2;
  eng::Architecture& na = neox.architecture;
  na.mlp = eng::Mlp::GeluExact;
  na.positions = eng::Positions::Rope;
  na.rotary_fraction = 0.25;  // 4 of 16 dims rotated
  na.parallel_residual = true;
  na.tied_embeddings = false;
  eng::ModelConfig qwen = llama;
  qwen.architecture.qkv_bias = true;
  qwen.architecture.rope_scaling = {8.0, 1.0, 4.0, 32};  // wavelengths 6.3 (kept), 29 (smoothed), 135+ (÷ 8)
  qwen.architecture.tied_embeddings = true;
  eng::ModelConfig gpt2_classifier = gpt2, llama_classifier = llama, neox_classifier = neox;
  gpt2_classifier.num_classes = 2;
  llama_classifier.num_classes = 3;
  neox_classifier.num_classes = 2;
  return {{"gpt2 lm", gpt2, eng::LossKind::Token},
          {"llama lm", llama, eng::LossKind::Token},
          {"neox lm", neox, eng::LossKind::Token},
          {"qwen lm", qwen, eng::LossKind::Token},
          {"neox classifier xent", neox_classifier, eng::LossKind::Xent},
          {"gpt2 classifier xent", gpt2_classifier, eng::LossKind::Xent},
          {"gpt2 classifier logconf", gpt2_classifier, eng::LossKind::Logconf, true},
          {"llama classifier product", llama_classifier, eng::LossKind::Product}};
}

struct Data {
  std::vector<int32_t> tokens, lengths, targets;
  std::vector<float> soft;
};

Data random_batch(std::mt19937_64& rng, const eng::ModelConfig& c, int64_t batch, int64_t seq_len) {
  Data d;
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(c.vocab_size - 1));
  std::uniform_int_distribution<int32_t> length(1, static_cast<int32_t>(seq_len));
  for (int64_t i = 0; i < batch * seq_len; ++i) d.tokens.push_back(token(rng));
  for (int64_t b = 0; b < batch; ++b) d.lengths.push_back(b == 0 ? static_cast<int32_t>(seq_len) : length(rng));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq_len; ++t) d.targets.push_back(t + 1 < d.lengths[b] ? d.tokens[b * seq_len + t + 1] : -1);
  if (c.num_classes > 0) {
    const auto raw = w2s_test::random_floats(rng, batch * c.num_classes, 0.05f, 1.0f);
    d.soft = raw;
    for (int64_t b = 0; b < batch; ++b) {
      float s = 0.0f;
      for (int64_t j = 0; j < c.num_classes; ++j) s += raw[b * c.num_classes + j];
      for (int64_t j = 0; j < c.num_classes; ++j) d.soft[b * c.num_classes + j] = raw[b * c.num_classes + j] / s;
    }
  }
  return d;
}

eng::Minibatch minibatch(const Data& d, int64_t batch, int64_t seq_len, eng::LossKind kind) {
  eng::Minibatch mb;
  mb.batch = {d.tokens.data(), d.lengths.data(), batch, seq_len};
  mb.loss.kind = kind;
  mb.loss.token_targets = d.targets.data();
  mb.loss.soft_targets = d.soft.empty() ? nullptr : d.soft.data();
  mb.loss.alpha = kind == eng::LossKind::Logconf ? 0.5f : 1.0f;
  mb.loss.beta = 1.0f;
  return mb;
}

std::vector<float> read(const eng::Model& m, const eng::ParameterInfo& p, bool gradient) {
  std::vector<float> v(p.count);
  if (gradient)
    m.read_gradient(p, v.data());
  else
    m.read_parameter(p, v.data());
  return v;
}

void run_case(const Case& c, Precision precision, std::mt19937_64& rng) {
  const std::string label = std::string(c.name) + " " + w2s::cuda::precision_name(precision);
  const double tol = tolerance(precision);
  eng::Model cpu(c.config, eng::make_cpu_device(), 1234);
  eng::Model gpu(c.config, eng::make_cuda_device(precision), 1234);
  constexpr int64_t B = 3, T = 20;
  const Data data = random_batch(rng, c.config, B, T);
  const eng::Minibatch mb = minibatch(data, B, T, c.loss);

  // Logits of an evaluation forward.
  const int64_t count = cpu.logits_count(mb.batch, eng::LogitsAt::AllPositions);
  std::vector<float> want(count), got(count, std::numeric_limits<float>::quiet_NaN());
  cpu.forward(mb.batch, false, eng::LogitsAt::AllPositions, want.data());
  gpu.forward(mb.batch, false, eng::LogitsAt::AllPositions, got.data());
  const double e_logits = relative_error(got, want);
  CHECK(w2s_test::all_finite(got) && e_logits <= tol, "%s: logits relative error %.3g", label.c_str(), e_logits);

  // Every gradient of one accumulated step (two minibatches, dropout on).
  cpu.set_dropout(0.1f);
  gpu.set_dropout(0.1f);
  const Data second = random_batch(rng, c.config, B, T);
  const std::vector<eng::Minibatch> step = {mb, minibatch(second, B, T, c.loss)};
  const eng::StepResult rc = cpu.accumulate_step(step, nullptr), rg = gpu.accumulate_step(step, nullptr);
  CHECK(std::fabs(rg.loss - rc.loss) <= tol * std::fabs(rc.loss), "%s: loss %.8g vs CPU %.8g", label.c_str(), rg.loss,
        rc.loss);
  double largest = 0.0;
  for (const auto& p : cpu.parameters())
    for (float g : read(cpu, p, true)) largest = std::max(largest, static_cast<double>(std::fabs(g)));
  double worst = 0.0;
  std::string worst_name;
  for (const auto& p : cpu.parameters()) {
    const auto gc = read(cpu, p, true), gg = read(gpu, p, true);
    const double e = relative_error(gg, gc, 1e-3 * largest);
    CHECK(w2s_test::all_finite(gg) && e <= tol, "%s: gradient of %s relative error %.3g", label.c_str(), p.name.c_str(), e);
    if (e > worst) worst = e, worst_name = p.name;
  }

  // The parameters after three AdamW steps (the gradients above are the first step's).
  eng::OptimizerOptions opt;
  opt.adamw.lr = 1e-3f;
  opt.adamw.eps = 1e-2f;
  opt.adamw.weight_decay = 0.01f;
  opt.max_grad_norm = 0.5f;
  const double norm_c = cpu.optimizer_step(opt), norm_g = gpu.optimizer_step(opt);
  CHECK(std::fabs(norm_g - norm_c) <= tol * norm_c, "%s: gradient norm %.8g vs CPU %.8g", label.c_str(), norm_g, norm_c);
  for (int s = 0; s < 2; ++s) {
    const Data more = random_batch(rng, c.config, B, T);
    const std::vector<eng::Minibatch> next = {minibatch(more, B, T, c.loss)};
    cpu.train_step(next, opt, nullptr);
    gpu.train_step(next, opt, nullptr);
  }
  double worst_param = 0.0;
  for (const auto& p : cpu.parameters()) {
    const auto pc = read(cpu, p, false), pg = read(gpu, p, false);
    const double e = relative_error(pg, pc, 1e-2);
    CHECK(w2s_test::all_finite(pg) && e <= tol, "%s: parameter %s after 3 steps relative error %.3g", label.c_str(),
          p.name.c_str(), e);
    worst_param = std::max(worst_param, e);
  }
  cpu.forward(mb.batch, false, eng::LogitsAt::AllPositions, want.data());
  gpu.forward(mb.batch, false, eng::LogitsAt::AllPositions, got.data());
  const double e_trained = relative_error(got, want);
  CHECK(w2s_test::all_finite(got) && e_trained <= tol, "%s: logits after training relative error %.3g", label.c_str(),
        e_trained);
  // Generation with the key/value cache: 6 tokens, then a 7th, against the CPU's full forward.
  double e_decode = 0.0;
  if (c.config.num_classes == 0) {
    const int64_t V = c.config.vocab_size;
    const int32_t seven = 7;
    eng::Batch prefix{data.tokens.data(), &seven, 1, 7};
    std::vector<float> full(V), step(V, std::numeric_limits<float>::quiet_NaN());
    cpu.forward(prefix, false, eng::LogitsAt::LastToken, full.data());
    gpu.decode(data.tokens.data(), 6, 0, step.data());
    gpu.decode(data.tokens.data() + 6, 1, 6, step.data());
    e_decode = relative_error(step, full);
    CHECK(w2s_test::all_finite(step) && e_decode <= tol, "%s: decode logits relative error %.3g", label.c_str(), e_decode);
  }
  std::printf("  %-34s logits %.1e, trained %.1e, decode %.1e  gradients %.1e (worst: %s)  parameters %.1e\n",
              label.c_str(), e_logits, e_trained, e_decode, worst, worst_name.c_str(), worst_param);
}

}  // namespace

int main() {
  w2s_test::require_cuda_or_skip("cuda_engine");
  std::mt19937_64 rng(w2s_test::test_seed());
  for (Precision precision : {Precision::Float32, Precision::TF32, Precision::BF16})
    for (const auto& c : cases())
      if (precision == Precision::Float32 || !c.float32_only) run_case(c, precision, rng);
  return w2s_test::finish("cuda_engine");
}
