// downcast_fp8: quantize this step's K and V rows (bf16/fp16) to fp8 e4m3 and scatter them into the fp8 KV cache at
// row loc[t] * mult + offset.
//
// The arithmetic is sgl-kernel's, in the input dtype T: the scale is rounded to T, its reciprocal is rounded to T,
// x * reciprocal is rounded to T, clamped to [-448, 448] and converted to e4m3 (round to nearest even). Each step is
// done here in fp32 with one rounding to T: fp32 holds the exact product of two T values, and fp32 division (IEEE,
// __fdiv_rn) rounded again to T is the correctly rounded T quotient (24 >= 2 * 11 + 2 bits make the double rounding
// innocuous), so the result is bit-for-bit what a torch reference in T computes.
//
// A block row (threadIdx.y) serves one token: its K elements then its V elements, 8 at a time (a 16-byte load, an
// 8-byte store) where the row size, strides and pointers allow, else one at a time. A row outside [0, out_rows) is
// skipped rather than written out of bounds (sgl-kernel does not check).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cstdint>

#include "kernelkit/core/pdl.cuh"
#include "kernelkit_ops/kvcache/downcast_fp8.h"

namespace kernelkit {
namespace {

constexpr float kFp8Max = 448.0f;

struct DowncastArgs {
  const void* k;
  const void* v;
  int64_t k_stride, v_stride;
  uint8_t* k_out;
  uint8_t* v_out;
  int64_t k_out_stride, v_out_stride, out_rows;
  const float* k_scale;
  const float* v_scale;
  const void* loc;
  int64_t mult, offset, tokens, row;
};

template <typename T>
__device__ __forceinline__ float round_to(float x);
template <>
__device__ __forceinline__ float round_to<__nv_bfloat16>(float x) {
  return __bfloat162float(__float2bfloat16_rn(x));
}
template <>
__device__ __forceinline__ float round_to<__half>(float x) {
  return __half2float(__float2half_rn(x));
}

template <typename T>
__device__ __forceinline__ float to_float(T x);
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <>
__device__ __forceinline__ float to_float<__half>(__half x) {
  return __half2float(x);
}

// 1 / scale as sgl-kernel forms it: scale rounded to T, the quotient rounded to T.
template <typename T>
__device__ __forceinline__ float inverse_scale(const float* scale) {
  return round_to<T>(__fdiv_rn(1.0f, round_to<T>(*scale)));
}

template <typename T>
__device__ __forceinline__ uint8_t downcast(T x, float inv) {
  float y = round_to<T>(to_float(x) * inv);
  y = y > kFp8Max ? kFp8Max : (y < -kFp8Max ? -kFp8Max : y);  // comparisons, not fminf: NaN stays NaN
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(y, __NV_SATFINITE, __NV_E4M3));
}

// VEC is 8 (row, strides and pointers allow 16-byte loads and 8-byte stores) or 1.
template <typename T, int VEC, typename Idx>
__global__ void downcast_fp8_kernel(DowncastArgs a) {
  pdl_wait_then_launch_dependents();  // before the first global access; a no-op without PDL
  const float k_inv = inverse_scale<T>(a.k_scale);
  const float v_inv = inverse_scale<T>(a.v_scale);
  const Idx* loc = static_cast<const Idx*>(a.loc);
  const int64_t chunks = a.row / VEC;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; t < a.tokens;
       t += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t r = static_cast<int64_t>(loc[t]) * a.mult + a.offset;
    if (r < 0 || r >= a.out_rows) continue;
    for (int64_t w = threadIdx.x; w < 2 * chunks; w += blockDim.x) {
      const bool is_v = w >= chunks;
      const int64_t col = (is_v ? w - chunks : w) * VEC;
      const T* src = static_cast<const T*>(is_v ? a.v : a.k) + t * (is_v ? a.v_stride : a.k_stride) + col;
      uint8_t* dst = (is_v ? a.v_out + r * a.v_out_stride : a.k_out + r * a.k_out_stride) + col;
      const float inv = is_v ? v_inv : k_inv;
      if constexpr (VEC == 8) {
        union {
          uint4 raw;
          T x[8];
        } in;
        in.raw = *reinterpret_cast<const uint4*>(src);
        union {
          uint2 raw;
          uint8_t q[8];
        } out;
#pragma unroll
        for (int i = 0; i < 8; ++i) out.q[i] = downcast(in.x[i], inv);
        *reinterpret_cast<uint2*>(dst) = out.raw;
      } else {
        *dst = downcast(*src, inv);
      }
    }
  }
}

template <typename T, int VEC>
cudaError_t launch_typed(const DowncastArgs& a, bool loc_is_int64, bool enable_pdl, cudaStream_t stream) {
  const int64_t per_token = 2 * a.row / VEC;
  int bx = 32;  // a warp or more per token, up to 512 threads looping over longer rows
  while (bx < per_token && bx < 512) bx *= 2;
  const int by = std::max(1, 256 / bx);
  const int64_t blocks = std::min<int64_t>((a.tokens + by - 1) / by, int64_t{1} << 30);
  const dim3 grid(static_cast<unsigned>(blocks)), block(bx, by);
  return loc_is_int64 ? launch_with_pdl(downcast_fp8_kernel<T, VEC, int64_t>, grid, block, 0, stream, enable_pdl, a)
                      : launch_with_pdl(downcast_fp8_kernel<T, VEC, int32_t>, grid, block, 0, stream, enable_pdl, a);
}

template <typename T>
cudaError_t launch_dtype(const DowncastArgs& a, bool loc_is_int64, bool enable_pdl, cudaStream_t stream) {
  bool vec = a.row % 8 == 0 && a.k_stride % 8 == 0 && a.v_stride % 8 == 0 && a.k_out_stride % 8 == 0 &&
             a.v_out_stride % 8 == 0;
  for (const void* p : {a.k, a.v}) vec = vec && reinterpret_cast<uintptr_t>(p) % 16 == 0;
  for (const void* p : {a.k_out, a.v_out}) vec = vec && reinterpret_cast<uintptr_t>(p) % 8 == 0;
  return vec ? launch_typed<T, 8>(a, loc_is_int64, enable_pdl, stream)
             : launch_typed<T, 1>(a, loc_is_int64, enable_pdl, stream);
}

}  // namespace
}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/kvcache/
// downcast_fp8.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_downcast_fp8(const void* k, const void* v, int64_t k_stride, int64_t v_stride,
                                           void* k_out, void* v_out, int64_t k_out_stride, int64_t v_out_stride,
                                           int64_t out_rows, const float* k_scale, const float* v_scale,
                                           const void* loc, bool loc_is_int64, int64_t mult, int64_t offset,
                                           int64_t tokens, int64_t row, bool is_bf16, bool enable_pdl,
                                           cudaStream_t stream) {
  if (tokens == 0 || row == 0) return cudaSuccess;
  const DowncastArgs a{k,
                       v,
                       k_stride,
                       v_stride,
                       static_cast<uint8_t*>(k_out),
                       static_cast<uint8_t*>(v_out),
                       k_out_stride,
                       v_out_stride,
                       out_rows,
                       k_scale,
                       v_scale,
                       loc,
                       mult,
                       offset,
                       tokens,
                       row};
  return is_bf16 ? launch_dtype<__nv_bfloat16>(a, loc_is_int64, enable_pdl, stream)
                 : launch_dtype<__half>(a, loc_is_int64, enable_pdl, stream);
}
