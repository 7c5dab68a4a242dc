// Reductions shared by the CUDA kernels.
#pragma once

namespace w2s::cuda {

// Sum over a block of WARPS warps in a fixed order (a shuffle tree per warp, then the warps in
// order), so the same inputs give the same value every run; the result is valid in thread 0.
// Every thread of the block calls it.
template <int WARPS>
__device__ __forceinline__ double block_sum(double value) {
  __shared__ double warp_sums[WARPS];
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = value;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0)
    for (int w = 0; w < WARPS; ++w) total += warp_sums[w];
  __syncthreads();
  return total;
}

}  // namespace w2s::cuda
