// The transformer's building blocks on CPU: the kernels the engine (src/engine) calls besides
// attention, the losses and the matrix product of kernels.h. Float32, row-major, contiguous.
//
// Conventions: N is a number of rows (tokens, B·T), d a row width. "+=" marks outputs that are
// accumulated into (parameter gradients, the residual stream's gradient); every other output is
// overwritten. Outputs must not overlap inputs unless a kernel says otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace w2s {

// LayerNorm over rows: y = (x − mean) / sqrt(var + eps) · w + b (biased variance, b optional).
//   x, y [N, d]; w, b [d]; mean, rstd [N] saved for the backward pass.
void layer_norm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                        float* mean, float* rstd);
//   dy, x [N, d]; dx [N, d] +=; dw, db [d] += (db may be null).
void layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                         int64_t n, int64_t d, float* dx, float* dw, float* db);

// RMSNorm over rows: y = x / sqrt(mean(x²) + eps) · w.   x, y [N, d]; w [d]; rstd [N] saved.
void rms_norm_forward(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd);
//   dy, x [N, d]; dx [N, d] +=; dw [d] +=.
void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d,
                       float* dx, float* dw);

// GELU, tanh approximation: y = 0.5·u·(1 + tanh(sqrt(2/π)·(u + 0.044715·u³))).   u, y, dy, du [count].
void gelu_forward(const float* u, int64_t count, float* y);
void gelu_backward(const float* u, const float* dy, int64_t count, float* du);
// GELU, exact: y = 0.5·u·(1 + erf(u/√2)); du = dy·(0.5·(1 + erf(u/√2)) + u·φ(u)), φ the normal
// density.   u, y, dy, du [count].
void gelu_exact_forward(const float* u, int64_t count, float* y);
void gelu_exact_backward(const float* u, const float* dy, int64_t count, float* du);

// SwiGLU: y = silu(g) ⊙ u, silu(g) = g·sigmoid(g), where each row of gu [N, 2F] is [g (F) | u (F)].
//   y, dy [N, F]; dgu [N, 2F].
void swiglu_forward(const float* gu, int64_t n, int64_t f, float* y);
void swiglu_backward(const float* gu, const float* dy, int64_t n, int64_t f, float* dgu);

// Rotary position embedding, Hugging Face's rotate-half convention, in place, on the first
// rotary_dim (even, <= head_dim) dims of each head; the rest pass through (GPT-NeoX's partial rotary).
//   x: N rows of row_stride floats; row r holds position r % seq_len; the first `heads` heads of
//   head_dim floats of each row are rotated: with h = rotary_dim/2, for j < h and angle
//   a = pos·θ_j, (x[j], x[j + h]) ← (x[j]·cos a − x[j + h]·sin a, x[j + h]·cos a + x[j]·sin a).
//   cos, sin [seq_len, rotary_dim/2]: tables from rope_tables. inverse = true rotates by −a (the
//   backward pass: the rotation's transpose).
// rope_tables: cos and sin of pos·inv_freq[j] (computed in double), inv_freq [rotary_dim/2].
void rope_tables(int64_t seq_len, int64_t rotary_dim, const double* inv_freq, float* cos, float* sin);
void rope_apply(float* x, int64_t n, int64_t seq_len, int64_t row_stride, int64_t heads, int64_t head_dim,
                int64_t rotary_dim, const float* cos, const float* sin, bool inverse);

// Embeddings: out[r] = table[tokens[r]] (+ positions[r % seq_len] when positions is not null).
//   tokens [N] (validated by the caller: 0 <= token < V); table [V, d]; positions [≥ seq_len, d]; out [N, d].
void embedding_forward(const int32_t* tokens, const float* table, const float* positions, int64_t n,
                       int64_t seq_len, int64_t d, float* out);
//   dout [N, d]; dtable [V, d] += (scatter-add by token); dpositions [≥ seq_len, d] += (may be null).
void embedding_backward(const int32_t* tokens, const float* dout, int64_t n, int64_t seq_len, int64_t d,
                        float* dtable, float* dpositions);

// Row-broadcast bias: y[r] += b.   y [N, d]; b [d].
void add_bias(float* y, const float* b, int64_t n, int64_t d);
// Column sums: db += Σ_r dy[r].   dy [N, d]; db [d] +=.
void bias_backward(const float* dy, int64_t n, int64_t d, float* db);
// y += x, element-wise over count floats.
void add_inplace(float* y, const float* x, int64_t count);

// Inverted dropout with a counter-based generator: element i of a call is kept when
// hash(seed, i) >= p·2^32, and scaled by 1/(1 − p); the same (seed, count) gives the same mask, so
// the backward pass regenerates it instead of storing it. In place; 0 <= p < 1.
void dropout_apply(float* x, int64_t count, float p, uint64_t seed);

// Language-model cross-entropy with token targets: rows with target −1 are ignored.
//   logits [N, V]; targets [N] (−1 or 0 <= t < V); dlogits [N, V] = scale · d(Σ loss)/dlogits
//   (zero for ignored rows). dlogits may be the logits buffer itself (computed in place).
//   Returns the sum of the row losses (double); throws NonFiniteInput for NaN/Inf logits.
double token_xent_loss(const float* logits, const int32_t* targets, int64_t n, int64_t v, float scale,
                       float* dlogits);

// AdamW on one tensor, decoupled weight decay, bias correction with step t >= 1, on the gradient
// g·grad_scale (the engine's clipping factor, applied here instead of in a pass of its own):
//   m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·(m̂/(sqrt(v̂) + eps) + weight_decay·p).
//   p, g, m, v [count], four separate arrays; g is read only.
struct AdamWStep {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  float grad_scale = 1.0f;
  int64_t step = 1;
};
void adamw_update(float* p, const float* g, float* m, float* v, int64_t count, const AdamWStep& s);

// Σ x² in double.   x [count].
double sum_squares(const float* x, int64_t count);
// x *= s.   x [count].
void scale_inplace(float* x, int64_t count, float s);

}  // namespace w2s
