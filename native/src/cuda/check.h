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
