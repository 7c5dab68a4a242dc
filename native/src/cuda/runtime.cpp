// The CUDA runtime side of the library: the device probe's verdict, device memory, copies, and
// error checking. Compiled only where nvcc was found (stub.cpp stands in elsewhere).
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "check.h"
#include "device_probe.h"

namespace w2s::cuda {
namespace {

const DeviceProbe& probe() {
  static const DeviceProbe result = probe_device();
  return result;
}

bool sync_after_launch() {
  static const bool on = [] {
    const char* value = std::getenv("W2S_CUDA_SYNC");
    return value != nullptr && std::strcmp(value, "") != 0 && std::strcmp(value, "0") != 0;
  }();
  return on;
}

}  // namespace

void throw_cuda_error(const std::string& what, cudaError_t status) {
  const std::string message = what + ": " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status);
  if (status == cudaErrorMemoryAllocation)
    throw CudaError(message + " (free device tensors with dispose() sooner, or use smaller batches)");
  throw CudaError(message);
}

void check_launch(const char* kernel) {
  check(cudaGetLastError(), kernel);
  if (sync_after_launch()) check(cudaDeviceSynchronize(), kernel);
}

bool available() { return probe().available; }
std::string unavailable_reason() { return probe().reason; }

void require_device() {
  if (!available()) throw Unavailable("CUDA is unavailable: " + unavailable_reason());
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  require_device();
  if (bytes == 0) return;
  check(cudaMallocAsync(&data_, bytes, 0), ("cudaMallocAsync(" + std::to_string(bytes) + " bytes)").c_str());
}

DeviceBuffer::~DeviceBuffer() {
  // Stream-ordered: kernels already queued on the buffer finish first. Errors are ignored here (at
  // process exit the runtime may already be unloading).
  if (data_ != nullptr) cudaFreeAsync(data_, 0);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept : data_(other.data_), bytes_(other.bytes_) {
  other.data_ = nullptr;
  other.bytes_ = 0;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFreeAsync(data_, 0);
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void copy_to_device(void* device_dst, const void* host_src, size_t bytes) {
  require_device();
  check(cudaMemcpy(device_dst, host_src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (host to device)");
}

void copy_to_host(void* host_dst, const void* device_src, size_t bytes) {
  require_device();
  check(cudaMemcpy(host_dst, device_src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy (device to host)");
}

void copy_on_device(void* device_dst, const void* device_src, size_t bytes) {
  require_device();
  check(cudaMemcpyAsync(device_dst, device_src, bytes, cudaMemcpyDeviceToDevice, 0), "cudaMemcpyAsync (device to device)");
}

void fill_bytes(void* device_dst, unsigned char value, size_t bytes) {
  require_device();
  check(cudaMemsetAsync(device_dst, value, bytes, 0), "cudaMemsetAsync");
}

void synchronize(const char* what) {
  require_device();
  check(cudaDeviceSynchronize(), what);
}

std::string device_description() {
  require_device();
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, device), "cudaGetDeviceProperties");
  return std::string(props.name) + " (sm_" + std::to_string(props.major) + std::to_string(props.minor) + ")";
}

}  // namespace w2s::cuda
