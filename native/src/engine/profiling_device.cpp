// ProfilingDevice (profiling_device.h): every call forwarded to the wrapped device as given, timed
// into its category and the model's phase while on.
#include "profiling_device.h"

#include <cstring>

namespace w2s::engine {
namespace {

using Category = ProfilingDevice::Category;

const char* category_name(Category c) {
  switch (c) {
    case Category::Matmul: return "matmul";
    case Category::MatmulWeightGradient: return "matmul: weight gradient";
    case Category::MatmulInputGradient: return "matmul: input gradient";
    case Category::Attention: return "attention";
    case Category::LayerNorm: return "layer norm";
    case Category::RmsNorm: return "rms norm";
    case Category::Gelu: return "gelu";
    case Category::SwiGlu: return "swiglu";
    case Category::Rope: return "rope";
    case Category::Embedding: return "embedding";
    case Category::Bias: return "bias";
    case Category::ResidualAdd: return "residual add";
    case Category::Dropout: return "dropout";
    case Category::Rows: return "gather/scatter rows";
    case Category::CopyFill: return "copy/fill";
    case Category::HostTransfer: return "host transfer";
    case Category::Memory: return "allocate/release";
    case Category::Loss: return "loss";
    case Category::Scale: return "scale";
    case Category::SumSquares: return "gradient norm";
    case Category::AdamW: return "adamw";
    case Category::Count: break;
  }
  return "?";
}

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Outside: return "outside";
    case Phase::Forward: return "forward";
    case Phase::Loss: return "loss";
    case Phase::Backward: return "backward";
    case Phase::Clip: return "clip";
    case Phase::Optimizer: return "optimizer";
  }
  return "?";
}

}  // namespace

void ProfilingDevice::set_on(bool on) {
  if (on) {
    std::memset(seconds_, 0, sizeof seconds_);
    std::memset(calls_, 0, sizeof calls_);
  }
  on_ = on;
}

void ProfilingDevice::add(Category category, Clock::time_point start) {
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  const int p = static_cast<int>(phase_), c = static_cast<int>(category), e = token_embedding_ ? 1 : 0;
  seconds_[p][c][e] += s;
  ++calls_[p][c][e];
}

std::vector<ProfileEntry> ProfilingDevice::entries() const {
  std::vector<ProfileEntry> out;
  for (int c = 0; c < kCategories; ++c)
    for (int e = 0; e < 2; ++e)
      for (int p = 0; p < kPhases; ++p) {
        if (calls_[p][c][e] == 0) continue;
        std::string name = category_name(static_cast<Category>(c));
        if (e) name += " (token embedding)";
        out.push_back({name, phase_name(static_cast<Phase>(p)), seconds_[p][c][e], calls_[p][c][e]});
      }
  return out;
}

void* ProfilingDevice::allocate(int64_t bytes) {
  return timed(Category::Memory, [&] { return inner_->allocate(bytes); });
}
void ProfilingDevice::release(void* p) {
  timed(Category::Memory, [&] { inner_->release(p); });
}
void ProfilingDevice::upload(void* dst, const void* host, int64_t bytes) {
  timed(Category::HostTransfer, [&] { inner_->upload(dst, host, bytes); });
}
void ProfilingDevice::download(void* host, const void* src, int64_t bytes) {
  timed(Category::HostTransfer, [&] { inner_->download(host, src, bytes); });
}
void ProfilingDevice::copy(void* dst, const void* src, int64_t bytes) {
  timed(Category::CopyFill, [&] { inner_->copy(dst, src, bytes); });
}
void ProfilingDevice::fill_zero(void* dst, int64_t bytes) {
  timed(Category::CopyFill, [&] { inner_->fill_zero(dst, bytes); });
}

void ProfilingDevice::matmul(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                             int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  Category category = Category::Matmul;
  if (phase_ == Phase::Backward)
    category = ta && beta == 1.0f ? Category::MatmulWeightGradient : Category::MatmulInputGradient;
  timed(category, [&] { inner_->matmul(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); });
}

