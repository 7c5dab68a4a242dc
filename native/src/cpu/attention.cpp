// Fused multi-head attention on the CPU, FlashAttention-2 style: tiles of kQTile queries by kKTile
// keys, online softmax, the log-sum-exp saved for the backward pass; no T x T matrix is formed.
//
// Layouts (see include/w2s/kernels.h): q, out, dout, dq [B, Tq, H, D]; k, v, dk, dv [B, Tk, Hkv, D],
// all as strided views with contiguous D; lse [B, H, Tq] contiguous.
//
// Forward, one work item per (b, h, query tile):
//   S = scale * Q K^T (Br x Bc), m = running row max, P = exp(S - m), l = running row sum,
//   Oacc = Oacc * exp(m_old - m_new) + P V; finally O = Oacc / l, lse = m + log l.
// Backward, with P recomputed from the saved lse; every output element has exactly one writer
// (no atomics, no per-thread copies of dQ/dK/dV):
//   delta_i = sum_d dO_id O_id, P = exp(S - lse), dP = dO V^T, dS = P * (dP - delta)
//   dV = sum P^T dO, dK = scale * sum dS^T Q, dQ = scale * sum dS K
// - single pass, one item per (b, kv head), when there are enough of them for the threads: the
//   item walks the key tiles, and for each, the query tiles of its query heads (5 tile products);
// - otherwise two passes over finer items: (b, kv head, key tile) for dK, dV, then
//   (b, h, query tile) for dQ, recomputing S and dP (7 tile products).
// Under a causal mask, rows go by groups of 16 so that the masked corner of a diagonal tile is
// skipped. Scratch: per thread, a few tiles (O(threads x tile)), kept in thread-local buffers.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../common/parallel.h"
#include "simd.h"
#include "tile_gemm.h"
#include "w2s/kernels.h"

namespace w2s {
namespace {

using simd::Vec;
using simd::kLanes;

constexpr int64_t kQTile = 64;  // Br: queries per tile
constexpr int64_t kKTile = 64;  // Bc: keys per tile
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int64_t round_up16(int64_t x) { return (x + 15) / 16 * 16; }

// Everything the tile loops need, derived once per call.
struct Problem {
  int64_t B, Tq, Tk, H, Hkv, D, group;
  float scale;
  bool causal;
  int64_t causal_offset;  // query i sees keys j <= i + causal_offset
  const int32_t* kv_lengths;

  Problem(const AttentionShape& s, const AttentionOptions& o)
      : B(s.batch), Tq(s.q_len), Tk(s.kv_len), H(s.heads), Hkv(s.kv_heads), D(s.head_dim),
        group(s.heads / s.kv_heads),
        scale(o.scale != 0.0f ? o.scale : 1.0f / std::sqrt(static_cast<float>(s.head_dim))),
        causal(o.causal), causal_offset(s.kv_len - s.q_len), kv_lengths(o.kv_lengths) {}

