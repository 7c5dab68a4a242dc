// ProfilingDevice: a Device decorator for the engine's profile (Model::set_profiling). It forwards
// every call, arguments untouched, to the device it wraps (so it changes no computation) and, while
// on, adds the call's wall time (std::chrono::steady_clock around the call) and a count to a
// counter per category (the kernel family: matmul, attention, layer norm, ...) and phase (the
// model's, set_phase). While off it reads no clock.
//
// What it measures is the time until a call returns. On the CPU device that is the kernel's run,
// OpenBLAS's threads included. An asynchronous device (CUDA) returns at the launch: its profile
// would hold launch costs, and the waits of the calls that synchronise; the model refuses to
// profile one. Host work between calls (the model's orchestration, batch checks) is no call: the
// model reports it as the operations' wall time less the calls' ("other").
//
// In the backward phase a matrix product with op(A) = Aᵀ accumulating into C (beta = 1) is a
// weight gradient (dW += dyᵀ·x, [out, in]), any other an input gradient (dx = dy·W): the two
// products of model.cpp's linear_backward and head_backward.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "device.h"
#include "w2s/engine.h"

namespace w2s::engine {

class ProfilingDevice final : public Device {
 public:
  explicit ProfilingDevice(std::unique_ptr<Device> inner) : inner_(std::move(inner)) {}

  // on: zeroes the counters and starts counting; off: stops (the counters stay).
  void set_on(bool on);
  bool on() const { return on_; }
  void set_phase(Phase phase, bool token_embedding) {
    phase_ = phase;
    token_embedding_ = token_embedding;
  }
  // The counters with calls, in category then phase order.
  std::vector<ProfileEntry> entries() const;

  std::string name() const override { return inner_->name(); }
  void* allocate(int64_t bytes) override;
  void release(void* p) override;
  void upload(void* dst, const void* host, int64_t bytes) override;
  void download(void* host, const void* src, int64_t bytes) override;
  void copy(void* dst, const void* src, int64_t bytes) override;
  void fill_zero(void* dst, int64_t bytes) override;
  void matmul(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override;
  void layer_norm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                          float* mean, float* rstd) override;
  void layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                           int64_t n, int64_t d, float* dx, float* dw, float* db) override;
  void rms_norm_forward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd) override;
  void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d,
                         float* dx, float* dw) override;
  void gelu_forward(const float* u, int64_t count, bool exact, float* y) override;
  void gelu_backward(const float* u, const float* dy, int64_t count, bool exact, float* du) override;
  void swiglu_forward(const float* gu, int64_t n, int64_t f, float* y) override;
  void swiglu_backward(const float* gu, const float* dy, int64_t n, int64_t f, float* dgu) override;
  void rope_apply(float* x, int64_t n, int64_t seq_len, int64_t row_stride, int64_t heads, int64_t head_dim,
                  int64_t rotary_dim, const float* cos, const float* sin, bool inverse) override;
  void embedding_forward(const int32_t* tokens, const float* table, const float* positions, int64_t n, int64_t seq_len,
                         int64_t d, float* out) override;
  void embedding_backward(const int32_t* tokens, const float* dout, int64_t n, int64_t seq_len, int64_t d,
                          float* dtable, float* dpositions) override;
  void add_bias(float* y, const float* b, int64_t n, int64_t d) override;
  void bias_backward(const float* dy, int64_t n, int64_t d, float* db) override;
  void add_inplace(float* y, const float* x, int64_t count) override;
  void dropout_apply(float* x, int64_t count, float p, uint64_t seed) override;
  void gather_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) override;
  void scatter_add_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) override;
  void attention_forward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                         const AttentionOptions& options, View4 out, float* lse) override;
  void attention_backward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v, ConstView4 out,
                          const float* lse, ConstView4 dout, const AttentionOptions& options, View4 dq, View4 dk,
                          View4 dv) override;
  double token_xent_loss(const float* logits, const int32_t* targets, int64_t n, int64_t v, float scale,
                         float* dlogits) override;
  double xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz) override;
  double logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz) override;
  double product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta,
                      float* dz) override;
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t count, const AdamWStep& s) override;
  double sum_squares(const float* x, int64_t count) override;
  void scale_inplace(float* x, int64_t count, float s) override;

  // The kernel families (names in profiling_device.cpp).
  enum class Category {
    Matmul, MatmulWeightGradient, MatmulInputGradient, Attention, LayerNorm, RmsNorm, Gelu, SwiGlu, Rope,
    Embedding, Bias, ResidualAdd, Dropout, Rows, CopyFill, HostTransfer, Memory, Loss, Scale, SumSquares, AdamW,
    Count
  };

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr int kPhases = static_cast<int>(Phase::Optimizer) + 1;
  static constexpr int kCategories = static_cast<int>(Category::Count);

  // Runs f, timing it into `category` (and the current phase) while on.
  template <typename F>
  auto timed(Category category, F&& f) {
    if (!on_) return f();
    struct Stop {
      ProfilingDevice& self;
      Category category;
      Clock::time_point start;
      ~Stop() { self.add(category, start); }
    } stop{*this, category, Clock::now()};
    return f();
  }
  void add(Category category, Clock::time_point start);

  std::unique_ptr<Device> inner_;
  bool on_ = false;
  Phase phase_ = Phase::Outside;
  bool token_embedding_ = false;
  // [phase][category][token embedding]
  double seconds_[kPhases][kCategories][2] = {};
  int64_t calls_[kPhases][kCategories][2] = {};
};

}  // namespace w2s::engine
