// Model configuration checks and the canonical parameter table (the C++ twin of
// packages/model/src/config.ts parameterSpecs: same names, shapes, order, init, decay, head).
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
  if (c.architecture == Architecture::Gpt2) {
    if (c.n_kv_heads != c.n_heads) fail("nKvHeads", "equal to nHeads for gpt2", std::to_string(c.n_kv_heads));
    if (!c.tied_embeddings) fail("tiedEmbeddings", "true for gpt2", "false");
  } else if (c.head_dim() % 2 != 0) {
    fail("dModel / nHeads", "even for RoPE", std::to_string(c.head_dim()));
  }
  if (!(c.norm_eps > 0.0f && c.norm_eps < 1.0f)) fail("normEps", "a number in (0, 1)", std::to_string(c.norm_eps));
  if (!(c.rope_theta > 1.0f) || !std::isfinite(c.rope_theta))
    fail("ropeTheta", "a finite number > 1", std::to_string(c.rope_theta));
  if (c.num_classes != 0 && (c.num_classes < 2 || c.num_classes > 65536))
    fail("head.numClasses", "an integer in [2, 65536]", std::to_string(c.num_classes));
}

std::vector<ParameterInfo> parameter_table(const ModelConfig& c) {
  validate_config(c);
  const bool gpt2 = c.architecture == Architecture::Gpt2;
  const int64_t d = c.d_model, f = c.d_ff, v = c.vocab_size, hd = c.head_dim();
  const int64_t qkv_rows = (c.n_heads + 2 * c.n_kv_heads) * hd;
  const float residual_std = kInitStd / std::sqrt(2.0f * static_cast<float>(c.n_layers));
  std::vector<ParameterInfo> table;
  int64_t offset = 0;
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
  };
  const auto norm = [&](const std::string& prefix) {
    add(prefix + ".weight", {d}, 0.0f, 1.0f, false, false);
    if (gpt2) add(prefix + ".bias", {d}, 0.0f, 0.0f, false, false);
  };
  const auto linear = [&](const std::string& prefix, int64_t out, int64_t in, float std_dev) {
    add(prefix + ".weight", {out, in}, std_dev, 0.0f, true, false);
    if (gpt2) add(prefix + ".bias", {out}, 0.0f, 0.0f, false, false);
  };
  add("tokenEmbedding.weight", {v, d}, kInitStd, 0.0f, true, false);
  if (gpt2) add("positionEmbedding.weight", {c.context_length, d}, kInitStd, 0.0f, true, false);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string layer = "layers." + std::to_string(i);
    norm(layer + ".attnNorm");
    linear(layer + ".attn.qkv", qkv_rows, d, kInitStd);
    linear(layer + ".attn.out", d, c.n_heads * hd, residual_std);
    norm(layer + ".mlpNorm");
    if (gpt2)
      linear(layer + ".mlp.up", f, d, kInitStd);
    else
      add(layer + ".mlp.gateUp.weight", {2 * f, d}, kInitStd, 0.0f, true, false);
    linear(layer + ".mlp.down", d, f, residual_std);
  }
  norm("finalNorm");
  if (c.num_classes == 0 && !c.tied_embeddings) add("lmHead.weight", {v, d}, kInitStd, 0.0f, true, true);
  if (c.num_classes > 0) add("classifier.weight", {c.num_classes, d}, 0.0f, 0.0f, true, true);
  return table;
}

}  // namespace w2s::engine
