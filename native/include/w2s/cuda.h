// The CUDA half of the kernel library: the kernels of kernels.h on NVIDIA GPUs, with the same
// contracts, and the device memory they work on. No Node.js here either.
//
// Conventions (as kernels.h, plus)
// - Every tensor pointer and view given to a function in this namespace is device memory (from
//   DeviceBuffer); host arrays are only the small per-call arguments (kv_lengths, names).
// - Work runs in order on the legacy default stream. The attention functions return as soon as
//   their kernels are queued; the losses wait, because they return the loss value.
// - Every CUDA call and every launch is checked: a failure throws CudaError naming the kernel (or
//   call) and the CUDA error. A fault inside a running kernel is reported by the next checked call;
//   with W2S_CUDA_SYNC=1 in the environment every launch is followed by a synchronisation, so the
//   kernel that faulted is the one named. A fault such as an illegal address leaves the CUDA context
//   unusable: every later call fails too (the process must be restarted).
// - Without CUDA (not compiled, no driver, no device) every function that needs the GPU throws
//   Unavailable, whose message says why (the same text as backend_info().cuda_reason).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "w2s/kernels.h"

namespace w2s::cuda {

// A CUDA call or kernel launch failed: "<kernel or call>: <cudaErrorName>: <description>".
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// CUDA cannot be used here; the message gives the reason.
class Unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether a CUDA device can be used (probed once), and if not, why.
bool available();
std::string unavailable_reason();

// Device memory, freed (stream-ordered) when the buffer is destroyed. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);  // throws Unavailable, or CudaError when out of memory
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  float* floats() const { return static_cast<float*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Copies (ordered after the work already queued; they return when the copy is done).
void copy_to_device(void* device_dst, const void* host_src, size_t bytes);
void copy_to_host(void* host_dst, const void* device_src, size_t bytes);
void copy_on_device(void* device_dst, const void* device_src, size_t bytes);  // queued, returns at once
// Sets every byte (0xFF poisons float32 buffers with NaN). Queued.
void fill_bytes(void* device_dst, unsigned char value, size_t bytes);
// Waits for all queued work; a fault in it throws CudaError naming `what`.
void synchronize(const char* what = "synchronize");

// The name of device 0 and its compute capability, e.g. "NVIDIA H200 (sm_90)".
std::string device_description();

// ---------------------------------------------------------------------------------------------
// Fused attention: the contract of kernels.h (layouts [B, T, H, D] with element strides, D
// contiguous; GQA; bottom-right causal; kv_lengths; lse [B, H, Tq] in natural log), float32 in and
// out. options.kv_lengths stays a host array (B entries, validated on the host, then uploaded).
// Precision selects the arithmetic of the two matrix products inside the kernel:
//   Float32  float32 FMAs on the CUDA cores (the reference accuracy, relative error ~1e-6)
//   TF32     tensor cores on operands rounded to TF32 (10-bit mantissa), float32 accumulation
//   BF16     tensor cores on operands rounded to bfloat16 (8-bit mantissa), float32 accumulation
// Softmax statistics, lse, and the backward pass's accumulators are float32 in every mode.
enum class Precision { Float32, TF32, BF16 };
inline const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::Float32: return "float32";
    case Precision::TF32: return "tf32";
    case Precision::BF16: return "bf16";
  }
  return "unknown";
}

void attention_forward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                       const AttentionOptions& options, Precision precision, View4 out, float* lse);

// dq, dk, dv are written (not accumulated). dq is summed across key tiles with float32 atomics,
// so its last bits can differ from run to run; dk and dv are deterministic.
void attention_backward(const AttentionShape& shape, ConstView4 q, ConstView4 k, ConstView4 v,
                        ConstView4 out, const float* lse, ConstView4 dout, const AttentionOptions& options,
                        Precision precision, View4 dq, View4 dk, View4 dv);

// ---------------------------------------------------------------------------------------------
// The weak-to-strong losses: the contracts of kernels.h (z, y, dz [N, C] row-major device arrays;
// the mean loss is returned, dz written; NaN/Inf throw NonFiniteInput and targets that are not
// distributions throw InvalidArgument, naming the first bad element as the CPU kernels do). The
// loss is summed in float64 in a fixed order: the same inputs give the same value every run.
// Launches: one for xent, product and multi-class logconf; four for binary logconf (the quantile
// is found on the device by a three-level radix selection of the logit margins).
double xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz,
                      const char* targets_name = "targets");
double logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz,
                     const char* targets_name = "targets");
double product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta, float* dz,
                    const char* targets_name = "targets");

}  // namespace w2s::cuda
