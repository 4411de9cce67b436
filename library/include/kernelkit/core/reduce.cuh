// Block-wide reductions: every thread of the block gets the result. Warp butterflies (__shfl_xor_sync),
// then one shared-memory pass over the warp results, so the order of the additions -- and so the bits of a
// sum -- depend only on the block shape. `warp_sums` / `scratch` is 32 floats of __shared__ memory
// the caller owns, so one kernel can keep two reductions apart (see kTrailingBarrier).
#pragma once

#include <cuda_runtime.h>

namespace kernelkit {

// Sum over the block (every thread gets it) of a block of V * blockDim.x threads, each real thread t
// holding the partial sums of threads t, t + blockDim.x, ... (partials[k]): per warp a butterfly, then a
// butterfly over the warp sums, so the bits are those of block_sum in the V-times-larger block
// (families/rmsnorm_quant.cuh mirrors a 512-thread shape with 256 threads). kTrailingBarrier = false leaves out
// the barrier that lets the caller reuse warp_sums at once: for a caller whose next reduction has its own
// scratch, so that reduction's barrier orders the reuse.
template <int V, bool kTrailingBarrier = true>
__device__ __forceinline__ float block_sum_virtual(const float (&partials)[V], float* warp_sums) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    float value = partials[k];
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
    if (lane == 0) warp_sums[k * warps + warp] = value;
  }
  __syncthreads();
  float value = lane < V * warps ? warp_sums[lane] : 0.0f;
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  if constexpr (kTrailingBarrier) __syncthreads();  // warp_sums is reused by the next reduction
  return value;
}

__device__ __forceinline__ float block_sum(float value, float* warp_sums) {
  const float partials[1] = {value};
  return block_sum_virtual<1>(partials, warp_sums);
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Max over the block; `scratch` holds 32 floats. Every thread gets the result. kTrailingBarrier = false:
// as in block_sum_virtual, for a caller that orders the reuse of scratch itself.
template <bool kTrailingBarrier = true>
__device__ __forceinline__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = (blockDim.x + 31) / 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  v = warp_max(v);
  if constexpr (kTrailingBarrier) __syncthreads();  // scratch may be reused right after
  return v;
}

}  // namespace kernelkit
