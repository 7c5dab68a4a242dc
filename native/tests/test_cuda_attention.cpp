// CUDA attention against the CPU kernel (itself checked against float64 in test_attention): forward
// (out, lse) and backward (dq, dk, dv) on fresh random inputs of the CPU test's shapes and a few
// larger ones, in every precision with its tolerance (float32 1e-4, TF32 3e-3, bf16 2e-2, relative
// to the largest reference entry, or 1e-2 where that is smaller), outputs poisoned with NaN beforehand and checked finite; q, k, v
// as strided views of one fused [B, T, 3, H, D] device buffer where the shapes allow; bad arguments
// rejected with the CPU's messages. Without a usable GPU: "skipped: no CUDA device", exit 77.

#include "check.h"
#include "cuda_check.h"
#include "w2s/cuda.h"
#include "w2s/kernels.h"

namespace {

using w2s::cuda::Precision;
using w2s_test::relative_error;

struct Case {
  int64_t B, Tq, Tk, H, Hkv, D;
  bool causal;
  bool padded;
  bool fused;          // q, k, v as views of one [B, T, 3, H, D] buffer (needs Tq == Tk, H == Hkv)
  float scale = 0.0f;  // 0: the default 1/sqrt(D)
};

const float* readonly(const w2s::cuda::DeviceBuffer& b) { return b.floats(); }

double tolerance(Precision p) { return p == Precision::Float32 ? 1e-4 : p == Precision::TF32 ? 3e-3 : 2e-2; }

// The relative errors' denominator is at least the tensor's natural scale: 1e-2 for out and the
// gradients (where a reference gradient is zero in exact arithmetic — one visible key: P = 1,
// dS = 0 — float32 rounding leaves noise of ~1e-7 in both), 1 for lse, whose scores are O(1)
// (a single small lse, one query over one key, would otherwise hold bf16 to a relative error of
// its rounding of q·k against a value near 0).
constexpr double kScaleFloor = 1e-2, kLseFloor = 1.0;

void run_case(const Case& c, Precision precision, std::mt19937_64& rng) {
  char label[200];
  std::snprintf(label, sizeof label, "%-7s B=%ld Tq=%ld Tk=%ld H=%ld Hkv=%ld D=%ld causal=%d padded=%d fused=%d%s",
                w2s::cuda::precision_name(precision), (long)c.B, (long)c.Tq, (long)c.Tk, (long)c.H, (long)c.Hkv,
                (long)c.D, c.causal, c.padded, c.fused, c.scale != 0.0f ? " scale=0.25" : "");
  const int64_t q_size = c.B * c.Tq * c.H * c.D, kv_size = c.B * c.Tk * c.Hkv * c.D, lse_size = c.B * c.H * c.Tq;
  const auto q = w2s_test::random_floats(rng, q_size, -2.0f, 2.0f);
  auto k = w2s_test::random_floats(rng, kv_size, -2.0f, 2.0f);
  auto v = w2s_test::random_floats(rng, kv_size);
  const auto dout = w2s_test::random_floats(rng, q_size);

  std::vector<int32_t> lengths;
  if (c.padded) {
    std::uniform_int_distribution<int32_t> len(1, static_cast<int32_t>(c.Tk));
    for (int64_t b = 0; b < c.B; ++b) lengths.push_back(b == 0 ? static_cast<int32_t>(c.Tk) : len(rng));
    // Padding holds NaN: neither kernel may read it (0 * NaN would spread it).
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t j = lengths[b]; j < c.Tk; ++j)
        for (int64_t i = 0; i < c.Hkv * c.D; ++i)
          k[(b * c.Tk + j) * c.Hkv * c.D + i] = v[(b * c.Tk + j) * c.Hkv * c.D + i] = std::numeric_limits<float>::quiet_NaN();
  }
  const w2s::AttentionShape shape{c.B, c.Tq, c.Tk, c.H, c.Hkv, c.D};
  w2s::AttentionOptions opts;
  opts.causal = c.causal;
  opts.scale = c.scale;
  opts.kv_lengths = c.padded ? lengths.data() : nullptr;

