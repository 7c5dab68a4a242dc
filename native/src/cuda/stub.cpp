// Built instead of the CUDA sources where nvcc was not found at configure time: the probe says so,
// and every function of w2s/cuda.h that needs the GPU throws Unavailable with that reason.
#include <string>

#include "../engine/device.h"
#include "device_probe.h"
#include "w2s/cuda.h"

namespace w2s::cuda {
namespace {

const char* const kReason = "built without CUDA: nvcc was not found when the addon was configured";

[[noreturn]] void unavailable() { throw Unavailable(std::string("CUDA is unavailable: ") + kReason); }

}  // namespace

DeviceProbe probe_device() {
  DeviceProbe probe;
  probe.reason = kReason;
  return probe;
}

bool available() { return false; }
std::string unavailable_reason() { return kReason; }

DeviceBuffer::DeviceBuffer(size_t) { unavailable(); }
DeviceBuffer::~DeviceBuffer() = default;
DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept : data_(other.data_), bytes_(other.bytes_) {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&&) noexcept { return *this; }

void copy_to_device(void*, const void*, size_t) { unavailable(); }
void copy_to_host(void*, const void*, size_t) { unavailable(); }
void copy_on_device(void*, const void*, size_t) { unavailable(); }
void fill_bytes(void*, unsigned char, size_t) { unavailable(); }
void synchronize(const char*) { unavailable(); }
std::string device_description() { unavailable(); }

void attention_forward(const AttentionShape&, ConstView4, ConstView4, ConstView4, const AttentionOptions&, Precision,
                       View4, float*) {
  unavailable();
}
void attention_backward(const AttentionShape&, ConstView4, ConstView4, ConstView4, ConstView4, const float*,
                        ConstView4, const AttentionOptions&, Precision, View4, View4, View4) {
  unavailable();
}
double xent_loss(const float*, const float*, int64_t, int64_t, float*, const char*) { unavailable(); }
double logconf_loss(const float*, const float*, int64_t, int64_t, float, float*, const char*) { unavailable(); }
double product_loss(const float*, const float*, int64_t, int64_t, float, float, float*, const char*) { unavailable(); }

}  // namespace w2s::cuda

namespace w2s::engine {

std::unique_ptr<Device> make_cuda_device(cuda::Precision) { cuda::unavailable(); }

}  // namespace w2s::engine