  int64_t keys(int64_t b) const { return kv_lengths ? kv_lengths[b] : Tk; }
  // Rows handled together within a tile. Under a causal mask, groups of 16 skip the masked corner
  // of the diagonal tiles; otherwise the whole tile is one group.
  int64_t row_group() const { return causal ? 16 : kQTile; }
  int64_t query_tiles() const { return (Tq + kQTile - 1) / kQTile; }
  int64_t key_tiles() const { return (Tk + kKTile - 1) / kKTile; }
  // Keys [0, end) that any query of rows [i0, i0 + rows) may see.
  int64_t key_end(int64_t b, int64_t i0, int64_t rows) const {
    const int64_t end = keys(b);
    return causal ? std::min(end, i0 + rows + causal_offset) : end;
  }
  // Keys of the tile starting at j0 that query i may see: [0, result) within the tile.
  int64_t visible_in_tile(int64_t i, int64_t j0, int64_t tile_keys) const {
    return causal ? std::min(tile_keys, i + causal_offset + 1 - j0) : tile_keys;
  }
};

const float* at(const ConstView4& t, int64_t b, int64_t i, int64_t h) {
  return t.data + b * t.stride[0] + i * t.stride[1] + h * t.stride[2];
}
float* at(const View4& t, int64_t b, int64_t i, int64_t h) {
  return t.data + b * t.stride[0] + i * t.stride[1] + h * t.stride[2];
}

// dst[d * ld + r] = src[r * src_row + d] for r < rows, d < d_size (a multiple of 16); columns
// rows..round_up16(rows) are zero. 16 x 16 blocks are transposed in registers.
void pack_transposed(const float* src, int64_t src_row, int64_t rows, int64_t d_size, float* dst, int64_t ld) {
  for (int64_t r0 = 0; r0 < rows; r0 += kLanes) {
    const int64_t block_rows = std::min<int64_t>(kLanes, rows - r0);
    for (int64_t d0 = 0; d0 < d_size; d0 += kLanes) {
      Vec m[16];
      for (int64_t i = 0; i < kLanes; ++i) m[i] = i < block_rows ? simd::load(src + (r0 + i) * src_row + d0) : Vec{};
      simd::transpose16(m);
      for (int64_t j = 0; j < kLanes; ++j) simd::store(dst + (d0 + j) * ld + r0, m[j]);
    }
  }
}

float* thread_scratch(size_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer.data();
}

size_t forward_scratch_floats(int64_t D) { return D * kKTile + kQTile * kKTile + kQTile * D + 2 * kQTile; }
size_t dq_scratch_floats(int64_t D) { return 2 * D * kKTile + 2 * kQTile * kKTile + kQTile * D + 2 * kQTile; }
size_t dkdv_scratch_floats(int64_t D) { return 2 * D * kQTile + 2 * kKTile * kQTile + 2 * kKTile * D + 2 * kQTile; }

void forward_tile(const Problem& p, const ConstView4& q, const ConstView4& k, const ConstView4& v, View4 out,
                  float* lse, int64_t b, int64_t h, int64_t qt) {
  const int64_t D = p.D;
  const int64_t i0 = qt * kQTile;
  const int64_t rows = std::min(kQTile, p.Tq - i0);
  const int64_t kvh = h / p.group;
  float* kt = thread_scratch(forward_scratch_floats(D));  // K^T tile [D][Bc]
  float* s = kt + D * kKTile;                              // S, then P [Br][Bc]
  float* acc = s + kQTile * kKTile;                        // Oacc [Br][D]
  float* row_max = acc + kQTile * D;                       // m [Br]
  float* row_sum = row_max + kQTile;                       // l [Br]
  std::fill(acc, acc + rows * D, 0.0f);
  std::fill(row_max, row_max + rows, kNegInf);
  std::fill(row_sum, row_sum + rows, 0.0f);

  const float* qbase = at(q, b, i0, h);
  const float* kbase = at(k, b, 0, kvh);
  const float* vbase = at(v, b, 0, kvh);
  const int64_t key_end = p.key_end(b, i0, rows);
  const Vec scale = simd::splat(p.scale);
  for (int64_t j0 = 0; j0 < key_end; j0 += kKTile) {
    const int64_t cols = std::min(kKTile, key_end - j0);
    pack_transposed(kbase + j0 * k.stride[1], k.stride[1], cols, D, kt, kKTile);
    for (int64_t g0 = 0; g0 < rows; g0 += p.row_group()) {
      const int64_t group_rows = std::min(p.row_group(), rows - g0);
      // Keys of this tile that the group's last (most-seeing) row sees: nothing past them is computed.
      const int64_t reach = p.visible_in_tile(i0 + g0 + group_rows - 1, j0, cols);
      if (reach <= 0) continue;
      const int64_t vecs = round_up16(reach) / kLanes;
      float* sg = s + g0 * kKTile;
      cpu::tile_gemm<false>(group_rows, vecs * kLanes, D, qbase + g0 * q.stride[1], q.stride[1], 1, kt, kKTile, sg,
                            kKTile);
      for (int64_t r = g0; r < g0 + group_rows; ++r) {
        float* srow = s + r * kKTile;
        const float visible = static_cast<float>(p.visible_in_tile(i0 + r, j0, cols));
        Vec vmax = simd::splat(kNegInf);
        for (int64_t c = 0; c < vecs; ++c) {
          const Vec idx = simd::lane_index() + static_cast<float>(c * kLanes);
          const Vec x = idx < visible ? simd::load(srow + c * kLanes) * scale : simd::splat(kNegInf);
          simd::store(srow + c * kLanes, x);
          vmax = simd::max(vmax, x);
        }
        const float m_old = row_max[r];
        const float m_new = std::max(m_old, simd::reduce_max(vmax));
        if (m_new == kNegInf) {  // no visible key yet (never after the first tile): P row is 0
          std::fill(srow, srow + reach, 0.0f);
          continue;
        }
        const Vec m = simd::splat(m_new);
        Vec vsum = Vec{};
        for (int64_t c = 0; c < vecs; ++c) {
          const Vec e = simd::exp(simd::load(srow + c * kLanes) - m);
          simd::store(srow + c * kLanes, e);
          vsum += e;
        }
        const float correction = std::exp(m_old - m_new);
        row_sum[r] = row_sum[r] * correction + simd::reduce_sum(vsum);
        row_max[r] = m_new;
        if (correction != 1.0f) {
          const Vec cv = simd::splat(correction);
          float* arow = acc + r * D;
          for (int64_t d = 0; d < D; d += kLanes) simd::store(arow + d, simd::load(arow + d) * cv);
        }
      }
      cpu::tile_gemm<true>(group_rows, D, reach, sg, kKTile, 1, vbase + j0 * v.stride[1], v.stride[1], acc + g0 * D, D);
    }
  }
  float* lse_row = lse + (b * p.H + h) * p.Tq + i0;
  for (int64_t r = 0; r < rows; ++r) {
    const float l = row_sum[r];
    const Vec inv = simd::splat(1.0f / l);
    float* orow = at(out, b, i0 + r, h);
    for (int64_t d = 0; d < D; d += kLanes) simd::store(orow + d, simd::load(acc + r * D + d) * inv);
    lse_row[r] = row_max[r] + std::log(l);
  }
}

// delta_i = sum_d dO_id * O_id for the rows of one query tile.
void row_deltas(const Problem& p, const ConstView4& out, const ConstView4& dout, int64_t b, int64_t h,
                int64_t i0, int64_t rows, float* delta) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* o = at(out, b, i0 + r, h);
    const float* g = at(dout, b, i0 + r, h);
    Vec acc = Vec{};
    for (int64_t d = 0; d < p.D; d += kLanes) acc += simd::load(o + d) * simd::load(g + d);
    delta[r] = simd::reduce_sum(acc);
  }
}