void ProfilingDevice::layer_norm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d,
                                         float eps, float* y, float* mean, float* rstd) {
  timed(Category::LayerNorm, [&] { inner_->layer_norm_forward(x, w, b, n, d, eps, y, mean, rstd); });
}
void ProfilingDevice::layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean,
                                          const float* rstd, int64_t n, int64_t d, float* dx, float* dw, float* db) {
  timed(Category::LayerNorm, [&] { inner_->layer_norm_backward(dy, x, w, mean, rstd, n, d, dx, dw, db); });
}
void ProfilingDevice::rms_norm_forward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y,
                                       float* rstd) {
  timed(Category::RmsNorm, [&] { inner_->rms_norm_forward(x, w, n, d, eps, y, rstd); });
}
void ProfilingDevice::rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n,
                                        int64_t d, float* dx, float* dw) {
  timed(Category::RmsNorm, [&] { inner_->rms_norm_backward(dy, x, w, rstd, n, d, dx, dw); });
}
void ProfilingDevice::gelu_forward(const float* u, int64_t count, bool exact, float* y) {
  timed(Category::Gelu, [&] { inner_->gelu_forward(u, count, exact, y); });
}
void ProfilingDevice::gelu_backward(const float* u, const float* dy, int64_t count, bool exact, float* du) {
  timed(Category::Gelu, [&] { inner_->gelu_backward(u, dy, count, exact, du); });
}
void ProfilingDevice::swiglu_forward(const float* gu, int64_t n, int64_t f, float* y) {
  timed(Category::SwiGlu, [&] { inner_->swiglu_forward(gu, n, f, y); });
}
void ProfilingDevice::swiglu_backward(const float* gu, const float* dy, int64_t n, int64_t f, float* dgu) {
  timed(Category::SwiGlu, [&] { inner_->swiglu_backward(gu, dy, n, f, dgu); });
}
void ProfilingDevice::rope_apply(float* x, int64_t n, int64_t seq_len, int64_t row_stride, int64_t heads,
                                 int64_t head_dim, int64_t rotary_dim, const float* cos, const float* sin,
                                 bool inverse) {
  timed(Category::Rope,
        [&] { inner_->rope_apply(x, n, seq_len, row_stride, heads, head_dim, rotary_dim, cos, sin, inverse); });
}
void ProfilingDevice::embedding_forward(const int32_t* tokens, const float* table, const float* positions, int64_t n,
                                        int64_t seq_len, int64_t d, float* out) {
  timed(Category::Embedding, [&] { inner_->embedding_forward(tokens, table, positions, n, seq_len, d, out); });
}
void ProfilingDevice::embedding_backward(const int32_t* tokens, const float* dout, int64_t n, int64_t seq_len,
                                         int64_t d, float* dtable, float* dpositions) {
  timed(Category::Embedding, [&] { inner_->embedding_backward(tokens, dout, n, seq_len, d, dtable, dpositions); });
}
void ProfilingDevice::add_bias(float* y, const float* b, int64_t n, int64_t d) {
  timed(Category::Bias, [&] { inner_->add_bias(y, b, n, d); });
}
void ProfilingDevice::bias_backward(const float* dy, int64_t n, int64_t d, float* db) {
  timed(Category::Bias, [&] { inner_->bias_backward(dy, n, d, db); });
}
void ProfilingDevice::add_inplace(float* y, const float* x, int64_t count) {
  timed(Category::ResidualAdd, [&] { inner_->add_inplace(y, x, count); });
}
void ProfilingDevice::dropout_apply(float* x, int64_t count, float p, uint64_t seed) {
  timed(Category::Dropout, [&] { inner_->dropout_apply(x, count, p, seed); });
}
void ProfilingDevice::gather_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) {
  timed(Category::Rows, [&] { inner_->gather_rows(src, rows, count, d, dst); });
}
void ProfilingDevice::scatter_add_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) {
  timed(Category::Rows, [&] { inner_->scatter_add_rows(src, rows, count, d, dst); });
}

void ProfilingDevice::attention_forward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                                        const AttentionOptions& options, View4 out, float* lse) {
  timed(Category::Attention, [&] { inner_->attention_forward(shape, q, k, v, options, out, lse); });
}
void ProfilingDevice::attention_backward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                                         ConstView4 out, const float* lse, ConstView4 dout,
                                         const AttentionOptions& options, View4 dq, View4 dk, View4 dv) {
  timed(Category::Attention,
        [&] { inner_->attention_backward(shape, q, k, v, out, lse, dout, options, dq, dk, dv); });
}

double ProfilingDevice::token_xent_loss(const float* logits, const int32_t* targets, int64_t n, int64_t v,
                                        float scale, float* dlogits) {
  return timed(Category::Loss, [&] { return inner_->token_xent_loss(logits, targets, n, v, scale, dlogits); });
}
double ProfilingDevice::xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz) {
  return timed(Category::Loss, [&] { return inner_->xent_loss(z, y, n, c, dz); });
}
double ProfilingDevice::logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz) {
  return timed(Category::Loss, [&] { return inner_->logconf_loss(z, y, n, c, alpha, dz); });
}
double ProfilingDevice::product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta,
                                     float* dz) {
  return timed(Category::Loss, [&] { return inner_->product_loss(z, y, n, c, alpha, beta, dz); });
}

void ProfilingDevice::adamw_update(float* p, const float* g, float* m, float* v, int64_t count, const AdamWStep& s) {
  timed(Category::AdamW, [&] { inner_->adamw_update(p, g, m, v, count, s); });
}
double ProfilingDevice::sum_squares(const float* x, int64_t count) {
  return timed(Category::SumSquares, [&] { return inner_->sum_squares(x, count); });
}
void ProfilingDevice::scale_inplace(float* x, int64_t count, float s) {
  timed(Category::Scale, [&] { inner_->scale_inplace(x, count, s); });
}

}  // namespace w2s::engine
