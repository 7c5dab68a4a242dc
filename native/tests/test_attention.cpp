// Fused attention (CPU) against the float64 reference: forward (out, lse) and backward (dq, dk, dv)
// on fresh random inputs of awkward shapes, outputs poisoned with NaN beforehand; q, k, v read as
// strided views of one fused [B, T, 3, H, D] buffer where the shapes allow; the reference's own
// gradient checked by finite differences; bad arguments rejected.

#include "check.h"
#include "reference.h"
#include "w2s/kernels.h"

namespace {

using w2s_test::relative_error;

struct Case {
  int64_t B, Tq, Tk, H, Hkv, D;
  bool causal;
  bool padded;
  bool fused;  // q, k, v as views of one [B, T, 3, H, D] buffer (needs Tq == Tk, H == Hkv)
};

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

void run_case(const Case& c, std::mt19937_64& rng) {
  char label[160];
  std::snprintf(label, sizeof label, "B=%ld Tq=%ld Tk=%ld H=%ld Hkv=%ld D=%ld causal=%d padded=%d fused=%d", (long)c.B,
                (long)c.Tq, (long)c.Tk, (long)c.H, (long)c.Hkv, (long)c.D, c.causal, c.padded, c.fused);
  const int64_t q_size = c.B * c.Tq * c.H * c.D, kv_size = c.B * c.Tk * c.Hkv * c.D;
  const auto q = w2s_test::random_floats(rng, q_size, -2.0f, 2.0f);
  const auto k = w2s_test::random_floats(rng, kv_size, -2.0f, 2.0f);
  const auto v = w2s_test::random_floats(rng, kv_size);
  const auto dout = w2s_test::random_floats(rng, q_size);

  w2s_reference::Attention ref{c.B, c.Tq, c.Tk, c.H, c.Hkv, c.D, c.causal, 1.0 / std::sqrt(double(c.D)), {}};
  std::vector<int32_t> lengths;
  if (c.padded) {
    std::uniform_int_distribution<int32_t> len(1, static_cast<int32_t>(c.Tk));
    for (int64_t b = 0; b < c.B; ++b) lengths.push_back(b == 0 ? static_cast<int32_t>(c.Tk) : len(rng));
    ref.lengths = lengths;
  }

  w2s::AttentionShape shape{c.B, c.Tq, c.Tk, c.H, c.Hkv, c.D};
  w2s::AttentionOptions opts;
  opts.causal = c.causal;
  opts.kv_lengths = c.padded ? lengths.data() : nullptr;

  // Inputs: contiguous, or one fused QKV buffer with views into it.
  std::vector<float> fused;
  w2s::ConstView4 qv, kv, vv;
  const auto contiguous = [](const std::vector<float>& data, int64_t T, int64_t H, int64_t D) {
    return w2s::contiguous_view(data.data(), T, H, D);
  };
  if (c.fused) {
    fused = w2s_test::fuse_qkv(q, k, v, c.B, c.Tq, c.H, c.D);
    qv = w2s_test::fused_view(fused.data(), c.Tq, c.H, c.D, 0);
    kv = w2s_test::fused_view(fused.data(), c.Tq, c.H, c.D, 1);
    vv = w2s_test::fused_view(fused.data(), c.Tq, c.H, c.D, 2);
  } else {
    qv = contiguous(q, c.Tq, c.H, c.D);
    kv = contiguous(k, c.Tk, c.Hkv, c.D);
    vv = contiguous(v, c.Tk, c.Hkv, c.D);
  }

  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> out(q_size, nan), lse(c.B * c.H * c.Tq, nan);
  w2s::attention_forward(shape, qv, kv, vv, opts, w2s::contiguous_view(out.data(), c.Tq, c.H, c.D), lse.data());

  std::vector<double> ref_out, ref_lse;
  ref.forward(to_double(q), to_double(k), to_double(v), ref_out, ref_lse);
  const double e_out = relative_error(out, ref_out), e_lse = relative_error(lse, ref_lse);
  CHECK(e_out <= 1e-4, "%s: forward out relative error %.3g", label, e_out);
  CHECK(e_lse <= 1e-4, "%s: forward lse relative error %.3g", label, e_lse);

  std::vector<float> dq(q_size, nan), dk(kv_size, nan), dv(kv_size, nan);
  const auto out_view = [](std::vector<float>& data, int64_t T, int64_t H, int64_t D) {
    return w2s::contiguous_view(data.data(), T, H, D);
  };
  w2s::attention_backward(shape, qv, kv, vv, contiguous(out, c.Tq, c.H, c.D), lse.data(),
                          contiguous(dout, c.Tq, c.H, c.D), opts, out_view(dq, c.Tq, c.H, c.D),
                          out_view(dk, c.Tk, c.Hkv, c.D), out_view(dv, c.Tk, c.Hkv, c.D));
  std::vector<double> rdq, rdk, rdv;
  ref.backward(to_double(q), to_double(k), to_double(v), to_double(dout), rdq, rdk, rdv);
  const double e_dq = relative_error(dq, rdq), e_dk = relative_error(dk, rdk), e_dv = relative_error(dv, rdv);
  CHECK(e_dq <= 1e-4, "%s: dq relative error %.3g", label, e_dq);
  CHECK(e_dk <= 1e-4, "%s: dk relative error %.3g", label, e_dk);
  CHECK(e_dv <= 1e-4, "%s: dv relative error %.3g", label, e_dv);
  std::printf("  %-72s out %.1e lse %.1e dq %.1e dk %.1e dv %.1e\n", label, e_out, e_lse, e_dq, e_dk, e_dv);
}

// The reference backward against central differences of the reference forward (L = sum O * G).
void check_reference_gradient(std::mt19937_64& rng) {
  w2s_reference::Attention ref{2, 5, 7, 4, 2, 16, true, 0.25, {7, 4}};
  auto q = to_double(w2s_test::random_floats(rng, 2 * 5 * 4 * 16));
  auto k = to_double(w2s_test::random_floats(rng, 2 * 7 * 2 * 16));
  auto v = to_double(w2s_test::random_floats(rng, 2 * 7 * 2 * 16));
  const auto g = to_double(w2s_test::random_floats(rng, 2 * 5 * 4 * 16));
  std::vector<double> dq, dk, dv;
  ref.backward(q, k, v, g, dq, dk, dv);
  const auto loss = [&] {
    std::vector<double> out, lse;
    ref.forward(q, k, v, out, lse);
    double s = 0.0;
    for (size_t i = 0; i < out.size(); ++i) s += out[i] * g[i];
    return s;
  };
  const auto check = [&](std::vector<double>& x, const std::vector<double>& grad, const char* name) {
    std::vector<double> numeric(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const double saved = x[i], h = 1e-6;
      x[i] = saved + h;
      const double up = loss();
      x[i] = saved - h;
      const double down = loss();
      x[i] = saved;
      numeric[i] = (up - down) / (2 * h);
    }
    const double e = relative_error(grad, numeric);
    CHECK(e <= 1e-6, "reference %s vs finite differences: relative error %.3g", name, e);
  };
  check(q, dq, "dq");
  check(k, dk, "dk");
  check(v, dv, "dv");
}

void check_bad_arguments() {
  std::vector<float> buf(4096, 0.0f), lse(64);
  w2s::ConstView4 view;
  view.data = buf.data();
  view.stride[0] = 256;
  view.stride[1] = 32;
  view.stride[2] = 16;
  w2s::View4 out;
  out.data = buf.data();
  out.stride[0] = 256;
  out.stride[1] = 32;
  out.stride[2] = 16;
  const auto forward = [&](w2s::AttentionShape s, w2s::AttentionOptions o) {
    return [&, s, o] { w2s::attention_forward(s, view, view, view, o, out, lse.data()); };
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
      [&] { w2s::attention_forward({1, 8, 8, 2, 2, 16}, strided, view, view, {}, out, lse.data()); },
      "q: the last (head-size) dimension must be contiguous");
}

}  // namespace