// dQ for one (b, h, query tile) (the second pass of the two-pass backward).
void dq_tile(const Problem& p, const ConstView4& q, const ConstView4& k, const ConstView4& v, const ConstView4& out,
             const float* lse, const ConstView4& dout, View4 dq, int64_t b, int64_t h, int64_t qt) {
  const int64_t D = p.D;
  const int64_t i0 = qt * kQTile;
  const int64_t rows = std::min(kQTile, p.Tq - i0);
  const int64_t kvh = h / p.group;
  float* kt = thread_scratch(dq_scratch_floats(D));  // K^T tile [D][Bc]
  float* vt = kt + D * kKTile;                        // V^T tile [D][Bc]
  float* s = vt + D * kKTile;                         // S -> P -> scale * dS [Br][Bc]
  float* dp = s + kQTile * kKTile;                    // dP [Br][Bc]
  float* acc = dp + kQTile * kKTile;                  // dQ [Br][D]
  float* delta = acc + kQTile * D;                    // [Br]
  std::fill(acc, acc + rows * D, 0.0f);
  row_deltas(p, out, dout, b, h, i0, rows, delta);
  const float* lse_row = lse + (b * p.H + h) * p.Tq + i0;

  const float* qbase = at(q, b, i0, h);
  const float* dobase = at(dout, b, i0, h);
  const float* kbase = at(k, b, 0, kvh);
  const float* vbase = at(v, b, 0, kvh);
  const int64_t key_end = p.key_end(b, i0, rows);
  const Vec scale = simd::splat(p.scale);
  for (int64_t j0 = 0; j0 < key_end; j0 += kKTile) {
    const int64_t cols = std::min(kKTile, key_end - j0);
    pack_transposed(kbase + j0 * k.stride[1], k.stride[1], cols, D, kt, kKTile);
    pack_transposed(vbase + j0 * v.stride[1], v.stride[1], cols, D, vt, kKTile);
    for (int64_t g0 = 0; g0 < rows; g0 += p.row_group()) {
      const int64_t group_rows = std::min(p.row_group(), rows - g0);
      const int64_t reach = p.visible_in_tile(i0 + g0 + group_rows - 1, j0, cols);
      if (reach <= 0) continue;
      const int64_t vecs = round_up16(reach) / kLanes;
      cpu::tile_gemm<false>(group_rows, vecs * kLanes, D, qbase + g0 * q.stride[1], q.stride[1], 1, kt, kKTile,
                            s + g0 * kKTile, kKTile);
      cpu::tile_gemm<false>(group_rows, vecs * kLanes, D, dobase + g0 * dout.stride[1], dout.stride[1], 1, vt, kKTile,
                            dp + g0 * kKTile, kKTile);
      for (int64_t r = g0; r < g0 + group_rows; ++r) {
        const float visible = static_cast<float>(p.visible_in_tile(i0 + r, j0, cols));
        const Vec l = simd::splat(lse_row[r]);
        const Vec dl = simd::splat(delta[r]);
        float* srow = s + r * kKTile;
        const float* dprow = dp + r * kKTile;
        for (int64_t c = 0; c < vecs; ++c) {
          const Vec idx = simd::lane_index() + static_cast<float>(c * kLanes);
          const Vec e = simd::exp(simd::load(srow + c * kLanes) * scale - l);
          const Vec prob = idx < visible ? e : Vec{};
          simd::store(srow + c * kLanes, scale * prob * (simd::load(dprow + c * kLanes) - dl));
        }
      }
      cpu::tile_gemm<true>(group_rows, D, reach, s + g0 * kKTile, kKTile, 1, kbase + j0 * k.stride[1], k.stride[1],
                           acc + g0 * D, D);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* g = at(dq, b, i0 + r, h);
    for (int64_t d = 0; d < D; d += kLanes) simd::store(g + d, simd::load(acc + r * D + d));
  }
}

// dK and dV for one (b, kv head, key tile), summed over the group's query heads and query tiles.
// With fused_dq, also adds this key tile's share of dQ into dq (which the caller owns and zeroed):
// the single-pass backward. Without it, dq_tile computes dQ in a second pass.
void dkdv_tile(const Problem& p, const ConstView4& q, const ConstView4& k, const ConstView4& v, const ConstView4& out,
               const float* lse, const ConstView4& dout, View4 dk, View4 dv, const View4* fused_dq, int64_t b,
               int64_t kvh, int64_t kt_index) {
  const int64_t D = p.D;
  const int64_t j0 = kt_index * kKTile;
  const int64_t tile_rows = std::min(kKTile, p.Tk - j0);                            // rows of dK/dV written
  const int64_t rows = std::max<int64_t>(0, std::min(tile_rows, p.keys(b) - j0));  // unmasked keys
  float* qt = thread_scratch(dkdv_scratch_floats(D));  // Q^T tile [D][Br]
  float* dot = qt + D * kQTile;                         // dO^T tile [D][Br]
  float* st = dot + D * kQTile;                         // S^T -> P^T [Bc][Br]
  float* dpt = st + kKTile * kQTile;                    // dP^T -> scale * dS^T [Bc][Br]
  float* dk_acc = dpt + kKTile * kQTile;                // [Bc][D]
  float* dv_acc = dk_acc + kKTile * D;                  // [Bc][D]
  float* delta = dv_acc + kKTile * D;                   // [Br]
  float* lse_tile = delta + kQTile;                     // [Br]
  std::fill(dk_acc, dk_acc + tile_rows * D, 0.0f);
  std::fill(dv_acc, dv_acc + tile_rows * D, 0.0f);

  const float* kbase = at(k, b, j0, kvh);
  const float* vbase = at(v, b, j0, kvh);
  const Vec scale = simd::splat(p.scale);
  // First query that sees key j0 under the causal mask: i + offset >= j0.
  const int64_t first_query = p.causal ? std::max<int64_t>(0, j0 - p.causal_offset) : 0;
  for (int64_t g = 0; g < p.group && rows > 0; ++g) {
    const int64_t h = kvh * p.group + g;
    for (int64_t i0 = first_query / kQTile * kQTile; i0 < p.Tq; i0 += kQTile) {
      const int64_t qrows = std::min(kQTile, p.Tq - i0);
      const int64_t qvecs = round_up16(qrows) / kLanes;
      const float* qbase = at(q, b, i0, h);
      const float* dobase = at(dout, b, i0, h);
      pack_transposed(qbase, q.stride[1], qrows, D, qt, kQTile);
      pack_transposed(dobase, dout.stride[1], qrows, D, dot, kQTile);
      row_deltas(p, out, dout, b, h, i0, qrows, delta);
      const float* lse_row = lse + (b * p.H + h) * p.Tq + i0;
      std::copy(lse_row, lse_row + qrows, lse_tile);
      std::fill(lse_tile + qrows, lse_tile + qvecs * kLanes, 0.0f);
      std::fill(delta + qrows, delta + qvecs * kLanes, 0.0f);
      for (int64_t g0 = 0; g0 < rows; g0 += p.row_group()) {
        const int64_t group_rows = std::min(p.row_group(), rows - g0);
        // Query lanes [first_lane(r), qrows) see key j0 + r; the group's first key sees the most.
        const auto first_lane = [&](int64_t r) { return p.causal ? j0 + r - p.causal_offset - i0 : int64_t{0}; };
        const int64_t lo = std::max<int64_t>(0, first_lane(g0)) / kLanes * kLanes;
        if (lo >= qrows) continue;
        const int64_t width = qvecs * kLanes - lo;
        float* stg = st + g0 * kQTile + lo;
        float* dptg = dpt + g0 * kQTile + lo;
        cpu::tile_gemm<false>(group_rows, width, D, kbase + g0 * k.stride[1], k.stride[1], 1, qt + lo, kQTile, stg, kQTile);
        cpu::tile_gemm<false>(group_rows, width, D, vbase + g0 * v.stride[1], v.stride[1], 1, dot + lo, kQTile, dptg,
                              kQTile);
        for (int64_t r = g0; r < g0 + group_rows; ++r) {
          const float first = static_cast<float>(first_lane(r));
          const float last = static_cast<float>(qrows);
          float* strow = st + r * kQTile;
          float* dprow = dpt + r * kQTile;
          for (int64_t c = lo; c < qvecs * kLanes; c += kLanes) {
            const Vec idx = simd::lane_index() + static_cast<float>(c);
            const Vec e = simd::exp(simd::load(strow + c) * scale - simd::load(lse_tile + c));
            const Vec prob = (idx >= first) & (idx < last) ? e : Vec{};
            simd::store(strow + c, prob);
            simd::store(dprow + c, scale * prob * (simd::load(dprow + c) - simd::load(delta + c)));
          }
        }
        const int64_t span = qrows - lo;  // queries [lo, qrows) contribute
        cpu::tile_gemm<true>(group_rows, D, span, stg, kQTile, 1, dobase + lo * dout.stride[1], dout.stride[1],
                             dv_acc + g0 * D, D);
        cpu::tile_gemm<true>(group_rows, D, span, dptg, kQTile, 1, qbase + lo * q.stride[1], q.stride[1],
                             dk_acc + g0 * D, D);
        if (fused_dq)  // dQ[i] += sum_r scale dS^T[r][i] K[r]
          cpu::tile_gemm<true>(span, D, group_rows, dptg, 1, kQTile, kbase + g0 * k.stride[1], k.stride[1],
                               at(*fused_dq, b, i0 + lo, h), fused_dq->stride[1]);
      }
    }
  }
  for (int64_t r = 0; r < tile_rows; ++r) {
    float* gk = at(dk, b, j0 + r, kvh);
    float* gv = at(dv, b, j0 + r, kvh);
    for (int64_t d = 0; d < D; d += kLanes) {
      simd::store(gk + d, simd::load(dk_acc + r * D + d));
      simd::store(gv + d, simd::load(dv_acc + r * D + d));
    }
  }
}

InvalidArgument range_error(const std::string& message) {
  return InvalidArgument(InvalidArgument::Kind::Range, message);
}

void check_views(std::initializer_list<std::pair<const char*, int64_t>> inner_strides) {
  for (const auto& [name, stride] : inner_strides)
    if (stride != 1)
      throw range_error(std::string(name) + ": the last (head-size) dimension must be contiguous (stride 1), got stride " +
                        std::to_string(stride));
}

}  // namespace

