// Per-token-group 8-bit quantization (DeepSeek-V3's 1 x 128 activation scales), shared by
// sgl_per_token_group_quant_fp8 and sgl_per_token_group_quant_int8:
//
//   for every row t and every group j of G consecutive elements of the last dim:
//     s[t, j] = max(absmax(x[t, jG : (j+1)G]), eps) / qmax         fp32, IEEE division
//     s[t, j] = pow2_ceil(s[t, j])                                  fp8 with scale_ue8m0 only
//     q[t, i] = rn(clamp(x[t, i] / s[t, i / G], qmin, qmax))        e4m3 (saturating) or int8
//   with the rounding and the NaN/inf rules of quant.cuh (absmax ignores NaN; an inf makes its
//   group's scale inf, so the group's finite values become 0 and the inf itself NaN (fp8) / 0 (int8)).
//
// Memory-bound: 3 bytes per bf16 element plus 4 per group, read or written once. Why it is fast:
//  - One pass, everything in registers. A group belongs to a sub-warp of G/8 lanes, each lane holding
//    8 consecutive elements (one 16-byte load for bf16/fp16, two for fp32); the group's absmax is a
//    shuffle-xor butterfly inside the sub-warp: no shared memory, no __syncthreads.
//  - Each lane writes its 8 quantized bytes as one 8-byte store; the sub-warp's first lane writes the
//    scale at s[t * s_row_stride + j * s_group_stride], so row-major, column-major and padded
//    (TMA-aligned) scale layouts are one code path.
//  - A warp works on kUnroll tiles of 32 / (G/8) consecutive groups per step and issues all their loads
//    before the first reduction: 32 bytes (bf16) in flight per lane, 8 KB per 256-thread CTA.
//  - Grid: one step per CTA, ceil(groups / groups per CTA) CTAs (the hardware scheduler balances the
//    tail better than a persistent grid whose CTAs get 3 or 4 steps each); grid-strided only beyond
//    2^31 - 1 CTAs. Small T needs nothing special: T = 1, H = 7168 is 2 CTAs, latency-bound anyway.
//  - Rows whose pointer/stride do not allow 16-byte loads (a slice at an odd offset) take the same
//    kernel with scalar loads and byte stores instead of refusing.
//
// Predicted (H100, 3.0 TB/s copy ceiling), bf16, H = 7168, G = 128: T * (7168 * 3 + 56 * 4) = T * 21728 B;
//   T = 2048: 44.5 MB -> 14.8 us at the ceiling (16.5 us at 90%);
//   T = 16384: 356 MB -> 118.7 us (131.8 us at 90%).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernelkit/dispatch.cuh"
#include "kernelkit/dtype.h"
#include "kernelkit/quant.cuh"
#include "kernelkit/vec.cuh"

