// The scale rule of kernelkit's dynamic fp8 quantizers (sgl_per_tensor_quant_fp8 in dynamic mode,
// sgl_per_token_quant_fp8, fused_add_rmsnorm_quant_fp8), and the vector helpers they share:
//
//   s = max(absmax(x), kFp8AbsmaxFloor) / 448        (fp32, IEEE division)
//   q = e4m3_rn_satfinite(x / s)                     (quant.cuh: IEEE x / s, via ScaleDivider)
//
// The floor keeps an all-zero (or all-NaN) tensor/row finite: s = 1e-10 / 448 > 0 and every q is 0,
// where sgl-kernel writes s = 0 and relies on a 1/s guard. It changes nothing for data whose absmax is
// >= 1e-10 (every real activation); an inf in the data makes s = inf (quant.cuh's NaN/inf rules).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/quant.cuh"

namespace kernelkit {

constexpr float kFp8AbsmaxFloor = 1e-10f;

__device__ __forceinline__ float fp8_scale_from_absmax(float absmax) {
  return fmaxf(absmax, kFp8AbsmaxFloor) / kFp8E4m3Max;
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
    return fmaxf(m, fmaxf(to_float(acc.x), to_float(acc.y)));
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) m = fmaxf(m, fabsf(to_float(x[j])));
    return m;
  }
}

// VEC values -> VEC e4m3 bytes of divide(x) = x / s at dst (`divide` from ScaleDivider::with_divide, or
// IEEE division): one VEC-byte store when `aligned` (dst is VEC-byte aligned), byte stores otherwise (a
// q tensor at an odd offset). `aligned` is uniform per launch, so the branch costs nothing measurable.
template <typename T, int VEC, typename Div>
__device__ __forceinline__ void store_fp8(uint8_t* dst, const Vec<T, VEC>& x, const Div& divide, bool aligned) {
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
                                                      bool aligned) {
  const float s = fp8_scale_from_absmax(block_max<kTrailingBarrier>(m, scratch));
  if (threadIdx.x == 0) *scale_out = s;
  ScaleDivider<>(s).with_divide([&](auto divide) {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int v = vec_index(i);
      if (v < num_vecs) store_fp8(dst(v), x[i], divide, aligned);
    }
  });
}

}  // namespace kernelkit
