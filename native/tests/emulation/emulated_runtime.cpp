// src/cuda/runtime.cpp compiled for the tests' CPU emulation of CUDA (see cuda_runtime.h here).
#include "../../src/cuda/runtime.cpp"
