// Helpers of the CUDA tests: skipping without a GPU, and moving test data to and from the device.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "w2s/cuda.h"

namespace w2s_test {

// ctest's SKIP_RETURN_CODE for the CUDA tests.
constexpr int kSkipped = 77;

// Exits with kSkipped (after saying why) unless a CUDA device can be used.
inline void require_cuda_or_skip(const char* name) {
  if (!w2s::cuda::available()) {
    std::printf("%s: skipped: no CUDA device (%s)\n", name, w2s::cuda::unavailable_reason().c_str());
    std::exit(kSkipped);
  }
  std::printf("%s: on %s\n", name, w2s::cuda::device_description().c_str());
}

// W2S_CUDA_TEST_SMALL=1: only the small shapes (for compute-sanitizer, which is slow).
inline bool small_only() {
  const char* v = std::getenv("W2S_CUDA_TEST_SMALL");
  return v != nullptr && v[0] != '\0' && v[0] != '0';
}

template <typename T>
w2s::cuda::DeviceBuffer upload(const std::vector<T>& host) {
  w2s::cuda::DeviceBuffer buffer(sizeof(T) * host.size());
  w2s::cuda::copy_to_device(buffer.data(), host.data(), sizeof(T) * host.size());
  return buffer;
}

// A device buffer of n floats filled with NaN (0xFF bytes), so that anything a kernel leaves
// unwritten shows.
inline w2s::cuda::DeviceBuffer poisoned(size_t n) {
  w2s::cuda::DeviceBuffer buffer(sizeof(float) * n);
  w2s::cuda::fill_bytes(buffer.data(), 0xFF, sizeof(float) * n);
  return buffer;
}

inline std::vector<float> download(const w2s::cuda::DeviceBuffer& buffer, size_t n) {
  std::vector<float> host(n);
  w2s::cuda::copy_to_host(host.data(), buffer.data(), sizeof(float) * n);
  return host;
}

inline bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace w2s_test