  // The CPU reference on contiguous host arrays.
  std::vector<float> ref_out(q_size), ref_lse(lse_size), ref_dq(q_size), ref_dk(kv_size), ref_dv(kv_size);
  const auto cview = [](const std::vector<float>& d, int64_t T, int64_t H, int64_t D) {
    return w2s::contiguous_view(d.data(), T, H, D);
  };
  const auto mview = [](std::vector<float>& d, int64_t T, int64_t H, int64_t D) {
    return w2s::contiguous_view(d.data(), T, H, D);
  };
  w2s::attention_forward(shape, cview(q, c.Tq, c.H, c.D), cview(k, c.Tk, c.Hkv, c.D), cview(v, c.Tk, c.Hkv, c.D), opts,
                         mview(ref_out, c.Tq, c.H, c.D), ref_lse.data());
  w2s::attention_backward(shape, cview(q, c.Tq, c.H, c.D), cview(k, c.Tk, c.Hkv, c.D), cview(v, c.Tk, c.Hkv, c.D),
                          cview(ref_out, c.Tq, c.H, c.D), ref_lse.data(), cview(dout, c.Tq, c.H, c.D), opts,
                          mview(ref_dq, c.Tq, c.H, c.D), mview(ref_dk, c.Tk, c.Hkv, c.D),
                          mview(ref_dv, c.Tk, c.Hkv, c.D));

  // The same on the device: inputs contiguous or one fused buffer.
  std::vector<w2s::cuda::DeviceBuffer> inputs;
  w2s::ConstView4 qv, kv, vv;
  if (c.fused) {
    inputs.push_back(w2s_test::upload(w2s_test::fuse_qkv(q, k, v, c.B, c.Tq, c.H, c.D)));
    qv = w2s_test::fused_view(inputs[0].floats(), c.Tq, c.H, c.D, 0);
    kv = w2s_test::fused_view(inputs[0].floats(), c.Tq, c.H, c.D, 1);
    vv = w2s_test::fused_view(inputs[0].floats(), c.Tq, c.H, c.D, 2);
  } else {
    inputs.push_back(w2s_test::upload(q));
    inputs.push_back(w2s_test::upload(k));
    inputs.push_back(w2s_test::upload(v));
    qv = w2s::contiguous_view(readonly(inputs[0]), c.Tq, c.H, c.D);
    kv = w2s::contiguous_view(readonly(inputs[1]), c.Tk, c.Hkv, c.D);
    vv = w2s::contiguous_view(readonly(inputs[2]), c.Tk, c.Hkv, c.D);
  }
  auto out = w2s_test::poisoned(q_size), lse = w2s_test::poisoned(lse_size);
  w2s::cuda::attention_forward(shape, qv, kv, vv, opts, precision, w2s::contiguous_view(out.floats(), c.Tq, c.H, c.D),
                               lse.floats());
  const auto dout_device = w2s_test::upload(dout);
  auto dq = w2s_test::poisoned(q_size), dk = w2s_test::poisoned(kv_size), dv = w2s_test::poisoned(kv_size);
  w2s::cuda::attention_backward(shape, qv, kv, vv, w2s::contiguous_view(readonly(out), c.Tq, c.H, c.D), lse.floats(),
                                w2s::contiguous_view(readonly(dout_device), c.Tq, c.H, c.D), opts, precision,
                                w2s::contiguous_view(dq.floats(), c.Tq, c.H, c.D),
                                w2s::contiguous_view(dk.floats(), c.Tk, c.Hkv, c.D),
                                w2s::contiguous_view(dv.floats(), c.Tk, c.Hkv, c.D));
  w2s::cuda::synchronize("attention test");

  const double tol = tolerance(precision);
  const struct {
    const char* name;
    std::vector<float> got;
    const std::vector<float>& want;
    double floor;
  } results[] = {{"out", w2s_test::download(out, q_size), ref_out, kScaleFloor},
                 {"lse", w2s_test::download(lse, lse_size), ref_lse, kLseFloor},
                 {"dq", w2s_test::download(dq, q_size), ref_dq, kScaleFloor},
                 {"dk", w2s_test::download(dk, kv_size), ref_dk, kScaleFloor},
                 {"dv", w2s_test::download(dv, kv_size), ref_dv, kScaleFloor}};
  std::string line;
  for (const auto& r : results) {
    CHECK(w2s_test::all_finite(r.got), "%s: %s has NaN or Inf (an element left unwritten?)", label, r.name);
    const double e = relative_error(r.got, r.want, r.floor);
    CHECK(e <= tol, "%s: %s relative error %.3g > %.0e", label, r.name, e, tol);
    char part[32];
    std::snprintf(part, sizeof part, " %s %.1e", r.name, e);
    line += part;
  }
  std::printf("  %-90s%s\n", label, line.c_str());
}