namespace kernelkit {

enum class GroupQuantKind { kFp8E4m3, kInt8 };

struct GroupQuantArgs {
  const void* input;
  int64_t input_row_stride;  // elements
  uint8_t* output_q;         // e4m3 or int8 bits
  int64_t q_row_stride;      // elements (= bytes)
  float* output_s;
  int64_t s_row_stride;      // elements; any strides (row-major, column-major, padded)
  int64_t s_group_stride;
  int64_t num_rows;
  int64_t groups_per_row;  // hidden / group_size
  float eps;               // > 0: the floor of absmax, so a zero group gets s = eps / qmax
  float qmin, qmax;
  bool scale_ue8m0;
};

namespace group_quant_detail {

constexpr int kThreads = 256;
constexpr int kElems = 8;   // per lane: 16 bytes of bf16/fp16 in, 8 bytes out
constexpr int kUnroll = 2;  // groups per sub-warp per step, loaded before the first reduction

// The group sizes with a kernel: G / kElems lanes per group must be a power of two <= 32.
constexpr bool supported_group_size(int64_t g) { return g == 16 || g == 32 || g == 64 || g == 128 || g == 256; }

template <typename T, bool kVector>
__device__ __forceinline__ void load8(const T* p, float (&x)[kElems]) {
  if constexpr (kVector) {
    constexpr int VEC = 16 / sizeof(T);
#pragma unroll
    for (int v = 0; v < kElems / VEC; ++v) {
      const auto vec = Vec<T, VEC>::load(p + v * VEC);
#pragma unroll
      for (int i = 0; i < VEC; ++i) x[v * VEC + i] = to_float(vec[i]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < kElems; ++i) x[i] = to_float(p[i]);
  }
}

template <GroupQuantKind K>
__device__ __forceinline__ uint32_t quantize4(const float* x, float s, float lo, float hi) {
  if constexpr (K == GroupQuantKind::kFp8E4m3) {
    const uint32_t b01 = float2_to_e4m3x2(clamp_keep_nan(x[0] / s, lo, hi), clamp_keep_nan(x[1] / s, lo, hi));
    const uint32_t b23 = float2_to_e4m3x2(clamp_keep_nan(x[2] / s, lo, hi), clamp_keep_nan(x[3] / s, lo, hi));
    return b01 | (b23 << 16);
  } else {
    uint32_t out = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) out |= static_cast<uint32_t>(static_cast<uint8_t>(float_to_int8_rn(x[i] / s, lo, hi))) << (8 * i);
    return out;
  }
}

template <typename T, int G, GroupQuantKind K, bool kVector>
__global__ void __launch_bounds__(kThreads) per_token_group_quant_kernel(GroupQuantArgs a) {
  constexpr int kLanes = G / kElems;         // lanes per group
  constexpr int kTile = 32 / kLanes;         // groups per warp per unrolled slot
  constexpr int kWarpStep = kTile * kUnroll;  // groups per warp per step
  static_assert(kLanes >= 1 && kLanes <= 32 && (kLanes & (kLanes - 1)) == 0, "G / 8 must be a power of two <= 32");

  const int lane = threadIdx.x % 32;
  const int sub = lane / kLanes, li = lane % kLanes;
  const int64_t num_groups = a.num_rows * a.groups_per_row;
  const bool small = num_groups <= INT32_MAX;  // 32-bit division for the row index
  const int64_t warps = int64_t(gridDim.x) * (kThreads / 32);
  const T* input = static_cast<const T*>(a.input);

  // `base` is the same for all lanes of a warp, so every lane takes part in every shuffle.
  for (int64_t base = (int64_t(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32) * kWarpStep; base < num_groups;
       base += warps * kWarpStep) {
    float x[kUnroll][kElems];
    int64_t row[kUnroll], col[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t gid = base + u * kTile + sub;
      row[u] = col[u] = -1;
      if (gid < num_groups) {
        if (small) {
          const uint32_t r = static_cast<uint32_t>(gid) / static_cast<uint32_t>(a.groups_per_row);
          row[u] = r;
          col[u] = static_cast<uint32_t>(gid) - r * static_cast<uint32_t>(a.groups_per_row);
        } else {
          row[u] = gid / a.groups_per_row;
          col[u] = gid - row[u] * a.groups_per_row;
        }
        load8<T, kVector>(input + row[u] * a.input_row_stride + col[u] * G + li * kElems, x[u]);
      } else {
#pragma unroll
        for (int i = 0; i < kElems; ++i) x[u][i] = 0.0f;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float m = 0.0f;
#pragma unroll
      for (int i = 0; i < kElems; ++i) m = fmaxf(m, fabsf(x[u][i]));  // fmaxf drops NaN
#pragma unroll
      for (int offset = kLanes / 2; offset > 0; offset /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
      float s = fmaxf(m, a.eps) / a.qmax;
      if (K == GroupQuantKind::kFp8E4m3 && a.scale_ue8m0) s = pow2_ceil(s);
      if (row[u] < 0) continue;
      const uint32_t lo4 = quantize4<K>(x[u], s, a.qmin, a.qmax);
      const uint32_t hi4 = quantize4<K>(x[u] + 4, s, a.qmin, a.qmax);
      uint8_t* q = a.output_q + row[u] * a.q_row_stride + col[u] * G + li * kElems;
      if constexpr (kVector) {
        *reinterpret_cast<uint2*>(q) = make_uint2(lo4, hi4);
      } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          q[i] = static_cast<uint8_t>(lo4 >> (8 * i));
          q[4 + i] = static_cast<uint8_t>(hi4 >> (8 * i));
        }
      }
      if (li == 0) a.output_s[row[u] * a.s_row_stride + col[u] * a.s_group_stride] = s;
    }
  }
}

}  // namespace group_quant_detail

// Picks the instance (dtype, group size, vector or scalar access) and sizes the grid.
template <GroupQuantKind K>
cudaError_t launch_per_token_group_quant(const GroupQuantArgs& a, int64_t group_size, DType dtype, cudaStream_t stream) {
  using namespace group_quant_detail;
  if (a.num_rows == 0 || a.groups_per_row == 0) return cudaSuccess;
  if (!supported_group_size(group_size) || !(a.eps > 0.0f) || !(a.qmax > 0.0f)) return cudaErrorInvalidValue;
  return dispatch_float_dtype(dtype, [&](auto tag) -> cudaError_t {
    using T = typename decltype(tag)::type;
    // 16-byte loads and 8-byte stores need every row start aligned; otherwise scalar accesses.
    const bool vector = reinterpret_cast<uintptr_t>(a.input) % 16 == 0 &&
                        (a.input_row_stride * static_cast<int64_t>(sizeof(T))) % 16 == 0 &&
                        reinterpret_cast<uintptr_t>(a.output_q) % 8 == 0 && a.q_row_stride % 8 == 0;
    const int64_t num_groups = a.num_rows * a.groups_per_row;
    const int64_t groups_per_cta = (kThreads / 32) * (32 / (group_size / kElems)) * kUnroll;
    const unsigned grid = static_cast<unsigned>(std::min<int64_t>((num_groups + groups_per_cta - 1) / groups_per_cta, INT32_MAX));
    auto go = [&](auto g_c) -> cudaError_t {
      constexpr int G = decltype(g_c)::value;
      if (vector) {
        per_token_group_quant_kernel<T, G, K, true><<<grid, kThreads, 0, stream>>>(a);
      } else {
        per_token_group_quant_kernel<T, G, K, false><<<grid, kThreads, 0, stream>>>(a);
      }
      return cudaGetLastError();
    };
    switch (group_size) {
      case 16: return go(std::integral_constant<int, 16>{});
      case 32: return go(std::integral_constant<int, 32>{});
      case 64: return go(std::integral_constant<int, 64>{});
      case 128: return go(std::integral_constant<int, 128>{});
      case 256: return go(std::integral_constant<int, 256>{});
    }
    return cudaErrorInvalidValue;
  });
}

}  // namespace kernelkit
