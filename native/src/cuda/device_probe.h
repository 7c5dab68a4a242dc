// Whether CUDA was compiled in and a usable device is present, and if not, why.
#pragma once

#include <string>

namespace w2s::cuda {

struct DeviceProbe {
  bool compiled = false;
  bool available = false;
  std::string reason;  // empty when available
  std::string device;  // name of device 0 when available
};

DeviceProbe probe_device();

}  // namespace w2s::cuda
