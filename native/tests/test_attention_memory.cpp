// The attention kernels' scratch memory, measured: every heap allocation of this process goes
// through the counting operator new below, and the peak of live bytes during a forward and a
// backward call at T = 2048 must stay within attention_{forward,backward}_workspace_bytes (plus a
// little for the thread pool's own bookkeeping), far below one T × T matrix of floats (16 MiB
// here): the README's "scratch memory O(threads × tile), never a T × T matrix". The bound is
// checked at two sequence lengths and two thread counts, so that scratch growing with T would show.

#include <atomic>
#include <cstdlib>
#include <new>

#include "check.h"
#include "w2s/kernels.h"

namespace {

std::atomic<size_t> g_live{0};
std::atomic<size_t> g_peak{0};

// Each block carries its size in a header of 16 bytes (keeps malloc's 16-byte alignment).
constexpr size_t kHeader = 16;

void* counted_alloc(size_t n) {
  void* raw = std::malloc(n + kHeader);
  if (!raw) throw std::bad_alloc();
  *static_cast<size_t*>(raw) = n;
  const size_t live = g_live.fetch_add(n) + n;
  size_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
  return static_cast<char*>(raw) + kHeader;
}

void counted_free(void* p) noexcept {
  if (!p) return;
  void* raw = static_cast<char*>(p) - kHeader;
  g_live.fetch_sub(*static_cast<size_t*>(raw));
  std::free(raw);
}

}  // namespace

void* operator new(size_t n) { return counted_alloc(n); }
void* operator new[](size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, size_t) noexcept { counted_free(p); }
void operator delete[](void* p, size_t) noexcept { counted_free(p); }

namespace {

// The thread pool's tasks and synchronisation (not the kernels' scratch): a generous allowance.
constexpr size_t kPoolAllowance = 256 * 1024;

void check_length(int64_t T, std::mt19937_64& rng) {
  const int64_t B = 1, H = 4, D = 64;
  const w2s::AttentionShape shape{B, T, T, H, H, D};
  const size_t n = static_cast<size_t>(B * T * H * D);
  const auto q = w2s_test::random_floats(rng, n), k = w2s_test::random_floats(rng, n), v = w2s_test::random_floats(rng, n);
  const auto dout = w2s_test::random_floats(rng, n);
  std::vector<float> out(n), lse(static_cast<size_t>(B * H * T)), dq(n), dk(n), dv(n);
  w2s::AttentionOptions options;
  options.causal = true;
  const int threads = w2s::num_threads();
  const size_t square = static_cast<size_t>(T) * static_cast<size_t>(T) * sizeof(float);

  size_t base = g_live.load();
  g_peak.store(base);
  w2s::attention_forward(shape, w2s::contiguous_view(q.data(), T, H, D), w2s::contiguous_view(k.data(), T, H, D),
                         w2s::contiguous_view(v.data(), T, H, D), options, w2s::contiguous_view(out.data(), T, H, D), lse.data());
  const size_t forward_peak = g_peak.load() - base;
  const size_t forward_bound = w2s::attention_forward_workspace_bytes(shape, threads) + kPoolAllowance;
  CHECK(forward_peak <= forward_bound, "T=%ld forward: %zu bytes of scratch at the peak, over the bound %zu (%d threads)", (long)T,
        forward_peak, forward_bound, threads);
  CHECK(forward_peak < square, "T=%ld forward: %zu bytes at the peak, not below one T x T matrix (%zu)", (long)T, forward_peak, square);

  base = g_live.load();
  g_peak.store(base);
  w2s::attention_backward(shape, w2s::contiguous_view(q.data(), T, H, D), w2s::contiguous_view(k.data(), T, H, D),
                          w2s::contiguous_view(v.data(), T, H, D), w2s::contiguous_view(static_cast<const float*>(out.data()), T, H, D), lse.data(),
                          w2s::contiguous_view(dout.data(), T, H, D), options, w2s::contiguous_view(dq.data(), T, H, D),
                          w2s::contiguous_view(dk.data(), T, H, D), w2s::contiguous_view(dv.data(), T, H, D));
  const size_t backward_peak = g_peak.load() - base;
  const size_t backward_bound = w2s::attention_backward_workspace_bytes(shape, threads) + kPoolAllowance;
  CHECK(backward_peak <= backward_bound, "T=%ld backward: %zu bytes of scratch at the peak, over the bound %zu (%d threads)",
        (long)T, backward_peak, backward_bound, threads);
  CHECK(backward_peak < square, "T=%ld backward: %zu bytes at the peak, not below one T x T matrix (%zu)", (long)T, backward_peak,
        square);
  std::printf("T=%ld: peak scratch forward %zu bytes (bound %zu), backward %zu bytes (bound %zu); T x T would be %zu\n", (long)T,
              forward_peak, forward_bound, backward_peak, backward_bound, square);
}

}  // namespace

int main() {
  std::mt19937_64 rng(w2s_test::test_seed());
  // The counter sees every allocation: a sanity check that it counts.
  const size_t before = g_live.load();
  auto* probe = new std::vector<float>(1 << 20);
  CHECK(g_live.load() >= before + (4u << 20), "the counting operator new is in use");
  delete probe;
  // Longest first: the first call of each thread count allocates the threads' scratch afresh;
  // the shorter one after it must need no more.
  for (int threads : {2, 1}) {
    w2s::set_num_threads(threads);
    for (int64_t T : {2048, 256}) check_length(T, rng);
  }
  return w2s_test::finish("attention_memory");
}