void check_bad_arguments() {
  w2s::cuda::DeviceBuffer buffer(sizeof(float) * 4096), lse(sizeof(float) * 64);
  w2s::ConstView4 view;
  view.data = buffer.floats();
  view.stride[0] = 256;
  view.stride[1] = 32;
  view.stride[2] = 16;
  w2s::View4 out;
  out.data = buffer.floats();
  out.stride[0] = 256;
  out.stride[1] = 32;
  out.stride[2] = 16;
  const auto forward = [&](w2s::AttentionShape s, w2s::AttentionOptions o) {
    return [&, s, o] { w2s::cuda::attention_forward(s, view, view, view, o, Precision::Float32, out, lse.floats()); };
  };
  using E = w2s::InvalidArgument;
  w2s_test::expect_throw<E>("H % Hkv", forward({1, 8, 8, 3, 2, 16}, {}), "multiple of key/value heads");
  w2s_test::expect_throw<E>("D = 24", forward({1, 8, 8, 2, 2, 24}, {}), "head size D must be a multiple of 16");
  w2s_test::expect_throw<E>("D = 512", forward({1, 8, 8, 2, 2, 512}, {}), "head size D");
  w2s_test::expect_throw<E>("B = 0", forward({0, 8, 8, 2, 2, 16}, {}), "batch size B must be >= 1");
  w2s::AttentionOptions causal;
  causal.causal = true;
  w2s_test::expect_throw<E>("causal Tk < Tq", forward({1, 8, 4, 2, 2, 16}, causal), "Tk (4) >= query length Tq (8)");
  const int32_t bad_lengths[1] = {9};
  w2s::AttentionOptions padded;
  padded.kv_lengths = bad_lengths;
  w2s_test::expect_throw<E>("kv length > Tk", forward({1, 8, 8, 2, 2, 16}, padded), "kvLengths[0] must be in [1, 8]");
  w2s::ConstView4 strided = view;
  strided.stride[3] = 2;
  w2s_test::expect_throw<E>(
      "non-contiguous D",
      [&] {
        w2s::cuda::attention_forward({1, 8, 8, 2, 2, 16}, strided, view, view, {}, Precision::BF16, out, lse.floats());
      },
      "q: the last (head-size) dimension must be contiguous");
  w2s::cuda::synchronize("bad arguments");  // nothing was launched, and nothing faulted
}

}  // namespace

int main() {
  w2s_test::require_cuda_or_skip("cuda_attention");
  std::mt19937_64 rng(w2s_test::test_seed());
  std::vector<Case> cases = {
      {1, 1, 1, 1, 1, 16, false, false, false},      // T = 1
      {1, 1, 1, 2, 1, 16, true, false, false},       // T = 1, causal, GQA
      {2, 7, 7, 2, 2, 32, false, false, true},       // odd T, fused QKV views
      {2, 7, 7, 2, 2, 32, true, false, true},
      {2, 65, 65, 4, 2, 64, true, false, false},     // T just past a tile, GQA
      {1, 100, 100, 4, 1, 128, false, true, false},  // multi-query, padded
      {3, 130, 130, 2, 2, 16, true, true, true},     // T not a multiple of the tile, causal + padded
      {2, 33, 97, 4, 2, 64, true, false, false},     // Tq < Tk, causal bottom-right
      {2, 50, 80, 2, 1, 48, false, true, false},     // D = 48, Tq != Tk, padded
      {1, 200, 200, 2, 2, 128, true, false, true},
      {1, 64, 64, 2, 2, 256, false, false, false},   // largest D
      {2, 70, 70, 4, 4, 64, true, true, true},
      {2, 70, 70, 4, 2, 64, true, true, false},
      {2, 5, 7, 4, 2, 16, true, true, false, 0.25f},  // the CPU test's explicit scale, causal + padded
      {1, 40, 40, 2, 2, 64, false, false, true, 0.25f},
  };
  if (!w2s_test::small_only()) {
    cases.push_back({2, 333, 333, 8, 2, 64, true, true, false});   // many tiles, GQA 4
    cases.push_back({1, 257, 513, 4, 4, 96, false, true, false});  // D = 96 in the 128 class
    cases.push_back({2, 512, 512, 4, 4, 128, true, false, true});
    cases.push_back({1, 300, 300, 2, 1, 208, true, true, false});  // D = 208 in the 256 class
  }
  for (Precision precision : {Precision::Float32, Precision::TF32, Precision::BF16})
    for (const auto& c : cases) run_case(c, precision, rng);
  check_bad_arguments();
  return w2s_test::finish("cuda_attention");
}
