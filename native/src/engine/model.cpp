// The engine's orchestration, written once over the Device interface (device.h). Forward, loss,
// backward and AdamW for any Architecture of include/w2s/engine.h; parameters are addressed
// through the ParameterSlots built with the parameter table.
//
// Activations kept for the backward pass, per layer l (N = B·T rows, R = (H + 2·KV)·hd, P = F for
// a GELU MLP or 2F for SwiGLU):
//   resid[l] [N, d]  the residual stream entering layer l (resid[L] leaves the last layer)
//   mid[l]   [N, d]  resid[l] plus the attention branch (the MLP's input when serial; with a
//                    parallel residual the MLP reads resid[l] and resid[l + 1] = mid[l] + MLP branch)
//   norm1[l], norm2[l] [N, d] normalised inputs of the branches; mean1/rstd1, mean2/rstd2 [N]
//   qkv[l]   [N, R]  fused projections (q and k rotated with RoPE); attn[l] [N, H·hd]; lse[l] [B, H, T]
//   pre[l]   [N, P]  the MLP's first projection; act[l] [N, F] its activation
// and the final norm's output `hidden` [N, d] with its statistics. Buffers grow to the largest
// batch seen and are then reused: no allocation per step.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>

#include "../common/parallel.h"
#include "device.h"
#include "profiling_device.h"
#include "w2s/engine.h"

namespace w2s::engine {
namespace {

// splitmix64, for the initial weights (Box–Muller) and the dropout seeds.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

[[noreturn]] void invalid(const std::string& message) {
  throw InvalidArgument(InvalidArgument::Kind::Range, message);
}

// The widths of a layer's rows (layouts in this file's header): d; head size hd; H query and KV
// key/value heads; R = (H + 2·KV)·hd of the fused q/k/v; HA = H·hd of attention's output; F of the
// MLP's hidden layer and P of its first projection (2F for SwiGLU's [gate; up]).
struct Widths {
  int64_t d, hd, H, KV, R, HA, F, P;
};
Widths widths(const ModelConfig& c) {
  const int64_t hd = c.head_dim(), H = c.n_heads, KV = c.n_kv_heads, F = c.d_ff;
  return {c.d_model, hd, H, KV, (H + 2 * KV) * hd, H * hd, F, c.architecture.mlp == Mlp::SwiGlu ? 2 * F : F};
}

// The q, k and v heads of fused q/k/v rows, T per batch element: q's H heads from column 0, k's
// and v's KV heads from HA and HA + KV·hd, as attention's [B, T, heads, hd] views (View4 or
// ConstView4).
template <typename View>
struct QkvViews {
  View q, k, v;
};
template <typename View>
QkvViews<View> qkv_views(decltype(View::data) qkv, int64_t T, const Widths& w) {
  const auto heads = [&](decltype(View::data) p) { return View{p, {T * w.R, w.R, w.hd, 1}}; };
  return {heads(qkv), heads(qkv + w.HA), heads(qkv + w.HA + w.KV * w.hd)};
}

// The attention of each sequence's last token alone: every key before the sequence's length
// (lengths [B], on the device), and no causal mask beyond that, since it is the last real token.
AttentionOptions last_token_attention(const int32_t* lengths) {
  AttentionOptions options;
  options.kv_lengths = lengths;
  return options;
}

}  // namespace

// A device allocation of `count` elements of T, released with its device.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(Device* device, int64_t count)
      : device_(device), data_(static_cast<T*>(device->allocate(count * static_cast<int64_t>(sizeof(T))))), count_(count) {}
  DeviceArray(DeviceArray&& o) noexcept { *this = std::move(o); }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(device_, o.device_);
    std::swap(data_, o.data_);
    std::swap(count_, o.count_);
    return *this;
  }
  ~DeviceArray() {
    if (data_) device_->release(data_);
  }
  T* get() const { return data_; }
  int64_t count() const { return count_; }

 private:
  Device* device_ = nullptr;
  T* data_ = nullptr;
  int64_t count_ = 0;
};

struct Model::Buffers {
  DeviceArray<float> params, grads, adam_m, adam_v;
  int64_t rows = 0, batch = 0, seq_len = 0;  // capacity
  DeviceArray<int32_t> tokens, lengths, last_rows, targets;
  DeviceArray<float> soft_targets;
  DeviceArray<float> resid, mid, norm1, norm2, mean1, rstd1, mean2, rstd2, qkv, attn, lse, pre, act;
  DeviceArray<float> hidden, mean_f, rstd_f, pooled, logits, branch;
  // A classifier's last layer on the last tokens (last_layer_forward): their rows of x [B, d] and of
  // the q/k/v projection [B, R], and the backward's gradients of both.
  DeviceArray<float> last_x, last_qkv, d_last, d_last_qkv;
  DeviceArray<float> rope_cos, rope_sin;
  // decode's key/value cache, per layer [contextLength, KV, hd] each (allocated by the first decode)
  DeviceArray<float> k_cache, v_cache;
  // backward scratch
  DeviceArray<float> d_resid, d_norm, d_attn, d_qkv, d_pre, d_act, d_pooled, d_class_logits;
  DeviceArray<float> d_branch_out;  // parallel residual: the gradient leaving a layer, kept for its attention branch
  // A whole classifier step (accumulate_whole_batch, forward_step, backward_step): its logits, their
  // gradient and its soft targets, [step_rows, C] each.
  int64_t step_rows = 0;  // capacity
  DeviceArray<float> step_logits, step_dlogits, step_targets;
};

Model::Model(const ModelConfig& config, std::unique_ptr<Device> device, uint64_t seed)
    : config_(config), device_(std::move(device)), params_(parameter_table(config, slots_)), seed_(seed) {
  for (const auto& p : params_) total_params_ = std::max(total_params_, p.offset + (p.count + 15) / 16 * 16);
  buf_ = std::make_unique<Buffers>();
  Device* dev = device_.get();
  buf_->params = DeviceArray<float>(dev, total_params_);
  buf_->grads = DeviceArray<float>(dev, total_params_);
  buf_->adam_m = DeviceArray<float>(dev, total_params_);
  buf_->adam_v = DeviceArray<float>(dev, total_params_);
  // Initial weights, drawn on the host from the seed (independent of threads and device).
  std::vector<float> host;
  uint64_t counter = mix(seed);
  for (const auto& p : params_) {
    host.assign(static_cast<size_t>(p.count), p.init_value);
    if (p.init_std > 0.0f)
      for (int64_t i = 0; i < p.count; i += 2) {
        const double u1 = (static_cast<double>(mix(counter++) >> 11) + 1.0) * 0x1.0p-53;
        const double u2 = static_cast<double>(mix(counter++) >> 11) * 0x1.0p-53;
        const double radius = std::sqrt(-2.0 * std::log(u1));
        host[i] = static_cast<float>(p.init_std * radius * std::cos(2.0 * M_PI * u2));
        if (i + 1 < p.count) host[i + 1] = static_cast<float>(p.init_std * radius * std::sin(2.0 * M_PI * u2));
      }
    write_parameter(p, host.data());
  }
  if (config.architecture.positions == Positions::Rope) {
    const int64_t half = config.rotary_dim() / 2;
    const std::vector<double> inv_freq = rope_inverse_frequencies(config);
    std::vector<float> cos(static_cast<size_t>(config.context_length * half)), sin(cos.size());
    rope_tables(config.context_length, config.rotary_dim(), inv_freq.data(), cos.data(), sin.data());
    buf_->rope_cos = DeviceArray<float>(dev, config.context_length * half);
    buf_->rope_sin = DeviceArray<float>(dev, config.context_length * half);
    dev->upload(buf_->rope_cos.get(), cos.data(), static_cast<int64_t>(cos.size()) * 4);
    dev->upload(buf_->rope_sin.get(), sin.data(), static_cast<int64_t>(sin.size()) * 4);
  }
}

