// Built instead of device_probe.cu where nvcc was not found at configure time.
#include "device_probe.h"

namespace w2s::cuda {

DeviceProbe probe_device() {
  DeviceProbe probe;
  probe.reason = "built without CUDA: nvcc was not found when the addon was configured";
  return probe;
}

}  // namespace w2s::cuda