void validate_attention(const AttentionShape& s, const AttentionOptions& o) {
  const std::pair<const char*, int64_t> dims[] = {{"batch size B", s.batch},     {"query length Tq", s.q_len},
                                                  {"key length Tk", s.kv_len},   {"heads H", s.heads},
                                                  {"key/value heads Hkv", s.kv_heads}, {"head size D", s.head_dim}};
  for (const auto& [name, value] : dims)
    if (value < 1) throw range_error(std::string(name) + " must be >= 1, got " + std::to_string(value));
  if (s.heads % s.kv_heads != 0)
    throw range_error("heads H (" + std::to_string(s.heads) + ") must be a multiple of key/value heads Hkv (" +
                      std::to_string(s.kv_heads) + ")");
  if (s.head_dim % 16 != 0 || s.head_dim > 256)
    throw range_error("head size D must be a multiple of 16 between 16 and 256, got " + std::to_string(s.head_dim));
  if (o.causal && s.kv_len < s.q_len)
    throw range_error("causal attention needs key length Tk (" + std::to_string(s.kv_len) +
                      ") >= query length Tq (" + std::to_string(s.q_len) + ")");
  if (!std::isfinite(o.scale))
    throw range_error("scale must be a finite number, got " + std::to_string(o.scale));
  if (o.kv_lengths)
    for (int64_t b = 0; b < s.batch; ++b)
      if (o.kv_lengths[b] < 1 || o.kv_lengths[b] > s.kv_len)
        throw range_error("kvLengths[" + std::to_string(b) + "] must be in [1, " + std::to_string(s.kv_len) +
                          "], got " + std::to_string(o.kv_lengths[b]));
}