Model::~Model() = default;

std::string Model::device_name() const { return device_->name(); }

void Model::read_parameter(const ParameterInfo& p, float* host) const {
  device_->download(host, buf_->params.get() + p.offset, p.count * 4);
}
void Model::write_parameter(const ParameterInfo& p, const float* host) {
  cached_ = 0;
  device_->upload(buf_->params.get() + p.offset, host, p.count * 4);
}
void Model::read_gradient(const ParameterInfo& p, float* host) const {
  device_->download(host, buf_->grads.get() + p.offset, p.count * 4);
}
void Model::read_optimizer_state(const ParameterInfo& p, float* host_m, float* host_v) const {
  device_->download(host_m, buf_->adam_m.get() + p.offset, p.count * 4);
  device_->download(host_v, buf_->adam_v.get() + p.offset, p.count * 4);
}
void Model::write_optimizer_state(const ParameterInfo& p, const float* host_m, const float* host_v) {
  device_->upload(buf_->adam_m.get() + p.offset, host_m, p.count * 4);
  device_->upload(buf_->adam_v.get() + p.offset, host_v, p.count * 4);
}
void Model::set_steps_taken(int64_t steps) {
  if (steps < 0) invalid("steps must be >= 0, got " + std::to_string(steps));
  step_ = steps;
}

void Model::set_dropout(float p) {
  if (!(p >= 0.0f && p < 1.0f)) invalid("dropout must be in [0, 1), got " + std::to_string(p));
  dropout_ = p;
}

void Model::set_linear_probe(bool on) {
  if (on && std::none_of(params_.begin(), params_.end(), [](const ParameterInfo& p) { return p.head; }))
    invalid("linear probe needs a classifier head or an untied LM head: this model's head shares the token embedding");
  linear_probe_ = on;
  backward_ready_ = false;
  step_minibatches_.clear();
}

int64_t Model::logits_count(const Batch& b, LogitsAt at) const {
  if (config_.num_classes > 0) return b.batch * config_.num_classes;
  return (at == LogitsAt::AllPositions ? b.batch * b.seq_len : b.batch) * config_.vocab_size;
}

void Model::ensure_capacity(int64_t batch, int64_t seq_len) {
  Buffers& b = *buf_;
  Device* dev = device_.get();
  const int64_t rows = batch * seq_len;
  if (rows <= b.rows && batch <= b.batch && seq_len <= b.seq_len) return;
  const int64_t n = std::max(rows, b.rows), nb = std::max(batch, b.batch), nt = std::max(seq_len, b.seq_len);
  const int64_t L = config_.n_layers, d = config_.d_model, hd = config_.head_dim();
  const int64_t r = (config_.n_heads + 2 * config_.n_kv_heads) * hd, ha = config_.n_heads * hd;
  const int64_t f = config_.d_ff, p = config_.architecture.mlp == Mlp::SwiGlu ? 2 * f : f;
  const int64_t classes = config_.num_classes, v = config_.vocab_size;
  const auto f32 = [&](int64_t count) { return DeviceArray<float>(dev, count); };
  // Each assignment frees the old buffer at once: the peak is the old size plus one new buffer.
  b.rows = n;
  b.batch = nb;
  b.seq_len = nt;
  b.tokens = DeviceArray<int32_t>(dev, n);
  b.lengths = DeviceArray<int32_t>(dev, nb);
  b.last_rows = DeviceArray<int32_t>(dev, nb);
  b.targets = DeviceArray<int32_t>(dev, n);
  b.soft_targets = f32(nb * std::max<int64_t>(classes, 1));
  b.resid = f32((L + 1) * n * d);
  b.mid = f32(L * n * d);
  b.norm1 = f32(L * n * d);
  b.norm2 = f32(L * n * d);
  b.mean1 = f32(L * n);
  b.rstd1 = f32(L * n);
  b.mean2 = f32(L * n);
  b.rstd2 = f32(L * n);
  b.qkv = f32(L * n * r);
  b.attn = f32(L * n * ha);
  b.lse = f32(L * n * config_.n_heads);
  b.pre = f32(L * n * p);
  b.act = f32(L * n * f);
  b.hidden = f32(n * d);
  b.mean_f = f32(n);
  b.rstd_f = f32(n);
  b.pooled = f32(nb * d);
  b.logits = f32(classes > 0 ? nb * classes : n * v);
  b.branch = f32(n * d);
  b.d_resid = f32(n * d);
  if (config_.architecture.parallel_residual) b.d_branch_out = f32(n * d);
  b.d_norm = f32(n * d);
  b.d_attn = f32(n * ha);
  b.d_qkv = f32(n * r);
  b.d_pre = f32(n * p);
  b.d_act = f32(n * f);
  b.d_pooled = f32(nb * d);
  b.d_class_logits = f32(nb * std::max<int64_t>(classes, 1));
  if (classes > 0) {
    b.last_x = f32(nb * d);
    b.last_qkv = f32(nb * r);
    b.d_last = f32(nb * d);
    b.d_last_qkv = f32(nb * r);
  }
}

void Model::ensure_step_capacity(int64_t rows) {
  Buffers& b = *buf_;
  if (rows <= b.step_rows) return;
  const int64_t count = rows * config_.num_classes;
  b.step_rows = rows;
  b.step_logits = DeviceArray<float>(device_.get(), count);
  b.step_dlogits = DeviceArray<float>(device_.get(), count);
  b.step_targets = DeviceArray<float>(device_.get(), count);
}

void Model::upload_batch(const Batch& batch) {
  if (batch.batch < 1 || batch.seq_len < 1) invalid("a batch needs batch >= 1 and seqLen >= 1");
  if (batch.seq_len > config_.context_length)
    invalid("seqLen " + std::to_string(batch.seq_len) + " exceeds the model's contextLength " +
            std::to_string(config_.context_length));
  const int64_t n = batch.batch * batch.seq_len;
  for (int64_t i = 0; i < n; ++i)
    if (batch.tokens[i] < 0 || batch.tokens[i] >= config_.vocab_size)
      invalid("tokens[" + std::to_string(i) + "] = " + std::to_string(batch.tokens[i]) + " is outside [0, " +
              std::to_string(config_.vocab_size) + ")");
  std::vector<int32_t> last(static_cast<size_t>(batch.batch));
  for (int64_t i = 0; i < batch.batch; ++i) {
    if (batch.lengths[i] < 1 || batch.lengths[i] > batch.seq_len)
      invalid("lengths[" + std::to_string(i) + "] = " + std::to_string(batch.lengths[i]) + " is outside [1, " +
              std::to_string(batch.seq_len) + "]");
    last[i] = static_cast<int32_t>(i * batch.seq_len + batch.lengths[i] - 1);
  }
  ensure_capacity(batch.batch, batch.seq_len);
  device_->upload(buf_->tokens.get(), batch.tokens, n * 4);
  device_->upload(buf_->lengths.get(), batch.lengths, batch.batch * 4);
  device_->upload(buf_->last_rows.get(), last.data(), batch.batch * 4);
}

