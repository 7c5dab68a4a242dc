// Error checking for CUDA calls and kernel launches (used by every file of src/cuda that calls the
// runtime). A failure throws w2s::cuda::CudaError "<what>: <cudaErrorName>: <description>".
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "w2s/cuda.h"

namespace w2s::cuda {

[[noreturn]] void throw_cuda_error(const std::string& what, cudaError_t status);

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw_cuda_error(what, status);
}

// After a launch: a bad configuration is reported at once; with W2S_CUDA_SYNC=1 the kernel is also
// waited for, so that a fault inside it is reported under its own name.
void check_launch(const char* kernel);

// Throws Unavailable (with the reason) unless a device can be used.
void require_device();

}  // namespace w2s::cuda

// Kernel launches and the dynamic shared memory declaration go through these two macros, so that
// the tests' CPU emulation of the CUDA execution model (tests/emulation) can run the same source.
#ifdef W2S_CUDA_EMULATION
#define W2S_LAUNCH(kernel, blocks, threads, shared_bytes, ...) \
  ::w2s_emulation::launch(kernel, blocks, threads, shared_bytes, __VA_ARGS__)
#define W2S_DYNAMIC_SHARED(name) unsigned char* name = ::w2s_emulation::dynamic_shared()
#else
#define W2S_LAUNCH(kernel, blocks, threads, shared_bytes, ...) kernel<<<blocks, threads, shared_bytes>>>(__VA_ARGS__)
#define W2S_DYNAMIC_SHARED(name) extern __shared__ __align__(128) unsigned char name[]
#endif
