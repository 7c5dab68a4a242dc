// src/cuda/attention.cu compiled for the tests' CPU emulation of CUDA (see cuda_runtime.h here).
#include "../../src/cuda/attention.cu"