void Model::forward(const Batch& batch, bool training, LogitsAt at, float* host_logits) {
  step_minibatches_.clear();  // a pending backward_step's activations are gone
  forward_pass(batch, training, at, host_logits, mix(seed_ ^ mix(++forwards_)));
}

// One layer's activations on n rows (layouts in this file's header); x_next may be x.
struct Model::LayerActivations {
  float *x, *mid, *x_next, *norm1, *norm2, *mean1, *rstd1, *mean2, *rstd2, *qkv, *attn, *lse, *pre, *act;
};

// y [n, out] = x [n, in] · Wᵀ (+ bias), the weight and bias by slot (bias −1: none).
void Model::linear_forward(const float* x, int64_t n, int64_t in, int weight, int bias, int64_t out, float* y) {
  const float* W = buf_->params.get();
  device_->matmul(false, true, n, out, in, 1.0f, x, in, W + params_[weight].offset, in, 0.0f, y, out);
  if (bias >= 0) device_->add_bias(y, W + params_[bias].offset, n, out);
}

// The architecture's norm of x [n, d] into y; mean (LayerNorm only) and rstd [n] kept.
void Model::norm_forward(const float* x, int64_t n, int weight, int bias, float* y, float* mean, float* rstd) {
  const float* W = buf_->params.get();
  const ModelConfig& c = config_;
  if (c.architecture.norm == Norm::LayerNorm)
    device_->layer_norm_forward(x, W + params_[weight].offset, W + params_[bias].offset, n, c.d_model, c.norm_eps, y,
                                mean, rstd);
  else
    device_->rms_norm_forward(x, W + params_[weight].offset, n, c.d_model, c.norm_eps, y, rstd);
}

// Layer `layer` on n rows, row r at position first_position + r % seq_len (RoPE):
//   mid = x + out(attend(rope(qkv(norm1(x))))); x_next = mid + down(act(up(norm2(mid or, with a
//   parallel residual, x)))); dropout p on each branch with seeds dropout_seed + 1 and + 2.
// `attend` fills attn [n, H·hd] and lse from qkv [n, R].
void Model::layer_forward(int64_t layer, int64_t n, int64_t seq_len, int64_t first_position, const LayerActivations& t,
                          float dropout, uint64_t dropout_seed, const Attend& attend) {
  const ModelConfig& c = config_;
  const Architecture& a = c.architecture;
  Device& dev = *device_;
  Buffers& b = *buf_;
  const ParameterSlots::Layer& s = slots_.layers[static_cast<size_t>(layer)];
  const auto [d, hd, H, KV, R, HA, F, P] = widths(c);
  const int64_t half = c.rotary_dim() / 2;
  norm_forward(t.x, n, s.attn_norm_w, s.attn_norm_b, t.norm1, t.mean1, t.rstd1);
  linear_forward(t.norm1, n, d, s.qkv_w, s.qkv_b, R, t.qkv);
  if (a.positions == Positions::Rope)
    dev.rope_apply(t.qkv, n, seq_len, R, H + KV, hd, c.rotary_dim(), b.rope_cos.get() + first_position * half,
                   b.rope_sin.get() + first_position * half, false);
  attend(t.qkv, t.attn, t.lse);
  linear_forward(t.attn, n, H * hd, s.out_w, s.out_b, d, b.branch.get());
  if (dropout > 0.0f) dev.dropout_apply(b.branch.get(), n * d, dropout, dropout_seed + 1);
  dev.copy(t.mid, t.x, n * d * 4);
  dev.add_inplace(t.mid, b.branch.get(), n * d);
  norm_forward(a.parallel_residual ? t.x : t.mid, n, s.mlp_norm_w, s.mlp_norm_b, t.norm2, t.mean2, t.rstd2);
  linear_forward(t.norm2, n, d, s.up_w, s.up_b, P, t.pre);
  if (a.mlp == Mlp::SwiGlu)
    dev.swiglu_forward(t.pre, n, F, t.act);
  else
    dev.gelu_forward(t.pre, n * F, a.mlp == Mlp::GeluExact, t.act);
  linear_forward(t.act, n, F, s.down_w, s.down_b, d, b.branch.get());
  if (dropout > 0.0f) dev.dropout_apply(b.branch.get(), n * d, dropout, dropout_seed + 2);
  dev.copy(t.x_next, t.mid, n * d * 4);
  dev.add_inplace(t.x_next, b.branch.get(), n * d);
}

// A classifier's last layer (layer L − 1 of x [n, d], n = B·T) on the B rows that reach its head,
// row b at last_rows[b]. norm1 and the fused q/k/v projection (with RoPE) run on all n rows, since
// every key and value is read; attention of each last token alone over its sequence's keys
// j < lengths[b] (the causal mask of the last real token); the rest on B rows. Layouts as in
// layer_forward, with the B-row activations in the first B rows of the layer's buffers, last_x
// [B, d] and last_qkv [B, R] the last tokens' rows of x and of q/k/v; x_next [B, d]. No dropout.
void Model::last_layer_forward(int64_t B, int64_t T) {
  const ModelConfig& c = config_;
  const Architecture& a = c.architecture;
  Device& dev = *device_;
  Buffers& b = *buf_;
  const Widths w = widths(c);
  const auto [d, hd, H, KV, R, HA, F, P] = w;
  const int64_t l = c.n_layers - 1, n = B * T;
  const ParameterSlots::Layer& s = slots_.layers[static_cast<size_t>(l)];
  const LayerActivations t = layer_activations(l, n);
  norm_forward(t.x, n, s.attn_norm_w, s.attn_norm_b, t.norm1, t.mean1, t.rstd1);
  linear_forward(t.norm1, n, d, s.qkv_w, s.qkv_b, R, t.qkv);
  if (a.positions == Positions::Rope)
    dev.rope_apply(t.qkv, n, T, R, H + KV, hd, c.rotary_dim(), b.rope_cos.get(), b.rope_sin.get(), false);
  dev.gather_rows(t.qkv, b.last_rows.get(), B, R, b.last_qkv.get());
  dev.gather_rows(t.x, b.last_rows.get(), B, d, b.last_x.get());
  const auto all = qkv_views<ConstView4>(t.qkv, T, w), last = qkv_views<ConstView4>(b.last_qkv.get(), 1, w);
  dev.attention_forward({B, 1, T, H, KV, hd}, last.q, all.k, all.v, last_token_attention(b.lengths.get()),
                        contiguous_view(t.attn, 1, H, hd), t.lse);
  linear_forward(t.attn, B, HA, s.out_w, s.out_b, d, b.branch.get());
  dev.copy(t.mid, b.last_x.get(), B * d * 4);
  dev.add_inplace(t.mid, b.branch.get(), B * d);
  norm_forward(a.parallel_residual ? b.last_x.get() : t.mid, B, s.mlp_norm_w, s.mlp_norm_b, t.norm2, t.mean2,
               t.rstd2);
  linear_forward(t.norm2, B, d, s.up_w, s.up_b, P, t.pre);
  if (a.mlp == Mlp::SwiGlu)
    dev.swiglu_forward(t.pre, B, F, t.act);
  else
    dev.gelu_forward(t.pre, B * F, a.mlp == Mlp::GeluExact, t.act);
  linear_forward(t.act, B, F, s.down_w, s.down_b, d, b.branch.get());
  dev.copy(t.x_next, t.mid, B * d * 4);
  dev.add_inplace(t.x_next, b.branch.get(), B * d);
}

