// The kernels' thread pool. One pool per process, sized by w2s::set_num_threads (default: all
// cores). The calling thread takes part in the work, so a pool of n threads starts n - 1 workers.
#pragma once

#include <cstdint>
#include <functional>

namespace w2s::parallel {

// Runs fn(item, worker) for every item in [0, n), handing items out in increasing order to
// whichever thread is free. worker is in [0, threads()) and identifies per-thread scratch.
// The first exception thrown by fn is rethrown here after all threads stop; the remaining items
// are skipped. Nested calls (from inside fn) run serially on the calling thread.
void for_each(int64_t n, const std::function<void(int64_t item, int worker)>& fn);

// Splits [0, n) into contiguous ranges of at least `grain` items (about four per thread) and calls
// fn(begin, end, worker) for each, in parallel as for_each does.
void for_ranges(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end, int worker)>& fn);

// Threads that for_each uses from here (the caller included): the pool's size, or 1 when called
// from inside a for_each item, where nested calls run serially.
int threads();

// Resizes the pool (n >= 1); waits for a running for_each to finish first.
void set_threads(int n);

// The pool's time accounting, for the engine's profiler. Off by default, and then no clock is
// read. While on, every parallel region (a for_each or for_ranges from outside the pool) adds its
// wall time, that time × the pool's threads, and the time the threads spent running its items;
// nested calls are part of their item's time. The difference is thread-time the pool held idle:
// threads waiting at the region's end for the last items, or waking late. Time outside regions
// (serial code, and the matrix products on 1 thread, which need none) is not seen here; on more
// threads the products run in regions (src/cpu/gemm.cpp).
struct Profile {
  int64_t regions = 0;
  double region_seconds = 0.0;         // Σ wall time of the regions
  double region_thread_seconds = 0.0;  // Σ wall time × threads
  double busy_seconds = 0.0;           // Σ time the threads spent running items
};
// on: resets the counters and starts counting; off: stops counting (the counters stay readable).
void set_profiling(bool on);
Profile profile();

}  // namespace w2s::parallel
