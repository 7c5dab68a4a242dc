// A CPU emulation of the parts of the CUDA execution model and runtime API that src/cuda uses, so
// that the tests can run the CUDA kernels' own source on a machine without a GPU (the CUDA tests
// linked against it: ctest cuda_*_emulated). It shadows the real <cuda_runtime.h> (this folder comes
// first on the include path) and is used only with W2S_CUDA_EMULATION.
//
// A launch runs its blocks one after another; each CUDA thread of a block is a fiber (ucontext) on
// the launching thread, switched only at barriers: __syncthreads is a barrier of the block's
// threads, the warp shuffles and WMMA stores exchange through a per-warp barrier. A thread runs
// until it waits, so a kernel that reads what another thread has not yet written before a barrier
// gets stale data (shared memory is poisoned with NaN bytes before each block), and threads waiting
// at a barrier the others never reach are reported as a deadlock. __shared__ variables are function
// statics (blocks never overlap), dynamic shared memory one 128-byte-aligned buffer per launch, and
// device memory host memory. What this cannot show: timing, the hardware's own WMMA fragment layouts
// (emulated exactly, see mma.h), memory-model races between blocks that a GPU runs concurrently.
#pragma once

#include <math.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifndef W2S_CUDA_EMULATION
#error "tests/emulation is the CPU emulation of CUDA for the tests: compile with W2S_CUDA_EMULATION"
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }

inline thread_local dim3 threadIdx, blockIdx, gridDim, blockDim;

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

inline unsigned int __float_as_uint(float x) {
  unsigned int u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
inline float __uint_as_float(unsigned int u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

namespace w2s_emulation {

[[noreturn]] inline void fault(const std::string& what) {
  std::fprintf(stderr, "CUDA emulation: %s\n", what.c_str());
  std::abort();
}

// The threads of a block are fibers on the launching OS thread, switched at barriers.
struct Barrier {
  unsigned int count;
  unsigned int arrived = 0;
  unsigned long long generation = 0;
};

struct Fiber {
  ucontext_t context;
  char* stack = nullptr;
  bool finished = false;
  const Barrier* waiting = nullptr;  // blocked until its generation moves on
  unsigned long long wait_generation = 0;
  dim3 block{0};
};

struct Warp {
  Barrier barrier{32};
  double slots[32];
};

struct Block {
  Barrier barrier;
  std::vector<Warp> warps;
};

constexpr size_t kStackBytes = 256 * 1024;

struct Scheduler {
  ucontext_t main;
  std::vector<Fiber> fibers;
  std::vector<std::unique_ptr<char[]>> stacks;  // kept across launches
  unsigned int current = 0;
  Block* block = nullptr;
  unsigned char* shared = nullptr;
  std::function<void(unsigned int)> job;
};

inline Scheduler& scheduler() {
  static Scheduler s;
  return s;
}

inline unsigned char* dynamic_shared() { return scheduler().shared; }
inline Warp& warp() { return scheduler().block->warps[threadIdx.x / 32]; }

// Arrives at a barrier; the last to arrive releases the others and goes on, the others yield.
inline void arrive(Barrier& barrier) {
  Scheduler& s = scheduler();
  if (++barrier.arrived == barrier.count) {
    barrier.arrived = 0;
    ++barrier.generation;
    return;
  }
  Fiber& f = s.fibers[s.current];
  f.waiting = &barrier;
  f.wait_generation = barrier.generation;
  f.block = blockIdx;
  swapcontext(&f.context, &s.main);
}

inline void sync_warp() { arrive(warp().barrier); }

inline void fiber_entry() {
  Scheduler& s = scheduler();
  const unsigned int t = s.current;
  s.job(t);
  s.fibers[t].finished = true;  // returning resumes the scheduler (uc_link)
}

// Runs job(t) for t in [0, threads) as fibers until all return; a round in which no fiber can go
// on (threads waiting at barriers that the others never reach) is a deadlock, reported as a fault.
inline void run_fibers(unsigned int threads, const std::function<void(unsigned int)>& job) {
  Scheduler& s = scheduler();
  s.job = job;
  while (s.stacks.size() < threads) s.stacks.emplace_back(new char[kStackBytes]);
  s.fibers.assign(threads, Fiber{});
  for (unsigned int t = 0; t < threads; ++t) {
    Fiber& f = s.fibers[t];
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = s.stacks[t].get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &s.main;
    makecontext(&f.context, fiber_entry, 0);
  }
  for (;;) {
    bool all_finished = true, progress = false;
    for (unsigned int t = 0; t < threads; ++t) {
      Fiber& f = s.fibers[t];
      if (f.finished) continue;
      all_finished = false;
      if (f.waiting && f.waiting->generation == f.wait_generation) continue;
      f.waiting = nullptr;
      s.current = t;
      threadIdx = dim3(t);
      blockIdx = f.block;
      swapcontext(&s.main, &f.context);
      progress = true;
    }
    if (all_finished) return;
    if (!progress) fault("deadlock: threads wait at a barrier (__syncthreads or a warp collective) the others never reach");
  }
}

template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 blocks, dim3 threads, size_t shared_bytes, const Args&... args) {
  if (threads.y != 1 || threads.z != 1 || threads.x % 32 != 0 || threads.x > 1024)
    fault("blocks must be 1-D with a multiple of 32 threads, at most 1024");
  if (blocks.y != 1 || blocks.z != 1) fault("grids must be 1-D");
  if (shared_bytes > 232448) fault("dynamic shared memory " + std::to_string(shared_bytes) + " > 232448 bytes");
  std::unique_ptr<unsigned char[]> shared_storage(new unsigned char[shared_bytes + 128]);
  Scheduler& s = scheduler();
  s.shared = shared_storage.get() + (128 - reinterpret_cast<uintptr_t>(shared_storage.get()) % 128);
  Block block{Barrier{threads.x}, std::vector<Warp>(threads.x / 32)};
  s.block = &block;
  blockDim = threads;
  gridDim = blocks;
  run_fibers(threads.x, [&](unsigned int t) {
    for (unsigned int b = 0; b < blocks.x; ++b) {
      if (t == 0) std::memset(s.shared, 0xFF, shared_bytes);  // uninitialised shared memory shows as NaN
      arrive(block.barrier);
      blockIdx = dim3(b);
      kernel(args...);
      arrive(block.barrier);
    }
  });
}

}  // namespace w2s_emulation

inline void __syncthreads() { w2s_emulation::arrive(w2s_emulation::scheduler().block->barrier); }
inline void __threadfence() {}

template <typename T>
T __shfl_xor_sync(unsigned int, T value, int lane_mask) {
  static_assert(sizeof(T) <= sizeof(double), "shuffle of a value wider than 8 bytes");
  auto& w = w2s_emulation::warp();
  const unsigned int lane = threadIdx.x % 32;
  std::memcpy(&w.slots[lane], &value, sizeof(T));
  w2s_emulation::sync_warp();
  T result;
  std::memcpy(&result, &w.slots[(lane ^ static_cast<unsigned int>(lane_mask)) % 32], sizeof(T));
  w2s_emulation::sync_warp();
  return result;
}

template <typename T>
T __shfl_down_sync(unsigned int, T value, unsigned int delta) {
  auto& w = w2s_emulation::warp();
  const unsigned int lane = threadIdx.x % 32;
  std::memcpy(&w.slots[lane], &value, sizeof(T));
  w2s_emulation::sync_warp();
  T result = value;
  if (lane + delta < 32) std::memcpy(&result, &w.slots[lane + delta], sizeof(T));
  w2s_emulation::sync_warp();
  return result;
}

// One OS thread runs every fiber, so plain read-modify-writes are atomic here.
inline unsigned int atomicAdd(unsigned int* p, unsigned int v) {
  const unsigned int old = *p;
  *p = old + v;
  return old;
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p = old + v;
  return old;
}
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float atomicAdd(float* p, float v) {
  const float old = *p;
  *p = old + v;
  return old;
}
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  if (v > old) *p = v;
  return old;
}