// Layer `l`'s activations on n rows, in forward_pass's buffers.
Model::LayerActivations Model::layer_activations(int64_t l, int64_t n) const {
  const Buffers& b = *buf_;
  const auto [d, hd, H, KV, R, HA, F, P] = widths(config_);
  return {b.resid.get() + l * n * d, b.mid.get() + l * n * d,  b.resid.get() + (l + 1) * n * d,
          b.norm1.get() + l * n * d, b.norm2.get() + l * n * d, b.mean1.get() + l * n,
          b.rstd1.get() + l * n,     b.mean2.get() + l * n,     b.rstd2.get() + l * n,
          b.qkv.get() + l * n * R,   b.attn.get() + l * n * HA, b.lse.get() + l * n * H,
          b.pre.get() + l * n * P,   b.act.get() + l * n * F};
}

void Model::forward_pass(const Batch& batch, bool training, LogitsAt at, float* host_logits, uint64_t dropout_seed) {
  if (training && at != LogitsAt::AllPositions && config_.num_classes == 0)
    invalid("training forward passes compute the logits at every position");
  backward_ready_ = false;
  tag(Phase::Forward);
  upload_batch(batch);
  Buffers& b = *buf_;
  Device& dev = *device_;
  const ModelConfig& c = config_;
  const Architecture& a = c.architecture;
  const int64_t B = batch.batch, T = batch.seq_len, n = B * T;
  const Widths w = widths(c);  // named copies: the attend lambda captures them (no structured bindings)
  const int64_t d = w.d, hd = w.hd, H = w.H, KV = w.KV;
  const float drop = training ? dropout_ : 0.0f;
  dropout_seed_ = dropout_seed;
  const float* W = b.params.get();
  const auto param = [&](int slot) -> const float* { return slot < 0 ? nullptr : W + params_[slot].offset; };

  float* x0 = b.resid.get();
  dev.embedding_forward(b.tokens.get(), param(slots_.token_embedding), param(slots_.position_embedding), n, T, d, x0);
  if (drop > 0.0f) dev.dropout_apply(x0, n * d, drop, dropout_seed_);

  AttentionShape shape{B, T, T, H, KV, hd};
  AttentionOptions attention_options;
  attention_options.causal = true;
  attention_options.kv_lengths = b.lengths.get();
  const Attend attend = [&](const float* qkv, float* attn, float* lse) {
    const auto v = qkv_views<ConstView4>(qkv, T, w);
    dev.attention_forward(shape, v.q, v.k, v.v, attention_options, contiguous_view(attn, T, H, hd), lse);
  };
  // A classifier's head reads each sequence's last token alone: its last layer runs on those rows,
  // unless dropout is on (its masks are drawn per element of [n, d] and must be replayed).
  const bool last_only = c.num_classes > 0 && drop == 0.0f;
  for (int64_t l = 0; l < c.n_layers - (last_only ? 1 : 0); ++l) {
    const LayerActivations t = layer_activations(l, n);
    layer_forward(l, n, T, 0, t, drop, dropout_seed_ + 2 * l, attend);
  }
  float* x_final = b.resid.get() + c.n_layers * n * d;
  if (last_only) last_layer_forward(B, T);  // writes x_final's first B rows
  norm_forward(x_final, last_only ? B : n, slots_.final_norm_w, slots_.final_norm_b, b.hidden.get(), b.mean_f.get(),
               b.rstd_f.get());

  // Heads.
  if (c.num_classes > 0) {
    if (last_only)
      dev.copy(b.pooled.get(), b.hidden.get(), B * d * 4);
    else
      dev.gather_rows(b.hidden.get(), b.last_rows.get(), B, d, b.pooled.get());
    dev.matmul(false, true, B, c.num_classes, d, 1.0f, b.pooled.get(), d, param(slots_.classifier), d, 0.0f,
               b.logits.get(), c.num_classes);
  } else {
    const float* out_weight = param(a.tied_embeddings ? slots_.token_embedding : slots_.lm_head);
    const bool all = at == LogitsAt::AllPositions;
    const float* rows = b.hidden.get();
    if (!all) {
      dev.gather_rows(b.hidden.get(), b.last_rows.get(), B, d, b.pooled.get());
      rows = b.pooled.get();
    }
    dev.matmul(false, true, all ? n : B, c.vocab_size, d, 1.0f, rows, d, out_weight, d, 0.0f, b.logits.get(),
               c.vocab_size);
  }
  if (host_logits) dev.download(host_logits, b.logits.get(), logits_count(batch, at) * 4);
  if (training) {
    last_batch_ = Batch{nullptr, nullptr, B, T};
    last_layer_at_last_tokens_ = last_only;
    backward_ready_ = true;
  }
}

// The forward pass of `count` new tokens of one sequence against the cached keys and values:
// rows r < count at positions start + r (positions tables offset by `start`), attention of the
// new queries over keys 0..start+count−1 (causal, bottom-right aligned), the LM head on the last row.
void Model::decode(const int32_t* tokens, int64_t count, int64_t start, float* host_logits) {
  const ModelConfig& c = config_;
  if (c.num_classes > 0) invalid("decode needs a language-model head; this model has a classifier");
  if (start < 0 || start > cached_)
    invalid("decode: start " + std::to_string(start) + " is outside [0, " + std::to_string(cached_) +
            "] (the positions the cache holds)");
  if (count < 1 || start + count > c.context_length)
    invalid("decode: start + count = " + std::to_string(start + count) + " must be in [start + 1, contextLength " +
            std::to_string(c.context_length) + "]");
  step_minibatches_.clear();
  tag(Phase::Forward);
  std::vector<int32_t> lengths{static_cast<int32_t>(count)};
  upload_batch(Batch{tokens, lengths.data(), 1, count});  // validates the tokens
  backward_ready_ = false;
  Buffers& b = *buf_;
  Device& dev = *device_;
  const int64_t n = count, d = c.d_model, hd = c.head_dim(), H = c.n_heads, KV = c.n_kv_heads;
  const int64_t R = (H + 2 * KV) * hd, HA = H * hd, kv_row = KV * hd, layer_cache = c.context_length * kv_row;
  if (b.k_cache.count() == 0) {
    b.k_cache = DeviceArray<float>(device_.get(), c.n_layers * layer_cache);
    b.v_cache = DeviceArray<float>(device_.get(), c.n_layers * layer_cache);
  }
  cached_ = start;  // a failure below leaves the first `start` positions valid
  const float* W = b.params.get();
  const float* positions = slots_.position_embedding < 0 ? nullptr : W + params_[slots_.position_embedding].offset;
  dev.embedding_forward(b.tokens.get(), W + params_[slots_.token_embedding].offset,
                        positions ? positions + start * d : nullptr, n, n, d, b.resid.get());
  AttentionShape shape{1, n, start + n, H, KV, hd};
  AttentionOptions attention_options;
  attention_options.causal = true;
  // Layer 0's activation buffers serve every layer; the stream stays in resid[0].
  const LayerActivations t{b.resid.get(), b.mid.get(),   b.resid.get(), b.norm1.get(), b.norm2.get(),
                           b.mean1.get(), b.rstd1.get(), b.mean2.get(), b.rstd2.get(), b.qkv.get(),
                           b.attn.get(),  b.lse.get(),   b.pre.get(),   b.act.get()};
  for (int64_t l = 0; l < c.n_layers; ++l) {
    float* k_cache = b.k_cache.get() + l * layer_cache;
    float* v_cache = b.v_cache.get() + l * layer_cache;
    layer_forward(l, n, n, start, t, 0.0f, 0, [&](const float* qkv, float* attn, float* lse) {
      for (int64_t r = 0; r < n; ++r) {
        dev.copy(k_cache + (start + r) * kv_row, qkv + r * R + HA, kv_row * 4);
        dev.copy(v_cache + (start + r) * kv_row, qkv + r * R + HA + kv_row, kv_row * 4);
      }
      ConstView4 q{qkv, {n * R, R, hd, 1}}, k{k_cache, {layer_cache, kv_row, hd, 1}},
          v{v_cache, {layer_cache, kv_row, hd, 1}};
      dev.attention_forward(shape, q, k, v, attention_options, contiguous_view(attn, n, H, hd), lse);
    });
  }
  // The final norm and the LM head of the last row only.
  norm_forward(b.resid.get() + (n - 1) * d, 1, slots_.final_norm_w, slots_.final_norm_b, b.hidden.get(),
               b.mean_f.get(), b.rstd_f.get());
  const int out = c.architecture.tied_embeddings ? slots_.token_embedding : slots_.lm_head;
  dev.matmul(false, true, 1, c.vocab_size, d, 1.0f, b.hidden.get(), d, W + params_[out].offset, d, 0.0f, b.logits.get(),
             c.vocab_size);
  dev.download(host_logits, b.logits.get(), c.vocab_size * 4);
  cached_ = start + n;
}

