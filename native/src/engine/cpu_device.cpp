// The CPU device: forwards each kernel to src/cpu. Memory is 64-byte aligned host memory. The
// attention kernels run 16-wide tiles (head sizes a multiple of 16); other head sizes are padded
// with zeros into scratch buffers kept across calls (zero columns change neither the scores nor
// the outputs, and the scale stays 1/sqrt(true head size)).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "../common/parallel.h"
#include "device.h"

namespace w2s::engine {
namespace {

constexpr int64_t kTile = 16;

int64_t padded_head_dim(int64_t d) { return (d + kTile - 1) / kTile * kTile; }

// Copies a [B, T, H, D] view into / out of a contiguous [B, T, H, Dp] buffer.
void pad_heads(const ConstView4& src, int64_t b, int64_t t, int64_t h, int64_t d, int64_t dp, float* dst) {
  parallel::for_ranges(b * t, 16, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t hh = 0; hh < h; ++hh) {
        const float* s = src.data + (r / t) * src.stride[0] + (r % t) * src.stride[1] + hh * src.stride[2];
        float* o = dst + (r * h + hh) * dp;
        std::memcpy(o, s, sizeof(float) * d);
        std::memset(o + d, 0, sizeof(float) * (dp - d));
      }
  });
}
void unpad_heads(const float* src, int64_t b, int64_t t, int64_t h, int64_t d, int64_t dp, const View4& dst) {
  parallel::for_ranges(b * t, 16, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t hh = 0; hh < h; ++hh)
        std::memcpy(dst.data + (r / t) * dst.stride[0] + (r % t) * dst.stride[1] + hh * dst.stride[2],
                    src + (r * h + hh) * dp, sizeof(float) * d);
  });
}

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(CpuProducts products) : products_(products) {}
  std::string name() const override { return products_ == CpuProducts::BF16 ? "cpu (bf16 products)" : "cpu"; }

  void* allocate(int64_t bytes) override {
    const size_t size = (static_cast<size_t>(bytes) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, size == 0 ? 64 : size);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, size);
    return p;
  }
  void release(void* p) override { std::free(p); }
  void upload(void* dst, const void* host, int64_t bytes) override { std::memcpy(dst, host, static_cast<size_t>(bytes)); }
  void download(void* host, const void* src, int64_t bytes) override { std::memcpy(host, src, static_cast<size_t>(bytes)); }
  void copy(void* dst, const void* src, int64_t bytes) override {
    char* d = static_cast<char*>(dst);
    const char* s = static_cast<const char*>(src);
    parallel::for_ranges(bytes, 1 << 16, [&](int64_t begin, int64_t end, int) { std::memcpy(d + begin, s + begin, end - begin); });
  }
  void fill_zero(void* dst, int64_t bytes) override {
    char* d = static_cast<char*>(dst);
    parallel::for_ranges(bytes, 1 << 16, [&](int64_t begin, int64_t end, int) { std::memset(d + begin, 0, end - begin); });
  }

  void matmul(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override {
    if (products_ == CpuProducts::BF16)
      bf16_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &bf16_scratch_);
    else
      sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void layer_norm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                          float* mean, float* rstd) override {
    w2s::layer_norm_forward(x, w, b, n, d, eps, y, mean, rstd);
  }
  void layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                           int64_t n, int64_t d, float* dx, float* dw, float* db) override {
    w2s::layer_norm_backward(dy, x, w, mean, rstd, n, d, dx, dw, db);
  }
  void rms_norm_forward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd) override {
    w2s::rms_norm_forward(x, w, n, d, eps, y, rstd);
  }
  void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d,
                         float* dx, float* dw) override {
    w2s::rms_norm_backward(dy, x, w, rstd, n, d, dx, dw);
  }
  void gelu_forward(const float* u, int64_t count, bool exact, float* y) override {
    if (exact)
      w2s::gelu_exact_forward(u, count, y);
    else
      w2s::gelu_forward(u, count, y);
  }
  void gelu_backward(const float* u, const float* dy, int64_t count, bool exact, float* du) override {
    if (exact)
      w2s::gelu_exact_backward(u, dy, count, du);
    else
      w2s::gelu_backward(u, dy, count, du);
  }
  void swiglu_forward(const float* gu, int64_t n, int64_t f, float* y) override { w2s::swiglu_forward(gu, n, f, y); }
  void swiglu_backward(const float* gu, const float* dy, int64_t n, int64_t f, float* dgu) override {
    w2s::swiglu_backward(gu, dy, n, f, dgu);
  }
  void rope_apply(float* x, int64_t n, int64_t seq_len, int64_t row_stride, int64_t heads, int64_t head_dim,
                  int64_t rotary_dim, const float* cos, const float* sin, bool inverse) override {
    w2s::rope_apply(x, n, seq_len, row_stride, heads, head_dim, rotary_dim, cos, sin, inverse);
  }
  void embedding_forward(const int32_t* tokens, const float* table, const float* positions, int64_t n,
                         int64_t seq_len, int64_t d, float* out) override {
    w2s::embedding_forward(tokens, table, positions, n, seq_len, d, out);
  }
  void embedding_backward(const int32_t* tokens, const float* dout, int64_t n, int64_t seq_len, int64_t d,
                          float* dtable, float* dpositions) override {
    w2s::embedding_backward(tokens, dout, n, seq_len, d, dtable, dpositions);
  }
  void add_bias(float* y, const float* b, int64_t n, int64_t d) override { w2s::add_bias(y, b, n, d); }
  void bias_backward(const float* dy, int64_t n, int64_t d, float* db) override { w2s::bias_backward(dy, n, d, db); }
  void add_inplace(float* y, const float* x, int64_t count) override { w2s::add_inplace(y, x, count); }
  void dropout_apply(float* x, int64_t count, float p, uint64_t seed) override { w2s::dropout_apply(x, count, p, seed); }
  void gather_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) override {
    for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * d, src + static_cast<int64_t>(rows[i]) * d, sizeof(float) * d);
  }
  void scatter_add_rows(const float* src, const int32_t* rows, int64_t count, int64_t d, float* dst) override {
    for (int64_t i = 0; i < count; ++i) {
      float* o = dst + static_cast<int64_t>(rows[i]) * d;
      for (int64_t j = 0; j < d; ++j) o[j] += src[i * d + j];
    }
  }

  void attention_forward(const AttentionShape& s, ConstView4 q, ConstView4 k, ConstView4 v,
                         const AttentionOptions& options, View4 out, float* lse) override {
    if (s.head_dim % kTile == 0) return w2s::attention_forward(s, q, k, v, options, out, lse);
    const int64_t dp = padded_head_dim(s.head_dim);
    float* qp = scratch(0, s.batch * s.q_len * s.heads * dp);
    float* kp = scratch(1, s.batch * s.kv_len * s.kv_heads * dp);
    float* vp = scratch(2, s.batch * s.kv_len * s.kv_heads * dp);
    float* op = scratch(3, s.batch * s.q_len * s.heads * dp);
    pad_heads(q, s.batch, s.q_len, s.heads, s.head_dim, dp, qp);
    pad_heads(k, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp, kp);
    pad_heads(v, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp, vp);
    AttentionShape ps = s;
    ps.head_dim = dp;
    w2s::attention_forward(ps, contiguous_view(static_cast<const float*>(qp), s.q_len, s.heads, dp),
                           contiguous_view(static_cast<const float*>(kp), s.kv_len, s.kv_heads, dp),
                           contiguous_view(static_cast<const float*>(vp), s.kv_len, s.kv_heads, dp),
                           true_scale(s, options), contiguous_view(op, s.q_len, s.heads, dp), lse);
    unpad_heads(op, s.batch, s.q_len, s.heads, s.head_dim, dp, out);
  }

  void attention_backward(const AttentionShape& s, ConstView4 q, ConstView4 k, ConstView4 v, ConstView4 out,
                          const float* lse, ConstView4 dout, const AttentionOptions& options, View4 dq, View4 dk,
                          View4 dv) override {
    if (s.head_dim % kTile == 0) return w2s::attention_backward(s, q, k, v, out, lse, dout, options, dq, dk, dv);
    const int64_t dp = padded_head_dim(s.head_dim);
    const int64_t q_count = s.batch * s.q_len * s.heads * dp, kv_count = s.batch * s.kv_len * s.kv_heads * dp;
    float* qp = scratch(0, q_count);
    float* kp = scratch(1, kv_count);
    float* vp = scratch(2, kv_count);
    float* op = scratch(3, q_count);
    float* dop = scratch(4, q_count);
    float* dqp = scratch(5, q_count);
    float* dkp = scratch(6, kv_count);
    float* dvp = scratch(7, kv_count);
    pad_heads(q, s.batch, s.q_len, s.heads, s.head_dim, dp, qp);
    pad_heads(k, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp, kp);
    pad_heads(v, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp, vp);
    pad_heads(out, s.batch, s.q_len, s.heads, s.head_dim, dp, op);
    pad_heads(dout, s.batch, s.q_len, s.heads, s.head_dim, dp, dop);
    AttentionShape ps = s;
    ps.head_dim = dp;
    const auto cq = [&](const float* p) { return contiguous_view(p, s.q_len, s.heads, dp); };
    const auto ckv = [&](const float* p) { return contiguous_view(p, s.kv_len, s.kv_heads, dp); };
    w2s::attention_backward(ps, cq(qp), ckv(kp), ckv(vp), cq(op), lse, cq(dop), true_scale(s, options),
                            contiguous_view(dqp, s.q_len, s.heads, dp), contiguous_view(dkp, s.kv_len, s.kv_heads, dp),
                            contiguous_view(dvp, s.kv_len, s.kv_heads, dp));
    unpad_heads(dqp, s.batch, s.q_len, s.heads, s.head_dim, dp, dq);
    unpad_heads(dkp, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp, dk);
    unpad_heads(dvp, s.batch, s.kv_len, s.kv_heads, s.head_dim, dp, dv);
  }

  double token_xent_loss(const float* logits, const int32_t* targets, int64_t n, int64_t v, float scale,
                         float* dlogits) override {
    return w2s::token_xent_loss(logits, targets, n, v, scale, dlogits);
  }
  double xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz) override {
    return w2s::xent_loss(z, y, n, c, dz, "softTargets");
  }
  double logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz) override {
    return w2s::logconf_loss(z, y, n, c, alpha, dz, "softTargets");
  }
  double product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta,
                      float* dz) override {
    return w2s::product_loss(z, y, n, c, alpha, beta, dz, "softTargets");
  }

  void adamw_update(float* p, const float* g, float* m, float* v, int64_t count, const AdamWStep& s) override {
    w2s::adamw_update(p, g, m, v, count, s);
  }
  double sum_squares(const float* x, int64_t count) override { return w2s::sum_squares(x, count); }
  void scale_inplace(float* x, int64_t count, float s) override { w2s::scale_inplace(x, count, s); }

 private:
  // The scale the caller meant: 1/sqrt(true head size) unless given.
  static AttentionOptions true_scale(const AttentionShape& s, AttentionOptions options) {
    if (options.scale == 0.0f) options.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    return options;
  }
  float* scratch(int slot, int64_t count) {
    auto& buffer = scratch_[slot];
    if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<size_t>(count));
    return buffer.data();
  }
  const CpuProducts products_;
  Bf16Scratch bf16_scratch_;  // the bf16 products' rounded inputs: as large as the largest product's
  std::vector<float> scratch_[8];
};

}  // namespace

std::unique_ptr<Device> make_cpu_device(CpuProducts products) { return std::make_unique<CpuDevice>(products); }

}  // namespace w2s::engine
