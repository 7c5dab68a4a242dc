// A CPU emulation of the parts of the CUDA execution model and runtime API that src/cuda uses, so
// that the tests can run the CUDA kernels' own source on a machine without a GPU (the CUDA tests
// linked against it: ctest cuda_*_emulated). It shadows the real <cuda_runtime.h> (this folder comes
// first on the include path) and is used only with W2S_CUDA_EMULATION.
//
// A launch runs its blocks one after another; each CUDA thread of a block is an OS thread, with
// __syncthreads a barrier of the block's threads and the warp shuffles exchanges through a
// per-warp barrier, so a kernel that indexes, masks or synchronises wrongly fails here as it would
// on a GPU. __shared__ variables are function statics (blocks never overlap), dynamic shared memory
// is one 128-byte-aligned buffer per launch, poisoned with NaN bytes before each block. Device
// memory is host memory. What this cannot show: timing, the hardware's own WMMA fragment layouts
// (emulated exactly, see mma.h), memory-model races between blocks that a GPU runs concurrently.
#pragma once

#include <math.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
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

struct Warp {
  std::barrier<> barrier{32};
  double slots[32];
};

struct Block {
  explicit Block(unsigned int threads) : barrier(threads), warps(threads / 32) {}
  std::barrier<> barrier;
  std::vector<Warp> warps;
};

inline thread_local Block* current_block = nullptr;
inline thread_local unsigned char* current_shared = nullptr;

inline unsigned char* dynamic_shared() { return current_shared; }
inline Warp& warp() { return current_block->warps[threadIdx.x / 32]; }
inline void sync_warp() { warp().barrier.arrive_and_wait(); }

// The OS threads of blocks of one size, created once and reused by every launch (creating 256
// threads per launch would dominate the tests' time). Never destroyed: they wait at exit.
class ThreadPool {
 public:
  explicit ThreadPool(unsigned int threads) : start_(threads + 1), done_(threads + 1) {
    for (unsigned int t = 0; t < threads; ++t)
      std::thread([this, t] {
        for (;;) {
          start_.arrive_and_wait();
          job_(t);
          done_.arrive_and_wait();
        }
      }).detach();
  }
  // Runs job(t) on every thread t and returns when all are done.
  void run(const std::function<void(unsigned int)>& job) {
    job_ = job;
    start_.arrive_and_wait();
    done_.arrive_and_wait();
  }
  static ThreadPool& of_size(unsigned int threads) {
    static std::mutex mutex;
    static std::map<unsigned int, ThreadPool*> pools;
    std::lock_guard<std::mutex> lock(mutex);
    ThreadPool*& pool = pools[threads];
    if (!pool) pool = new ThreadPool(threads);
    return *pool;
  }

 private:
  std::barrier<> start_, done_;
  std::function<void(unsigned int)> job_;
};

template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 blocks, dim3 threads, size_t shared_bytes, const Args&... args) {
  if (threads.y != 1 || threads.z != 1 || threads.x % 32 != 0 || threads.x > 1024)
    fault("blocks must be 1-D with a multiple of 32 threads, at most 1024");
  if (blocks.y != 1 || blocks.z != 1) fault("grids must be 1-D");
  if (shared_bytes > 232448) fault("dynamic shared memory " + std::to_string(shared_bytes) + " > 232448 bytes");
  std::unique_ptr<unsigned char[]> shared_storage(new unsigned char[shared_bytes + 128]);
  unsigned char* shared = shared_storage.get() + (128 - reinterpret_cast<uintptr_t>(shared_storage.get()) % 128);
  Block block(threads.x);
  ThreadPool::of_size(threads.x).run([&](unsigned int t) {
    current_block = &block;
    current_shared = shared;
    threadIdx = dim3(t);
    blockDim = threads;
    gridDim = blocks;
    for (unsigned int b = 0; b < blocks.x; ++b) {
      if (t == 0) std::memset(shared, 0xFF, shared_bytes);  // uninitialised shared memory shows as NaN
      block.barrier.arrive_and_wait();
      blockIdx = dim3(b);
      kernel(args...);
      block.barrier.arrive_and_wait();
    }
  });
}

}  // namespace w2s_emulation

inline void __syncthreads() { w2s_emulation::current_block->barrier.arrive_and_wait(); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <typename T>
T __shfl_xor_sync(unsigned int, T value, int lane_mask) {
  static_assert(sizeof(T) <= sizeof(double), "shuffle of a value wider than 8 bytes");
  auto& w = w2s_emulation::warp();
  const unsigned int lane = threadIdx.x % 32;
  std::memcpy(&w.slots[lane], &value, sizeof(T));
  w.barrier.arrive_and_wait();
  T result;
  std::memcpy(&result, &w.slots[(lane ^ static_cast<unsigned int>(lane_mask)) % 32], sizeof(T));
  w.barrier.arrive_and_wait();
  return result;
}

template <typename T>
T __shfl_down_sync(unsigned int, T value, unsigned int delta) {
  auto& w = w2s_emulation::warp();
  const unsigned int lane = threadIdx.x % 32;
  std::memcpy(&w.slots[lane], &value, sizeof(T));
  w.barrier.arrive_and_wait();
  T result = value;
  if (lane + delta < 32) std::memcpy(&result, &w.slots[lane + delta], sizeof(T));
  w.barrier.arrive_and_wait();
  return result;
}

inline unsigned int atomicAdd(unsigned int* p, unsigned int v) { return std::atomic_ref<unsigned int>(*p).fetch_add(v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*p).fetch_add(v);
}
inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) {
  std::atomic_ref<unsigned long long> a(*p);
  unsigned long long old = a.load();
  while (old < v && !a.compare_exchange_weak(old, v)) {
  }
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
inline cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) {
  *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <typename T>
cudaError_t cudaMallocAsync(T** p, size_t bytes, cudaStream_t stream) {
  return cudaMallocAsync(reinterpret_cast<void**>(p), bytes, stream);
}
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
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