void Model::backward(const float* host_dlogits) {
  step_minibatches_.clear();
  if (!backward_ready_) invalid("backward needs a training forward pass first (forward with training: true)");
  tag(Phase::Backward);
  device_->upload(buf_->logits.get(), host_dlogits, logits_count(last_batch_, LogitsAt::AllPositions) * 4);
  backward_pass();
}

// The heads' backward: the head's parameter gradient from the loss gradient in the logits buffer,
// then (unless probing, when it returns false) the gradient of the final hidden states, written
// to d_norm [B·T, d].
bool Model::head_backward() {
  Buffers& b = *buf_;
  const ModelConfig& c = config_;
  Device& dev = *device_;
  const int64_t B = last_batch_.batch, n = B * last_batch_.seq_len, d = c.d_model;
  float* W = b.params.get();
  float* G = b.grads.get();
  const float* dlogits = b.logits.get();
  float* d_hidden = b.d_norm.get();
  if (c.num_classes > 0) {
    dev.matmul(true, false, c.num_classes, d, B, 1.0f, dlogits, c.num_classes, b.pooled.get(), d, 1.0f,
               G + params_[slots_.classifier].offset, d);
    if (linear_probe_) return false;
    dev.matmul(false, false, B, d, c.num_classes, 1.0f, dlogits, c.num_classes,
               W + params_[slots_.classifier].offset, d, 0.0f, b.d_pooled.get(), d);
    if (last_layer_at_last_tokens_) {  // the final hidden states are the last tokens' rows alone
      dev.copy(d_hidden, b.d_pooled.get(), B * d * 4);
    } else {
      dev.fill_zero(d_hidden, n * d * 4);
      dev.scatter_add_rows(b.d_pooled.get(), b.last_rows.get(), B, d, d_hidden);
    }
  } else {
    const int out = c.architecture.tied_embeddings ? slots_.token_embedding : slots_.lm_head;
    dev.matmul(true, false, c.vocab_size, d, n, 1.0f, dlogits, c.vocab_size, b.hidden.get(), d, 1.0f,
               G + params_[out].offset, d);
    if (linear_probe_) return false;
    dev.matmul(false, false, n, d, c.vocab_size, 1.0f, dlogits, c.vocab_size, W + params_[out].offset, d, 0.0f,
               d_hidden, d);
  }
  return true;
}

// The backward of y = x · Wᵀ (+ bias), dy [rows, out], x [rows, in]: accumulates the parameter
// gradients and writes dx [rows, in].
void Model::linear_backward(const float* dy, int64_t rows, int64_t out, const float* x, int64_t in, int weight,
                            int bias, float* dx) {
  Device& dev = *device_;
  float* G = buf_->grads.get();
  dev.matmul(true, false, out, in, rows, 1.0f, dy, out, x, in, 1.0f, G + params_[weight].offset, in);
  if (bias >= 0) dev.bias_backward(dy, rows, out, G + params_[bias].offset);
  dev.matmul(false, false, rows, in, out, 1.0f, dy, out, buf_->params.get() + params_[weight].offset, in, 0.0f, dx,
             in);
}

// The backward of the architecture's norm of x [rows, d]: accumulates its parameter gradients and
// adds dx to `dx`.
void Model::norm_backward(const float* dy, const float* x, int64_t rows, int weight, int bias, const float* mean,
                          const float* rstd, float* dx) {
  const float* W = buf_->params.get();
  float* G = buf_->grads.get();
  const int64_t d = config_.d_model;
  if (config_.architecture.norm == Norm::LayerNorm)
    device_->layer_norm_backward(dy, x, W + params_[weight].offset, mean, rstd, rows, d, dx, G + params_[weight].offset,
                                 G + params_[bias].offset);
  else
    device_->rms_norm_backward(dy, x, W + params_[weight].offset, rstd, rows, d, dx, G + params_[weight].offset);
}