int main() {
  std::mt19937_64 rng(w2s_test::test_seed());
  const Case cases[] = {
      {1, 1, 1, 1, 1, 16, false, false, false},    // T = 1
      {1, 1, 1, 2, 1, 16, true, false, false},     // T = 1, causal, GQA
      {2, 7, 7, 2, 2, 32, false, false, true},     // odd T, fused QKV views
      {2, 7, 7, 2, 2, 32, true, false, true},
      {2, 65, 65, 4, 2, 64, true, false, false},   // T just past a tile, GQA
      {1, 100, 100, 4, 1, 128, false, true, false},  // multi-query, padded
      {3, 130, 130, 2, 2, 16, true, true, true},   // T not a multiple of the tile, causal + padded
      {2, 33, 97, 4, 2, 64, true, false, false},   // Tq < Tk, causal bottom-right
      {2, 50, 80, 2, 1, 48, false, true, false},   // D = 48, Tq != Tk, padded
      {1, 200, 200, 2, 2, 128, true, false, true},
      {1, 64, 64, 2, 2, 256, false, false, false},  // largest D
  };
  for (const auto& c : cases) run_case(c, rng);
  for (int threads : {1, 3}) {  // thread counts other than the default
    w2s::set_num_threads(threads);
    run_case({2, 70, 70, 4, 4, 64, true, true, true}, rng);
    run_case({2, 70, 70, 4, 2, 64, true, true, false}, rng);
  }
  check_reference_gradient(rng);
  check_bad_arguments();
  return w2s_test::finish("attention");
}
