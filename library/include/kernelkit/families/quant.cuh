// What every quantization kernel shares: sgl-kernel's arithmetic, reproduced bit for bit.
//
// sgl-kernel (kernelkit_ops is a drop-in for it) loads a build compiled with -use_fast_math on sm_90
// (H100/H200) and a build with IEEE arithmetic on every other GPU. So on sm_90 its quantizers divide by
// an approximate reciprocal (rcp.approx.ftz) and flush fp32 denormals to zero, elsewhere they divide
// exactly. `sgl` below gives the same instructions on each arch, so a kernelkit quantizer computes what
// sgl-kernel computes on the GPU it runs on, and the tests check it against those instructions.
//
//   fp8 e4m3:  e4m3_rn_satfinite(min/max clamp of x * inv)  -- the clamp's order decides where NaN goes
//   int8:      truncation toward zero of the clamped value (sgl-kernel's default; round to nearest even
//              on request)
//   ue8m0:     s -> a power of two >= s (exactly from the bits, or as sgl-kernel's v1 path computes it)
#pragma once

#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "kernelkit/core/reduce.cuh"

namespace kernelkit {

constexpr float kFp8E4m3Max = 448.0f;

// Round to nearest even into e4m3 with saturation: identical to torch's
// `.clamp(-448, 448).to(torch.float8_e4m3fn)` for every float, NaN included.
__device__ __forceinline__ uint8_t float_to_e4m3(float v) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
}

// Two values -> two e4m3 bytes (low byte = first), one cvt instruction on sm_89+.
__device__ __forceinline__ uint16_t float2_to_e4m3x2(float a, float b) {
  return static_cast<uint16_t>(__nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3));
}

// Four values -> four int8 codes, low byte first, saturated to [-128, 127]: truncated toward zero
// (cvt.rzi: what sgl-kernel's float -> int8 cast compiles to) or, kNearest, rounded half to even (cvt.rni).
// One cvt per value and three byte permutes pack the four. Callers clamp first (NaN -> their min).
template <bool kNearest>
__device__ __forceinline__ uint32_t float4_to_int8x4_sat(const float (&v)[4]) {
  uint32_t b[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (kNearest) {
      asm("cvt.rni.sat.s8.f32 %0, %1;" : "=r"(b[i]) : "f"(v[i]));
    } else {
      asm("cvt.rzi.sat.s8.f32 %0, %1;" : "=r"(b[i]) : "f"(v[i]));
    }
  }
  return __byte_perm(__byte_perm(b[0], b[1], 0x0040), __byte_perm(b[2], b[3], 0x0040), 0x5410);
}

// Smallest power of two >= s, for s > 0 normal or inf (scale_ue8m0): bump the exponent when any
// mantissa bit is set. Subnormal s cannot occur (callers floor s with eps / fp8_max, eps > 0).
__device__ __forceinline__ float pow2_ceil(float s) {
  uint32_t bits = __float_as_uint(s);
  if ((bits & 0x007fffffu) != 0u && (bits & 0x7f800000u) != 0x7f800000u) bits = (bits & 0xff800000u) + 0x00800000u;
  return __uint_as_float(bits);
}

namespace sgl {

// fp32 multiply as sgl-kernel's build for this arch does it (mul.rn.ftz on sm_90: denormals to 0).
__device__ __forceinline__ float mul(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  float r;
  asm("mul.rn.ftz.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
#else
  return __fmul_rn(a, b);
#endif
}

// 1 / x: rcp.approx.ftz on sm_90 (within 1 ulp, rcp(0) = inf), IEEE elsewhere.
__device__ __forceinline__ float rcp(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
#else
  return __frcp_rn(x);
#endif
}

// a / b for a runtime b: fast-math turns it into a * rcp(b).
__device__ __forceinline__ float div(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  return mul(a, rcp(b));
#else
  return __fdiv_rn(a, b);
#endif
}

// a / kDivisor for a compile-time divisor: fast-math multiplies by the correctly rounded constant
// 1 / kDivisor (e.g. fl32(1/448) = 0x3B124925), IEEE division elsewhere.
template <int kDivisor>
__device__ __forceinline__ float div_by(float a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  return mul(a, 1.0f / float(kDivisor));
#else
  return __fdiv_rn(a, float(kDivisor));
#endif
}

// |x| as the fast-math build reads an element: a denormal is 0.
__device__ __forceinline__ float abs_ftz(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  float r;
  asm("abs.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
#else
  return fabsf(x);
#endif
}

// sgl-kernel v1's ue8m0 scale: 2^ceil(log2(max(s, 1e-10))) through log2/exp2 (approximate on sm_90, so
// not always the exact power of two >= s that pow2_ceil gives).
__device__ __forceinline__ float pow2_ceil_by_log2(float s) {
  s = fmaxf(s, 1e-10f);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  float l, c, r;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(l) : "f"(s));
  asm("cvt.rpi.ftz.f32.f32 %0, %1;" : "=f"(c) : "f"(l));
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(c));
  return r;
#else
  return exp2f(ceilf(log2f(s)));
#endif
}

// SiLU as sgl-kernel's v2 group quant computes it before the multiply it fuses: g / (1 + __expf(-g)), which
// its fast-math sm_90 build turns into g * rcp(1 + ex2(g * -log2(e))) (ex2.approx, rcp.approx, ftz);
// elsewhere an IEEE division of the same __expf.
__device__ __forceinline__ float silu(float g) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  float e;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(mul(g, -1.44269502162933349609375f)));
  return mul(g, rcp(1.0f + e));
#else
  return __fdiv_rn(g, 1.0f + __expf(-g));
#endif
}

}  // namespace sgl

// fp8 e4m3 of x * inv the way sgl-kernel's per-token and per-tensor quantizers clamp it: the min first,
// then the max, so NaN (x = NaN, or 0 * inf for an all-zero row's scale) becomes +448.
struct Fp8MulMinFirst {
  float inv;
  __device__ __forceinline__ float operator()(float x) const {
    return fmaxf(fminf(sgl::mul(x, inv), kFp8E4m3Max), -kFp8E4m3Max);
  }
};

}  // namespace kernelkit