// The backward of last_layer_forward: d_last [B, d] holds the gradient at its B output rows (it is
// overwritten); writes the gradient at its input x [n, d] to d_resid.
void Model::last_layer_backward(int64_t B, int64_t T, float* d_resid) {
  const ModelConfig& c = config_;
  const Architecture& a = c.architecture;
  Device& dev = *device_;
  Buffers& b = *buf_;
  const Widths w = widths(c);
  const auto [d, hd, H, KV, R, HA, F, P] = w;
  const int64_t l = c.n_layers - 1, n = B * T;
  const ParameterSlots::Layer& s = slots_.layers[static_cast<size_t>(l)];
  const LayerActivations t = layer_activations(l, n);
  float* d_out = b.d_last.get();  // at x_next; after the MLP's norm, at mid (or, parallel, at x but for attention)
  if (a.parallel_residual) dev.copy(b.d_branch_out.get(), d_out, B * d * 4);
  linear_backward(d_out, B, d, t.act, F, s.down_w, s.down_b, b.d_act.get());
  if (a.mlp == Mlp::SwiGlu)
    dev.swiglu_backward(t.pre, b.d_act.get(), B, F, b.d_pre.get());
  else
    dev.gelu_backward(t.pre, b.d_act.get(), B * F, a.mlp == Mlp::GeluExact, b.d_pre.get());
  linear_backward(b.d_pre.get(), B, P, t.norm2, d, s.up_w, s.up_b, b.d_norm.get());
  norm_backward(b.d_norm.get(), a.parallel_residual ? b.last_x.get() : t.mid, B, s.mlp_norm_w, s.mlp_norm_b, t.mean2,
                t.rstd2, d_out);
  linear_backward(a.parallel_residual ? b.d_branch_out.get() : d_out, B, d, t.attn, HA, s.out_w, s.out_b,
                  b.d_attn.get());
  // Attention: the last tokens' query gradients into d_last_qkv, every token's key and value
  // gradients into d_qkv (both zeroed first: each view covers only its own columns).
  float* dq_last = b.d_last_qkv.get();
  float* dqkv = b.d_qkv.get();
  dev.fill_zero(dq_last, B * R * 4);
  dev.fill_zero(dqkv, n * R * 4);
  const auto all = qkv_views<ConstView4>(t.qkv, T, w), last = qkv_views<ConstView4>(b.last_qkv.get(), 1, w);
  const auto d_all = qkv_views<View4>(dqkv, T, w), d_last = qkv_views<View4>(dq_last, 1, w);
  dev.attention_backward({B, 1, T, H, KV, hd}, last.q, all.k, all.v,
                         contiguous_view(static_cast<const float*>(t.attn), 1, H, hd), t.lse,
                         contiguous_view(static_cast<const float*>(b.d_attn.get()), 1, H, hd),
                         last_token_attention(b.lengths.get()), d_last.q, d_all.k, d_all.v);
  dev.scatter_add_rows(dq_last, b.last_rows.get(), B, R, dqkv);
  if (a.positions == Positions::Rope)
    dev.rope_apply(dqkv, n, T, R, H + KV, hd, c.rotary_dim(), b.rope_cos.get(), b.rope_sin.get(), true);
  linear_backward(dqkv, n, R, t.norm1, d, s.qkv_w, s.qkv_b, b.d_norm.get());
  dev.fill_zero(d_resid, n * d * 4);
  dev.scatter_add_rows(d_out, b.last_rows.get(), B, d, d_resid);  // the residual path of the last tokens
  norm_backward(b.d_norm.get(), t.x, n, s.attn_norm_w, s.attn_norm_b, t.mean1, t.rstd1, d_resid);
}

// The loss gradient sits in the logits buffer (written there by backward or accumulate).
void Model::backward_pass() {
  backward_ready_ = false;
  tag(Phase::Backward);
  Buffers& b = *buf_;
  const ModelConfig& c = config_;
  const Architecture& a = c.architecture;
  Device& dev = *device_;
  const int64_t B = last_batch_.batch, T = last_batch_.seq_len, n = B * T;
  const Widths w = widths(c);  // named copies: the lambdas capture them (no structured bindings)
  const int64_t d = w.d, hd = w.hd, H = w.H, KV = w.KV, R = w.R, HA = w.HA, F = w.F, P = w.P;
  const float drop = dropout_;
  float* G = b.grads.get();
  const auto grad = [&](int slot) -> float* { return slot < 0 ? nullptr : G + params_[slot].offset; };
  if (!head_backward()) return;
  float* d_resid = b.d_resid.get();
  const bool last_only = last_layer_at_last_tokens_;
  float* d_final = last_only ? b.d_last.get() : d_resid;  // the gradient at the final norm's input
  const int64_t final_rows = last_only ? B : n;
  dev.fill_zero(d_final, final_rows * d * 4);
  norm_backward(b.d_norm.get(), b.resid.get() + c.n_layers * n * d, final_rows, slots_.final_norm_w,
                slots_.final_norm_b, b.mean_f.get(), b.rstd_f.get(), d_final);
  if (last_only) last_layer_backward(B, T, d_resid);

  AttentionShape shape{B, T, T, H, KV, hd};
  AttentionOptions attention_options;
  attention_options.causal = true;
  attention_options.kv_lengths = b.lengths.get();
  // The gradient entering a residual branch: `from` itself, or its dropout-masked copy.
  const auto branch_gradient = [&](const float* from, uint64_t seed) -> const float* {
    if (drop <= 0.0f) return from;
    dev.copy(b.branch.get(), from, n * d * 4);
    dev.dropout_apply(b.branch.get(), n * d, drop, seed);
    return b.branch.get();
  };
  for (int64_t l = c.n_layers - (last_only ? 2 : 1); l >= 0; --l) {
    const ParameterSlots::Layer& s = slots_.layers[static_cast<size_t>(l)];
    const LayerActivations t = layer_activations(l, n);
    // d_resid holds the gradient at x_next. With a parallel residual it is also the gradient at
    // mid, which the MLP's norm backward (adding into d_resid) would change: keep a copy.
    if (a.parallel_residual) dev.copy(b.d_branch_out.get(), d_resid, n * d * 4);
    // MLP branch: x_next = mid + down(act(up(norm2(mid or x)))).
    const float* g = branch_gradient(d_resid, dropout_seed_ + 2 * l + 2);
    linear_backward(g, n, d, t.act, F, s.down_w, s.down_b, b.d_act.get());
    if (a.mlp == Mlp::SwiGlu)
      dev.swiglu_backward(t.pre, b.d_act.get(), n, F, b.d_pre.get());
    else
      dev.gelu_backward(t.pre, b.d_act.get(), n * F, a.mlp == Mlp::GeluExact, b.d_pre.get());
    linear_backward(b.d_pre.get(), n, P, t.norm2, d, s.up_w, s.up_b, b.d_norm.get());
    norm_backward(b.d_norm.get(), a.parallel_residual ? t.x : t.mid, n, s.mlp_norm_w, s.mlp_norm_b, t.mean2, t.rstd2,
                  d_resid);
    // Attention branch: mid = x + out(attention(rope(qkv(norm1(x))))).
    g = branch_gradient(a.parallel_residual ? b.d_branch_out.get() : d_resid, dropout_seed_ + 2 * l + 1);
    linear_backward(g, n, d, t.attn, HA, s.out_w, s.out_b, b.d_attn.get());
    float* dq = b.d_qkv.get();
    const auto in = qkv_views<ConstView4>(t.qkv, T, w);
    const auto out = qkv_views<View4>(dq, T, w);
    dev.attention_backward(shape, in.q, in.k, in.v, contiguous_view(static_cast<const float*>(t.attn), T, H, hd), t.lse,
                           contiguous_view(static_cast<const float*>(b.d_attn.get()), T, H, hd), attention_options,
                           out.q, out.k, out.v);
    if (a.positions == Positions::Rope)
      dev.rope_apply(dq, n, T, R, H + KV, hd, c.rotary_dim(), b.rope_cos.get(), b.rope_sin.get(), true);
    linear_backward(dq, n, R, t.norm1, d, s.qkv_w, s.qkv_b, b.d_norm.get());
    norm_backward(b.d_norm.get(), t.x, n, s.attn_norm_w, s.attn_norm_b, t.mean1, t.rstd1, d_resid);
  }
  const float* g = branch_gradient(d_resid, dropout_seed_);
  dev.embedding_backward(b.tokens.get(), g, n, T, d, grad(slots_.token_embedding), grad(slots_.position_embedding));
}

bool loss_is_rowwise(LossKind kind) { return kind != LossKind::Logconf; }

