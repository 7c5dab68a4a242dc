// Model configuration checks, the canonical parameter table (the C++ twin of
// packages/model/src/config.ts parameterSpecs: same names, shapes, order, init, decay, head; the
// model checks them against each other when it is built) and RoPE's frequencies.
#include <cmath>
#include <string>

#include "w2s/engine.h"
#include "w2s/kernels.h"

namespace w2s::engine {
namespace {

[[noreturn]] void fail(const std::string& field, const std::string& expected, const std::string& got) {
  throw InvalidArgument(InvalidArgument::Kind::Range, "config." + field + " must be " + expected + ", got " + got);
}

constexpr float kInitStd = 0.02f;

}  // namespace

void validate_config(const ModelConfig& c) {
  const auto positive = [](const char* field, int64_t v) {
    if (v < 1 || v > (int64_t{1} << 24)) fail(field, "an integer in [1, 16777216]", std::to_string(v));
  };
  positive("vocabSize", c.vocab_size);
  positive("contextLength", c.context_length);
  positive("dModel", c.d_model);
  positive("nLayers", c.n_layers);
  positive("nHeads", c.n_heads);
  positive("nKvHeads", c.n_kv_heads);
  positive("dFf", c.d_ff);
  if (c.d_model % c.n_heads != 0)
    fail("dModel", "a multiple of nHeads (" + std::to_string(c.n_heads) + ")", std::to_string(c.d_model));
  if (c.head_dim() > 256) fail("dModel / nHeads", "at most 256", std::to_string(c.head_dim()));
  if (c.n_heads % c.n_kv_heads != 0)
    fail("nKvHeads", "a divisor of nHeads (" + std::to_string(c.n_heads) + ")", std::to_string(c.n_kv_heads));
  if (!(c.norm_eps > 0.0f && c.norm_eps < 1.0f)) fail("normEps", "a number in (0, 1)", std::to_string(c.norm_eps));
  const Architecture& a = c.architecture;
  if (a.positions == Positions::Rope) {
    if (!(a.rope_theta > 1.0) || !std::isfinite(a.rope_theta))
      fail("architecture.positions.theta", "a finite number > 1", std::to_string(a.rope_theta));
    if (!(a.rotary_fraction > 0.0 && a.rotary_fraction <= 1.0))
      fail("architecture.positions.rotaryFraction", "in (0, 1]", std::to_string(a.rotary_fraction));
    if (c.rotary_dim() < 2 || c.rotary_dim() % 2 != 0)
      fail("architecture.positions.rotaryFraction",
           "such that floor(headDim · rotaryFraction) is even and >= 2 (headDim " + std::to_string(c.head_dim()) + ")",
           std::to_string(a.rotary_fraction));
    const RopeScaling& s = a.rope_scaling;
    if (s.factor != 0.0) {
      if (!(s.factor >= 1.0) || !std::isfinite(s.factor))
        fail("architecture.positions.scaling.factor", "a finite number >= 1", std::to_string(s.factor));
      if (!(s.low_freq_factor > 0.0 && s.high_freq_factor > s.low_freq_factor) || !std::isfinite(s.high_freq_factor))
        fail("architecture.positions.scaling.highFreqFactor", "finite and > lowFreqFactor > 0",
             std::to_string(s.high_freq_factor));
      if (s.original_context_length < 1)
        fail("architecture.positions.scaling.originalContextLength", "a positive integer",
             std::to_string(s.original_context_length));
    }
  }
  if (c.num_classes != 0 && (c.num_classes < 2 || c.num_classes > 65536))
    fail("head.numClasses", "an integer in [2, 65536]", std::to_string(c.num_classes));
}

std::vector<ParameterInfo> parameter_table(const ModelConfig& c, ParameterSlots& slots) {
  validate_config(c);
  const Architecture& a = c.architecture;
  const bool layer_norm = a.norm == Norm::LayerNorm;
  const int64_t d = c.d_model, f = c.d_ff, v = c.vocab_size, hd = c.head_dim();
  const int64_t qkv_rows = (c.n_heads + 2 * c.n_kv_heads) * hd;
  const float residual_std = kInitStd / std::sqrt(2.0f * static_cast<float>(c.n_layers));
  std::vector<ParameterInfo> table;
  slots = ParameterSlots{};
  int64_t offset = 0;
  // Appends a parameter and returns its index.
  const auto add = [&](const std::string& name, std::vector<int64_t> shape, float std_dev, float value, bool decay,
                       bool head) {
    ParameterInfo p;
    p.name = name;
    p.count = 1;
    for (int64_t s : shape) p.count *= s;
    p.shape = std::move(shape);
    p.offset = offset;
    p.init_std = std_dev;
    p.init_value = value;
    p.decay = decay;
    p.head = head;
    // Each tensor starts on a 64-byte boundary (16 floats) for the vector kernels.
    offset += (p.count + 15) / 16 * 16;
    table.push_back(std::move(p));
    return static_cast<int>(table.size() - 1);
  };
  const auto norm = [&](const std::string& prefix, int& weight, int& bias) {
    weight = add(prefix + ".weight", {d}, 0.0f, 1.0f, false, false);
    if (layer_norm) bias = add(prefix + ".bias", {d}, 0.0f, 0.0f, false, false);
  };
  const auto linear = [&](const std::string& prefix, int64_t out, int64_t in, float std_dev, bool has_bias, int& weight,
                          int& bias) {
    weight = add(prefix + ".weight", {out, in}, std_dev, 0.0f, true, false);
    if (has_bias) bias = add(prefix + ".bias", {out}, 0.0f, 0.0f, false, false);
  };
  slots.token_embedding = add("tokenEmbedding.weight", {v, d}, kInitStd, 0.0f, true, false);
  if (a.positions == Positions::Learned)
    slots.position_embedding = add("positionEmbedding.weight", {c.context_length, d}, kInitStd, 0.0f, true, false);
  slots.layers.resize(static_cast<size_t>(c.n_layers));
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string layer = "layers." + std::to_string(i);
    ParameterSlots::Layer& s = slots.layers[static_cast<size_t>(i)];
    norm(layer + ".attnNorm", s.attn_norm_w, s.attn_norm_b);
    linear(layer + ".attn.qkv", qkv_rows, d, kInitStd, a.qkv_bias, s.qkv_w, s.qkv_b);
    linear(layer + ".attn.out", d, c.n_heads * hd, residual_std, a.attn_out_bias, s.out_w, s.out_b);
    norm(layer + ".mlpNorm", s.mlp_norm_w, s.mlp_norm_b);
    if (a.mlp == Mlp::SwiGlu)
      linear(layer + ".mlp.gateUp", 2 * f, d, kInitStd, a.mlp_bias, s.up_w, s.up_b);
    else
      linear(layer + ".mlp.up", f, d, kInitStd, a.mlp_bias, s.up_w, s.up_b);
    linear(layer + ".mlp.down", d, f, residual_std, a.mlp_bias, s.down_w, s.down_b);
  }
  norm("finalNorm", slots.final_norm_w, slots.final_norm_b);
  if (c.num_classes == 0 && !a.tied_embeddings) slots.lm_head = add("lmHead.weight", {v, d}, kInitStd, 0.0f, true, true);
  if (c.num_classes > 0) slots.classifier = add("classifier.weight", {c.num_classes, d}, 0.0f, 0.0f, true, true);
  return table;
}

std::vector<double> rope_inverse_frequencies(const ModelConfig& c) {
  const Architecture& a = c.architecture;
  const int64_t dim = c.rotary_dim();
  std::vector<double> inv(static_cast<size_t>(dim / 2));
  for (int64_t j = 0; j < dim / 2; ++j) inv[j] = std::pow(a.rope_theta, -2.0 * static_cast<double>(j) / dim);
  const RopeScaling& s = a.rope_scaling;
  if (s.factor == 0.0) return inv;
  // Wavelengths above original/low_freq_factor are slowed by `factor`, those below
  // original/high_freq_factor kept, and those between interpolated smoothly.
  const double old_context = static_cast<double>(s.original_context_length);
  const double low_wavelen = old_context / s.low_freq_factor, high_wavelen = old_context / s.high_freq_factor;
  for (double& f : inv) {
    const double wavelen = 2.0 * M_PI / f;
    if (wavelen > low_wavelen) {
      f /= s.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      f = (1.0 - smooth) * f / s.factor + smooth * f;
    }
  }
  return inv;
}

}  // namespace w2s::engine