// ---- the runtime API ----------------------------------------------------------------------------

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin };
using cudaStream_t = void*;

struct cudaDeviceProp {
  char name[256];
  int major;
  int minor;
};

inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
  }
  return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* props, int) {
  std::snprintf(props->name, sizeof props->name, "%s", "CPU emulation of a CUDA device (tests only)");
  props->major = 9;
  props->minor = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr, int) {
  *value = 232448;  // sm_90's opt-in shared memory per block
  return cudaSuccess;
}
template <typename Kernel>
cudaError_t cudaFuncSetAttribute(Kernel, cudaFuncAttribute, int value) {
  return value <= 232448 ? cudaSuccess : cudaErrorInvalidValue;
}
// Device memory has a capacity, as a GPU's does: W2S_EMULATED_DEVICE_MIB (default 4096), so that a
// test can tell memory given back from memory leaked.
struct EmulatedMemory {
  size_t capacity = 0, used = 0;
  std::map<void*, size_t> blocks;
  static EmulatedMemory& get() {
    static EmulatedMemory m = [] {
      EmulatedMemory e;
      const char* mib = std::getenv("W2S_EMULATED_DEVICE_MIB");
      e.capacity = static_cast<size_t>(mib ? std::strtoull(mib, nullptr, 10) : 4096) << 20;
      return e;
    }();
    return m;
  }
};
inline cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  const auto& m = EmulatedMemory::get();
  *total = m.capacity;
  *free = m.capacity - m.used;
  return cudaSuccess;
}
inline cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) {
  auto& m = EmulatedMemory::get();
  const size_t size = (bytes + 255) / 256 * 256;
  if (m.used + size > m.capacity) return cudaErrorMemoryAllocation;
  *p = std::aligned_alloc(256, size == 0 ? 256 : size);
  if (!*p) return cudaErrorMemoryAllocation;
  m.blocks[*p] = size;
  m.used += size;
  return cudaSuccess;
}
template <typename T>
cudaError_t cudaMallocAsync(T** p, size_t bytes, cudaStream_t stream) {
  return cudaMallocAsync(reinterpret_cast<void**>(p), bytes, stream);
}
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
  auto& m = EmulatedMemory::get();
  const auto it = m.blocks.find(p);
  if (it != m.blocks.end()) {
    m.used -= it->second;
    m.blocks.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
inline cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
  std::memset(dst, value, bytes);
  return cudaSuccess;
}
