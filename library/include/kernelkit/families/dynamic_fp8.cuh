// The scale rule of the dynamic fp8 quantizers (sgl_per_tensor_quant_fp8 in dynamic mode,
// sgl_per_token_quant_fp8, fused_add_rmsnorm_quant_fp8), as sgl-kernel computes it, and the vector
// helpers they share:
//
//   s   = absmax(x) / 448           (quant.cuh's sgl::div_by: times fl32(1/448) on sm_90; no floor)
//   inv = 1 / s                     (sgl::rcp; an all-zero row has s = 0 and inv = inf, unless the
//                                    caller asks for inv = 0 there, as sgl-kernel's many-rows kernel does)
//   q   = e4m3(max(min(x * inv, 448), -448))      (Fp8MulMinFirst: NaN -> +448)
//
// so an all-zero row quantizes to +448 (or 0 with the zero-scale rule) and an inf makes s = inf,
// inv = 0: the finite values become 0 and the inf itself NaN -> +448.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/quant.cuh"

namespace kernelkit {

__device__ __forceinline__ float fp8_scale_from_absmax(float absmax) { return sgl::div_by<448>(absmax); }

// The multiplier of the elements of a row (or tensor) with scale s. zero_scale_gives_zero: inv = 0 when
// s = 0 (sgl-kernel's per-token kernel for many rows), else rcp(s) = inf and every q of the row is +448.
__device__ __forceinline__ Fp8MulMinFirst fp8_quantizer(float s, bool zero_scale_gives_zero = false) {
  return Fp8MulMinFirst{zero_scale_gives_zero && s == 0.0f ? 0.0f : sgl::rcp(s)};
}

// max(m, |x_j|) over a vector; NaN elements are skipped (fmaxf returns the other operand).
// 16-bit types are compared packed (max.{bf16,f16}x2, exact, NaN skipped the same way) and converted once:
// converting every element to fp32 here let the compiler keep the fp32 copies alive until the
// quantization (twice the registers for a row held on chip; it spilled).
template <typename T, int VEC>
__device__ __forceinline__ float vec_absmax(float m, const Vec<T, VEC>& x) {
  if constexpr ((std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>) && VEC % 2 == 0) {
    using T2 = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;
    const T2* pairs = reinterpret_cast<const T2*>(&x);
    T2 acc = __habs2(pairs[0]);
#pragma unroll
    for (int j = 1; j < VEC / 2; ++j) acc = __hmax2(acc, __habs2(pairs[j]));
    return fmaxf(m, fmaxf(sgl::abs_ftz(to_float(acc.x)), sgl::abs_ftz(to_float(acc.y))));  // bf16 denormals: 0
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) m = fmaxf(m, sgl::abs_ftz(to_float(x[j])));
    return m;
  }
}

// VEC values -> VEC e4m3 bytes of quantize(x) (an Fp8MulMinFirst) at dst: one VEC-byte store when `aligned`
// (dst is VEC-byte aligned), byte stores otherwise (a q tensor at an odd offset). `aligned` is uniform per
// launch, so the branch costs nothing measurable.
template <typename T, int VEC, typename Quantize>
__device__ __forceinline__ void store_fp8(uint8_t* dst, const Vec<T, VEC>& x, const Quantize& divide, bool aligned) {
  if constexpr (VEC == 1) {
    *dst = float_to_e4m3(divide(to_float(x[0])));
  } else {
    Vec<uint16_t, VEC / 2> packed;
#pragma unroll
    for (int j = 0; j < VEC / 2; ++j)
      packed[j] = float2_to_e4m3x2(divide(to_float(x[2 * j])), divide(to_float(x[2 * j + 1])));
    if (aligned) {
      packed.store(reinterpret_cast<uint16_t*>(dst));
    } else {
#pragma unroll
      for (int j = 0; j < VEC / 2; ++j) {
        dst[2 * j] = static_cast<uint8_t>(packed[j] & 0xffu);
        dst[2 * j + 1] = static_cast<uint8_t>(packed[j] >> 8);
      }
    }
  }
}

// The tail of every dynamic quantizer that holds its row (or whole tensor) in registers: the block's
// absmax m -> s (thread 0 writes it to *scale_out), then held vector i -- element-vector index
// vec_index(i), skipped from num_vecs on -- is quantized to the bytes at dst(v). Every thread of the
// block calls it (block_max has barriers; kTrailingBarrier as in block_max).
template <bool kTrailingBarrier = true, typename T, int VEC, int NV, typename Index, typename Dst>
__device__ __forceinline__ void quantize_held_vectors(const Vec<T, VEC> (&x)[NV], float m, float* scratch,
                                                      float* scale_out, int num_vecs, Index vec_index, Dst dst,
                                                      bool aligned, bool zero_scale_gives_zero = false) {
  const float s = fp8_scale_from_absmax(block_max<kTrailingBarrier>(m, scratch));
  if (threadIdx.x == 0) *scale_out = s;
  const Fp8MulMinFirst quantize = fp8_quantizer(s, zero_scale_gives_zero);
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int v = vec_index(i);
    if (v < num_vecs) store_fp8(dst(v), x[i], quantize, aligned);
  }
}

}  // namespace kernelkit