size_t attention_forward_workspace_bytes(const AttentionShape& s, int threads) {
  return static_cast<size_t>(threads) * forward_scratch_floats(s.head_dim) * sizeof(float);
}

size_t attention_backward_workspace_bytes(const AttentionShape& s, int threads) {
  return static_cast<size_t>(threads) *
         std::max(dq_scratch_floats(s.head_dim), dkdv_scratch_floats(s.head_dim)) * sizeof(float);
}

void attention_forward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                       const AttentionOptions& options, View4 out, float* lse) {
  validate_attention(shape, options);
  check_views({{"q", q.stride[3]}, {"k", k.stride[3]}, {"v", v.stride[3]}, {"out", out.stride[3]}});
  const Problem p(shape, options);
  const int64_t tiles = p.query_tiles();
  const int64_t heads = p.B * p.H;
  // Longest tiles (the last ones under a causal mask) first, for a balanced finish.
  parallel::for_each(tiles * heads, [&](int64_t item, int) {
    const int64_t qt = tiles - 1 - item / heads;
    const int64_t bh = item % heads;
    forward_tile(p, q, k, v, out, lse, bh / p.H, bh % p.H, qt);
  });
}

void attention_backward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                        ConstView4 out, const float* lse, ConstView4 dout,
                        const AttentionOptions& options, View4 dq, View4 dk, View4 dv) {
  validate_attention(shape, options);
  check_views({{"q", q.stride[3]}, {"k", k.stride[3]}, {"v", v.stride[3]}, {"out", out.stride[3]},
               {"dOut", dout.stride[3]}, {"dq", dq.stride[3]}, {"dk", dk.stride[3]}, {"dv", dv.stride[3]}});
  const Problem p(shape, options);
  const int64_t key_tiles = p.key_tiles();
  const int64_t kv_heads = p.B * p.Hkv;
  const int threads = parallel::threads();
  if (kv_heads % threads == 0 || kv_heads >= 4 * threads) {
    // Single pass: one item per (b, kv head) owns dK, dV and the dQ of its query heads.
    parallel::for_each(kv_heads, [&](int64_t item, int) {
      const int64_t b = item / p.Hkv, kvh = item % p.Hkv;
      for (int64_t h = kvh * p.group; h < (kvh + 1) * p.group; ++h)
        for (int64_t i = 0; i < p.Tq; ++i) std::fill_n(at(dq, b, i, h), p.D, 0.0f);
      for (int64_t kt = 0; kt < key_tiles; ++kt) dkdv_tile(p, q, k, v, out, lse, dout, dk, dv, &dq, b, kvh, kt);
    });
    return;
  }
  // Too few (b, kv head) pairs to keep the threads busy: two passes over finer items, recomputing P.
  // Under a causal mask the first key tiles see the most queries: hand them out first.
  parallel::for_each(key_tiles * kv_heads, [&](int64_t item, int) {
    const int64_t kt = item / kv_heads;
    const int64_t bh = item % kv_heads;
    dkdv_tile(p, q, k, v, out, lse, dout, dk, dv, nullptr, bh / p.Hkv, bh % p.Hkv, kt);
  });
  const int64_t query_tiles = p.query_tiles();
  const int64_t heads = p.B * p.H;
  parallel::for_each(query_tiles * heads, [&](int64_t item, int) {
    const int64_t qt = query_tiles - 1 - item / heads;
    const int64_t bh = item % heads;
    dq_tile(p, q, k, v, out, lse, dout, dq, bh / p.H, bh % p.H, qt);
  });
}

}  // namespace w2s
