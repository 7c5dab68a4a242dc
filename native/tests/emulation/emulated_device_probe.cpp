// src/cuda/device_probe.cu compiled for the tests' CPU emulation of CUDA (see cuda_runtime.h here).
#include "../../src/cuda/device_probe.cu"