namespace {

// FNV-1a over a batch's shape and tokens: backward_step checks it was given forward_step's batches.
uint64_t fingerprint(const Batch& b) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const auto add = [&](const void* data, size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  };
  add(&b.batch, sizeof b.batch);
  add(&b.seq_len, sizeof b.seq_len);
  add(b.tokens, static_cast<size_t>(b.batch * b.seq_len) * 4);
  add(b.lengths, static_cast<size_t>(b.batch) * 4);
  return h;
}

// The mean classifier loss over n rows of logits z and soft targets y [n, C], its gradient in dz.
double classifier_loss(Device& dev, const Loss& loss, const float* z, const float* y, int64_t n, int64_t c, float* dz) {
  switch (loss.kind) {
    case LossKind::Xent: return dev.xent_loss(z, y, n, c, dz);
    case LossKind::Logconf: return dev.logconf_loss(z, y, n, c, loss.alpha, dz);
    case LossKind::Product: return dev.product_loss(z, y, n, c, loss.alpha, loss.beta, dz);
    case LossKind::Token: break;
  }
  invalid("the token loss is not a classifier loss");
}

}  // namespace

// One minibatch of a row-wise loss: forward, its loss gradient scaled by `weight` (its share of
// the step's mean), backward; returns its summed loss and how many rows (or tokens) it summed.
std::pair<double, int64_t> Model::accumulate_rowwise(const Minibatch& mb, double weight, float* host_logits) {
  const ModelConfig& c = config_;
  const Batch& batch = mb.batch;
  const bool token_loss = mb.loss.kind == LossKind::Token;
  forward(batch, true, LogitsAt::AllPositions, host_logits);
  tag(Phase::Loss);
  Buffers& b = *buf_;
  Device& dev = *device_;
  double loss = 0.0;
  int64_t rows = 0;
  if (token_loss) {
    const int64_t n = batch.batch * batch.seq_len;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t t = mb.loss.token_targets[i];
      if (t < -1 || t >= c.vocab_size)
        invalid("targets[" + std::to_string(i) + "] = " + std::to_string(t) + " is outside [-1, " +
                std::to_string(c.vocab_size) + ")");
      rows += t >= 0;
    }
    dev.upload(b.targets.get(), mb.loss.token_targets, n * 4);
    loss = dev.token_xent_loss(b.logits.get(), b.targets.get(), n, c.vocab_size, static_cast<float>(weight),
                               b.logits.get());
  } else {
    const int64_t n = batch.batch, classes = c.num_classes;
    dev.upload(b.soft_targets.get(), mb.loss.soft_targets, n * classes * 4);
    // The kernels return the mean over rows and its gradient; the weight turns it into a share of the step's mean.
    float* z = b.logits.get();
    float* dz = b.d_class_logits.get();
    const double mean = classifier_loss(dev, mb.loss, z, b.soft_targets.get(), n, classes, dz);
    dev.copy(z, dz, n * classes * 4);
    dev.scale_inplace(z, n * classes, static_cast<float>(weight * static_cast<double>(n)));
    loss = mean * static_cast<double>(n);
    rows = n;
  }
  backward_pass();
  return {loss, rows};
}

void Model::zero_grad() {
  tag(Phase::Optimizer);
  device_->fill_zero(buf_->grads.get(), total_params_ * 4);
}

double Model::optimizer_step(const OptimizerOptions& options) {
  const AdamWStep& a = options.adamw;
  if (!(a.lr >= 0.0f) || !std::isfinite(a.lr)) invalid("lr must be a finite number >= 0, got " + std::to_string(a.lr));
  if (!(a.beta1 >= 0.0f && a.beta1 < 1.0f)) invalid("beta1 must be in [0, 1), got " + std::to_string(a.beta1));
  if (!(a.beta2 >= 0.0f && a.beta2 < 1.0f)) invalid("beta2 must be in [0, 1), got " + std::to_string(a.beta2));
  if (!(a.eps > 0.0f)) invalid("eps must be > 0, got " + std::to_string(a.eps));
  if (!(a.weight_decay >= 0.0f) || !std::isfinite(a.weight_decay))
    invalid("weightDecay must be a finite number >= 0, got " + std::to_string(a.weight_decay));
  if (!(options.max_grad_norm >= 0.0f)) invalid("maxGradNorm must be >= 0, got " + std::to_string(options.max_grad_norm));
  Buffers& b = *buf_;
  Device& dev = *device_;
  const int64_t embedding = params_[slots_.token_embedding].offset;
  double sum = 0.0;
  for (const auto& p : params_)
    if (trainable(p)) {
      tag(Phase::Clip, p.offset == embedding);
      sum += dev.sum_squares(b.grads.get() + p.offset, p.count);
    }
  const double norm = std::sqrt(sum);
  if (!std::isfinite(norm)) invalid("the gradient holds NaN or Inf; the parameters were left unchanged");
  // Clipping scales the gradient inside AdamW (AdamWStep::grad_scale), not in a pass of its own.
  const bool clip = options.max_grad_norm > 0.0f && norm > options.max_grad_norm;
  const float grad_scale = clip ? static_cast<float>(options.max_grad_norm / (norm + 1e-6)) : 1.0f;
  ++step_;
  cached_ = 0;
  for (const auto& p : params_) {
    if (!trainable(p)) continue;
    AdamWStep s = a;
    s.step = step_;
    s.grad_scale = grad_scale;
    if (!p.decay) s.weight_decay = 0.0f;
    tag(Phase::Optimizer, p.offset == embedding);
    dev.adamw_update(b.params.get() + p.offset, b.grads.get() + p.offset, b.adam_m.get() + p.offset,
                     b.adam_v.get() + p.offset, p.count, s);
  }
  zero_grad();
  return norm;
}

void Model::forward_minibatches(const std::vector<Batch>& batches) {
  if (config_.num_classes == 0) invalid("a whole-batch step needs a classifier head");
  if (batches.empty()) invalid("a step needs at least one minibatch");
  tag(Phase::Forward);
  int64_t rows = 0;
  for (const auto& batch : batches) rows += batch.batch;
  ensure_step_capacity(rows);
  const int64_t classes = config_.num_classes;
  std::vector<StepMinibatch> done;
  int64_t offset = 0;
  for (const auto& batch : batches) {
    forward(batch, true, LogitsAt::AllPositions, nullptr);  // clears step_minibatches_
    device_->copy(buf_->step_logits.get() + offset * classes, buf_->logits.get(), batch.batch * classes * 4);
    done.push_back({dropout_seed_, fingerprint(batch)});
    offset += batch.batch;
  }
  step_minibatches_ = std::move(done);
}

std::vector<Model::StepMinibatch> Model::take_step_minibatches(const std::vector<Batch>& batches) {
  if (step_minibatches_.empty())
    invalid("backward_step needs forward_step first (and no other forward or backward in between)");
  if (batches.size() != step_minibatches_.size())
    invalid("backward_step needs forward_step's " + std::to_string(step_minibatches_.size()) + " minibatches, got " +
            std::to_string(batches.size()));
  for (size_t i = 0; i < batches.size(); ++i)
    if (fingerprint(batches[i]) != step_minibatches_[i].fingerprint)
      invalid("backward_step: minibatch " + std::to_string(i) + " differs from the one forward_step ran");
  std::vector<StepMinibatch> saved = std::move(step_minibatches_);
  step_minibatches_.clear();
  return saved;
}

