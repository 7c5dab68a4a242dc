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

// Threads that for_each uses (the caller included).
int threads();

// Resizes the pool (n >= 1); waits for a running for_each to finish first.
void set_threads(int n);

}  // namespace w2s::parallel
