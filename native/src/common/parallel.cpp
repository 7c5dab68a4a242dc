#include "parallel.h"

#ifdef __linux__
#include <sched.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace w2s::parallel {
namespace {

thread_local bool in_parallel_region = false;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Profiling (parallel.h): the switch is read without a lock; the counters change under run_mutex,
// which every region holds.
std::atomic<bool> profiling_on{false};
Profile& counters() {
  static Profile p;
  return p;
}

class Pool {
 public:
  explicit Pool(int threads) : threads_(threads) {
    for (int w = 1; w < threads_; ++w) workers_.emplace_back([this, w] { worker_loop(w); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int threads() const { return threads_; }

  // Returns the seconds the threads spent running items when `timed` (else 0).
  double run(int64_t n, const std::function<void(int64_t, int)>& fn, bool timed) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      timed_ = timed;
      busy_seconds_ = 0.0;
      job_ = &fn;
      job_items_ = n;
      next_item_.store(0);
      failed_.store(false);
      error_ = nullptr;
      busy_workers_ = threads_ - 1;
      ++generation_;
    }
    wake_.notify_all();
    const double own = work(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return busy_workers_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return busy_seconds_ + own;
  }

 private:
  // Runs items until none is left; returns the seconds that took when the job is timed (else 0).
  double work(int worker) {
    const bool timed = timed_;  // set with the job, before the generation the workers waited for
    const Clock::time_point start = timed ? Clock::now() : Clock::time_point{};
    in_parallel_region = true;
    for (;;) {
      if (failed_.load(std::memory_order_relaxed)) break;
      const int64_t item = next_item_.fetch_add(1);
      if (item >= job_items_) break;
      try {
        (*job_)(item, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true);
      }
    }
    in_parallel_region = false;
    return timed ? seconds_since(start) : 0.0;
  }

  void worker_loop(int worker) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      const double busy = work(worker);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        busy_seconds_ += busy;
        --busy_workers_;
      }
      done_.notify_one();
    }
  }

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  bool stopping_ = false;
  uint64_t generation_ = 0;
  int busy_workers_ = 0;
  bool timed_ = false;         // the job's threads time themselves (profiling)
  double busy_seconds_ = 0.0;  // the workers' time running the job's items, when timed
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t job_items_ = 0;
  std::atomic<int64_t> next_item_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

// One job at a time: callers from several threads (Node worker threads) queue here.
std::mutex& run_mutex() {
  static std::mutex m;
  return m;
}

std::unique_ptr<Pool>& pool() {
  static std::unique_ptr<Pool> p;
  return p;
}

// The cores this process may run on (its affinity mask, which honours cpusets), else all cores.
int default_threads() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

Pool& current_pool() {
  auto& p = pool();
  if (!p) p = std::make_unique<Pool>(default_threads());
  return *p;
}

}  // namespace

void for_each(int64_t n, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  if (in_parallel_region) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  std::lock_guard<std::mutex> lock(run_mutex());
  Pool& p = current_pool();
  const bool timed = profiling_on.load(std::memory_order_relaxed);
  const Clock::time_point start = timed ? Clock::now() : Clock::time_point{};
  double busy = 0.0;
  if (p.threads() == 1 || n == 1) {
    in_parallel_region = true;
    try {
      for (int64_t i = 0; i < n; ++i) fn(i, 0);
    } catch (...) {
      in_parallel_region = false;
      throw;
    }
    in_parallel_region = false;
    if (timed) busy = seconds_since(start);
  } else {
    busy = p.run(n, fn, timed);
  }
  if (!timed) return;
  const double wall = seconds_since(start);
  Profile& c = counters();
  ++c.regions;
  c.region_seconds += wall;
  c.region_thread_seconds += wall * p.threads();
  c.busy_seconds += busy;
}

void for_ranges(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  const int64_t per_thread = 4 * static_cast<int64_t>(threads());
  const int64_t chunk = std::max<int64_t>(std::max<int64_t>(grain, 1), (n + per_thread - 1) / per_thread);
  const int64_t chunks = (n + chunk - 1) / chunk;
  for_each(chunks, [&](int64_t c, int worker) { fn(c * chunk, std::min(n, (c + 1) * chunk), worker); });
}

int threads() {
  // Inside a region a call runs serially (and the region holds run_mutex): one thread.
  if (in_parallel_region) return 1;
  std::lock_guard<std::mutex> lock(run_mutex());
  return current_pool().threads();
}

void set_threads(int n) {
  std::lock_guard<std::mutex> lock(run_mutex());
  auto& p = pool();
  if (p && p->threads() == n) return;
  p.reset();
  p = std::make_unique<Pool>(n);
}

void set_profiling(bool on) {
  std::lock_guard<std::mutex> lock(run_mutex());
  if (on) counters() = Profile{};
  profiling_on.store(on);
}

Profile profile() {
  std::lock_guard<std::mutex> lock(run_mutex());
  return counters();
}

}  // namespace w2s::parallel