void Model::backward_minibatches(const std::vector<Batch>& batches, const std::vector<StepMinibatch>& saved,
                                 const float* dlogits) {
  const int64_t classes = config_.num_classes;
  std::vector<int64_t> offsets(batches.size(), 0);
  for (size_t i = 1; i < batches.size(); ++i) offsets[i] = offsets[i - 1] + batches[i - 1].batch;
  // The last minibatch's activations are still in place; every other forward is recomputed, with
  // the same dropout masks, just before its backward pass.
  const size_t last = batches.size() - 1;
  for (size_t k = 0; k < batches.size(); ++k) {
    const size_t i = k == 0 ? last : k - 1;
    if (i != last) forward_pass(batches[i], true, LogitsAt::AllPositions, nullptr, saved[i].dropout_seed);
    device_->copy(buf_->logits.get(), dlogits + offsets[i] * classes, batches[i].batch * classes * 4);
    backward_pass();
  }
}

void Model::forward_step(const std::vector<Batch>& batches, float* host_logits) {
  forward_minibatches(batches);
  int64_t rows = 0;
  for (const auto& batch : batches) rows += batch.batch;
  device_->download(host_logits, buf_->step_logits.get(), rows * config_.num_classes * 4);
}

void Model::backward_step(const std::vector<Batch>& batches, const float* host_dlogits) {
  const std::vector<StepMinibatch> saved = take_step_minibatches(batches);
  tag(Phase::Backward);
  int64_t rows = 0;
  for (const auto& batch : batches) rows += batch.batch;
  device_->upload(buf_->step_dlogits.get(), host_dlogits, rows * config_.num_classes * 4);
  try {
    backward_minibatches(batches, saved, buf_->step_dlogits.get());
  } catch (...) {
    zero_grad();  // a failed step leaves no partial gradient behind
    throw;
  }
}

StepResult Model::accumulate_whole_batch(const std::vector<Minibatch>& minibatches, float* host_logits) {
  const Loss& loss = minibatches[0].loss;
  const int64_t classes = config_.num_classes;
  std::vector<Batch> batches;
  int64_t rows = 0;
  for (const auto& mb : minibatches) {
    batches.push_back(mb.batch);
    rows += mb.batch.batch;
  }
  forward_minibatches(batches);
  tag(Phase::Loss);
  Buffers& b = *buf_;
  int64_t offset = 0;
  for (const auto& mb : minibatches) {
    device_->upload(b.step_targets.get() + offset * classes, mb.loss.soft_targets, mb.batch.batch * classes * 4);
    offset += mb.batch.batch;
  }
  StepResult result;
  result.loss = classifier_loss(*device_, loss, b.step_logits.get(), b.step_targets.get(), rows, classes, b.step_dlogits.get());
  result.rows = rows;
  if (host_logits) device_->download(host_logits, b.step_logits.get(), rows * classes * 4);
  backward_minibatches(batches, take_step_minibatches(batches), b.step_dlogits.get());
  return result;
}

StepResult Model::accumulate_step(const std::vector<Minibatch>& minibatches, float* host_logits) {
  if (minibatches.empty()) invalid("a step needs at least one minibatch");
  const Loss& first = minibatches[0].loss;
  for (size_t i = 1; i < minibatches.size(); ++i) {
    const Loss& l = minibatches[i].loss;
    if (l.kind != first.kind || l.alpha != first.alpha || l.beta != first.beta)
      invalid("minibatch " + std::to_string(i) +
              " carries another loss than minibatch 0: a step's loss is one loss over its whole batch");
  }
  const bool token_loss = first.kind == LossKind::Token;
  if (token_loss != (config_.num_classes == 0))
    invalid(token_loss ? "the token loss needs a language-model head" : "classifier losses need a classifier head");
  try {
    if (!loss_is_rowwise(first.kind)) return accumulate_whole_batch(minibatches, host_logits);
    // A row-wise loss: minibatch by minibatch, each weighted so that the gradients are those of the
    // mean over all the step's rows (or target tokens).
    int64_t total = 0;
    for (const auto& mb : minibatches) {
      if (token_loss) {
        const int64_t n = mb.batch.batch * mb.batch.seq_len;
        for (int64_t i = 0; i < n; ++i) total += mb.loss.token_targets[i] >= 0;
      } else {
        total += mb.batch.batch;
      }
    }
    if (total == 0) invalid("no target token in the step: every target is -1");
    StepResult result;
    double loss = 0.0;
    int64_t offset = 0;
    for (const auto& mb : minibatches) {
      const auto [sum, rows] =
          accumulate_rowwise(mb, 1.0 / static_cast<double>(total), host_logits ? host_logits + offset : nullptr);
      loss += sum;
      result.rows += rows;
      if (config_.num_classes > 0) offset += mb.batch.batch * config_.num_classes;
    }
    result.loss = loss / static_cast<double>(total);
    return result;
  } catch (...) {
    zero_grad();  // a failed step leaves no partial gradient behind
    throw;
  }
}

StepResult Model::train_step(const std::vector<Minibatch>& minibatches, const OptimizerOptions& options,
                             float* host_logits) {
  StepResult result = accumulate_step(minibatches, host_logits);
  result.grad_norm = optimizer_step(options);
  return result;
}

void Model::tag(Phase phase, bool token_embedding) {
  if (profiler_) profiler_->set_phase(phase, token_embedding);
}

void Model::set_profiling(bool on) {
  if (on && device_->name().rfind("cpu", 0) != 0)
    invalid("profiling measures the CPU device only: on " + device_->name() +
            " the kernels run asynchronously, and a call's wall time is its launch");
  if (on && !profiler_) {
    auto wrapper = std::make_unique<ProfilingDevice>(std::move(device_));
    profiler_ = wrapper.get();
    device_ = std::move(wrapper);
  }
  if (!profiler_) return;
  profiler_->set_on(on);
  profiler_->set_phase(Phase::Outside, false);
  parallel::set_profiling(on);
  if (on) {
    profile_wall_ = 0.0;
    profile_operations_ = 0;
  }
}

bool Model::profiling() const { return profiler_ && profiler_->on(); }

void Model::run_profiled(const std::function<void()>& work) {
  if (!profiling()) return work();
  using Clock = std::chrono::steady_clock;
  struct Stop {
    Model& self;
    Clock::time_point start;
    ~Stop() {
      self.profile_wall_ += std::chrono::duration<double>(Clock::now() - start).count();
      ++self.profile_operations_;
      self.tag(Phase::Outside);
    }
  } stop{*this, Clock::now()};
  work();
}

Profile Model::profile() const {
  Profile out;
  if (!profiler_) return out;
  out.wall_seconds = profile_wall_;
  out.operations = profile_operations_;
  out.entries = profiler_->entries();
  double inside = 0.0;
  for (const auto& e : out.entries)
    if (e.phase != "outside") inside += e.seconds;
  out.entries.push_back({"other", "step", std::max(0.0, profile_wall_ - inside), profile_operations_});
  const parallel::Profile pool = parallel::profile();
  out.pool_threads = parallel::threads();
  out.pool_regions = pool.regions;
  out.pool_region_seconds = pool.region_seconds;
  out.pool_region_thread_seconds = pool.region_thread_seconds;
  out.pool_busy_seconds = pool.busy_seconds;
  return out;
}

}  // namespace w2s::engine
