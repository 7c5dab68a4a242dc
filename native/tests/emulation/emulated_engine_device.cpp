// src/cuda/engine_device.cu compiled for the tests' CPU emulation of CUDA (see cuda_runtime.h here).
#include "../../src/cuda/engine_device.cu"
