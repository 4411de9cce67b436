// Sum of a token's top-k expert outputs, [T, k, H] -> [T, H], in the three arithmetics sgl-kernel uses
// (moe_sum and moe_sum_reduce), bit for bit:
//   kRoundEachStep (moe_sum, k in {2, 3, 4}): sgl-kernel accumulates in the tensor's own type, so every
//     partial sum is rounded to T: acc = T(float(acc) + float(x_j)), from acc = 0, j = 0..k-1.
//   kTorchSum (moe_sum, any other k): sgl-kernel calls torch's sum over dim 1, whose CUDA reduction keeps
//     4 fp32 accumulators per output, x_j going to accumulator j % 4 (each starts at 0), combined as
//     ((a0 + a1) + a2) + a3 and rounded once (Reduce.cuh thread_reduce_impl; k < 64 is reduced by one
//     thread, so this order holds there). IEEE adds: torch is not built with fast math.
//   kScaled (moe_sum_reduce): acc = 0 + x_0 + ... + x_{k-1} in fp32, in order, times the fp32 scale,
//     rounded once.
// sgl-kernel's own kernels run its fast-math build on sm_90 (H100/H200), where fp32 adds and multiplies
// flush denormals (add/mul .ftz); elsewhere they are IEEE. add_sgl/mul_sgl issue the same per arch.
//
// Memory-bound: each input element read once, each output written once. A thread owns one VEC-wide
// 16-byte slice of one token's row: it issues the k loads of that slice before it adds (all in flight),
// then writes one vector. Blocks are 2-D: x along the row's vectors, y over tokens, so no index needs
// a division and short rows still fill the block.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"

namespace kernelkit {

enum class MoeSumMode : int { kRoundEachStep, kTorchSum, kScaled };

struct MoeSumArgs {
  void* out;
  int64_t out_token_stride;  // elements
  const void* in;
  int64_t in_token_stride;  // elements
  int64_t in_topk_stride;   // elements
  int64_t tokens;
  int64_t hidden;
  int topk;
  float scale;  // kScaled only
};

constexpr int kMoeSumThreads = 256;

// fp32 add / multiply as sgl-kernel's build for this arch computes them (ftz on sm_90).
__device__ __forceinline__ float add_sgl(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  float r;
  asm("add.rn.ftz.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
#else
  return __fadd_rn(a, b);
#endif
}

__device__ __forceinline__ float mul_sgl(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  float r;
  asm("mul.rn.ftz.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
#else
  return __fmul_rn(a, b);
#endif
}

// The k loads of one slice are issued in groups of 8 before their adds: k <= 8 is one round trip to memory.
// kTorchSum too: with 4 its k = 8 took two round trips and ran at 82-85% of a copy where kScaled, with 8,
// runs at 98-101%. Its 4 accumulators then cost 128 registers at VEC = 8 (was 96), the same 2 blocks of 256
// per SM (docs/perf-notes.md, moe_align_block_size section, moe_sum).
template <MoeSumMode MODE>
constexpr int moe_sum_load_group() {
  return 8;
}

template <typename T, int VEC, MoeSumMode MODE>
__global__ void __launch_bounds__(kMoeSumThreads) moe_sum_kernel(MoeSumArgs a) {
  pdl_wait_then_launch_dependents();
  const int64_t vecs_per_row = a.hidden / VEC;
  const int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (v >= vecs_per_row) return;
  const T* in = static_cast<const T*>(a.in) + v * VEC;
  T* out = static_cast<T*>(a.out) + v * VEC;
  const int64_t row_step = static_cast<int64_t>(gridDim.y) * blockDim.y;
  for (int64_t t = static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y; t < a.tokens; t += row_step) {
    const T* src = in + t * a.in_token_stride;
    // kTorchSum keeps torch's 4 accumulators; the other modes use acc[0] only.
    constexpr int NACC = MODE == MoeSumMode::kTorchSum ? 4 : 1;
    float acc[NACC][VEC];
#pragma unroll
    for (int s = 0; s < NACC; ++s) {
#pragma unroll
      for (int i = 0; i < VEC; ++i) acc[s][i] = 0.0f;
    }
    constexpr int G = moe_sum_load_group<MODE>();
    for (int j0 = 0; j0 < a.topk; j0 += G) {
      Vec<T, VEC> x[G];
#pragma unroll
      for (int g = 0; g < G; ++g) {
        if (j0 + g < a.topk) x[g] = Vec<T, VEC>::load(src + (j0 + g) * a.in_topk_stride);
      }
#pragma unroll
      for (int g = 0; g < G; ++g) {
        if (j0 + g >= a.topk) break;
#pragma unroll
        for (int i = 0; i < VEC; ++i) {
          const float xi = to_float(x[g][i]);
          if constexpr (MODE == MoeSumMode::kRoundEachStep) {
            acc[0][i] = to_float(from_float<T>(add_sgl(acc[0][i], xi)));
          } else if constexpr (MODE == MoeSumMode::kTorchSum) {
            acc[g % 4][i] = __fadd_rn(acc[g % 4][i], xi);  // j0 is a multiple of 8: x_j to accumulator j % 4
          } else {
            acc[0][i] = add_sgl(acc[0][i], xi);
          }
        }
      }
    }
    Vec<T, VEC> y;
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      float r = acc[0][i];
      if constexpr (MODE == MoeSumMode::kTorchSum) {
        r = __fadd_rn(__fadd_rn(__fadd_rn(acc[0][i], acc[1][i]), acc[2][i]), acc[3][i]);
      } else if constexpr (MODE == MoeSumMode::kScaled) {
        r = mul_sgl(r, a.scale);
      }
      y[i] = from_float<T>(r);
    }
    y.store(out + t * a.out_token_stride);
  }
}

// Launches moe_sum_kernel<T, VEC, MODE> over every (token, slice); VEC divides hidden and every stride,
// and keeps both pointers aligned (the caller picks it).
template <typename T, int VEC, MoeSumMode MODE>
cudaError_t launch_moe_sum_kernel(const MoeSumArgs& a, bool enable_pdl, cudaStream_t stream) {
  const int64_t vecs_per_row = a.hidden / VEC;
  int bx = 32;  // threads along the row: as many as it has vectors, in warps, at most the block
  while (bx < kMoeSumThreads && bx < vecs_per_row) bx *= 2;
  const int by = kMoeSumThreads / bx;
  const int64_t grid_x = (vecs_per_row + bx - 1) / bx;
  const int64_t grid_y = std::min<int64_t>((a.tokens + by - 1) / by, 65535);
  return launch_with_pdl(moe_sum_kernel<T, VEC, MODE>,
                         dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y)), dim3(bx, by), 0, stream,
                         enable_pdl, a);
}

}  // namespace kernelkit
