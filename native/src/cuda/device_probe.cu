// Asks the CUDA runtime for a device (compiled only where nvcc was found).
#include <cuda_runtime.h>

#include <string>

#include "device_probe.h"

namespace w2s::cuda {

DeviceProbe probe_device() {
  DeviceProbe probe;
  probe.compiled = true;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    const std::string detail = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    if (status == cudaErrorInsufficientDriver)
      probe.reason = "no NVIDIA driver, or one older than this CUDA runtime needs (" + detail + ")";
    else if (status == cudaErrorNoDevice)
      probe.reason = "no CUDA-capable GPU found (" + detail + ")";
    else
      probe.reason = "the CUDA runtime could not list devices (" + detail + ")";
    cudaGetLastError();
    return probe;
  }
  if (count == 0) {
    probe.reason = "CUDA runtime found no device";
    return probe;
  }
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, 0) == cudaSuccess) probe.device = props.name;
  if (props.major < 8) {
    probe.reason = "GPU 0 (" + probe.device + ") has compute capability " + std::to_string(props.major) + "." +
                   std::to_string(props.minor) + "; the CUDA kernels need 8.0 or newer (bf16/TF32 tensor cores)";
    probe.device.clear();
    return probe;
  }
  probe.available = true;
  return probe;
}

}  // namespace w2s::cuda
