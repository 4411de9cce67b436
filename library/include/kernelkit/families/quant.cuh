// What every quantization kernel shares: the rounding that the tests define bit for bit.
//
//   fp8 e4m3:  q = e4m3_rn(clamp(x / s, lo, hi))   (IEEE division, not x * (1/s): the reference
//              divides, and the two differ in the last bit for ~1 value in 10; ScaleDivider below
//              gets IEEE's x / s at the cost of a multiply and two FMAs)
//   int8:      q = rint(clamp(x / s, lo, hi))       (round half to even, like torch.round; -128 <= lo <= hi <= 127)
//   ue8m0:     s -> the smallest power of two >= s (exact, from the bits; no log2f)
//
// NaN: ignored by absmax (fmaxf keeps the other operand), so one NaN does not poison a row's scale;
// a NaN value stays NaN in e4m3 (0x7f / 0xff) and becomes 0 in int8. +-inf: absmax = inf, so the
// scale is inf, the finite values of that row/group quantize to 0 and the inf itself to NaN (inf/inf),
// exactly what the formula above gives in fp32 (and what the PyTorch reference in the tests gives).
#pragma once

#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "kernelkit/core/reduce.cuh"

namespace kernelkit {

constexpr float kFp8E4m3Max = 448.0f;

// clamp that keeps NaN (fminf/fmaxf would turn it into a bound): torch.clamp's semantics.
__device__ __forceinline__ float clamp_keep_nan(float v, float lo, float hi) {
  return v != v ? v : fminf(fmaxf(v, lo), hi);
}

// Round to nearest even into e4m3 with saturation: identical to torch's
// `.clamp(-448, 448).to(torch.float8_e4m3fn)` for every float, NaN included.
__device__ __forceinline__ uint8_t float_to_e4m3(float v) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
}

// Two values -> two e4m3 bytes (low byte = first), one cvt instruction on sm_89+.
__device__ __forceinline__ uint16_t float2_to_e4m3x2(float a, float b) {
  return static_cast<uint16_t>(__nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3));
}

// Four values -> four int8 codes, low byte first: round half to even, saturate to [-128, 127], NaN -> 0.
// cvt.rni.sat.s8.f32 does all three in one instruction, and three byte permutes pack the four; the route
// through a NaN test, fminf/fmaxf, __float2int_rn and shifts costs several instructions per element.
// Callers whose range is narrower than [-128, 127] clamp first (clamp_keep_nan: NaN stays NaN -> 0).
__device__ __forceinline__ uint32_t float4_to_int8x4_rn_sat(const float (&v)[4]) {
  uint32_t b[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) asm("cvt.rni.sat.s8.f32 %0, %1;" : "=r"(b[i]) : "f"(v[i]));
  return __byte_perm(__byte_perm(b[0], b[1], 0x0040), __byte_perm(b[2], b[3], 0x0040), 0x5410);
}

// Smallest power of two >= s, for s > 0 normal or inf (scale_ue8m0): bump the exponent when any
// mantissa bit is set. Subnormal s cannot occur (callers floor s with eps / fp8_max, eps > 0).
__device__ __forceinline__ float pow2_ceil(float s) {
  uint32_t bits = __float_as_uint(s);
  if ((bits & 0x007fffffu) != 0u && (bits & 0x7f800000u) != 0x7f800000u) bits = (bits & 0xff800000u) + 0x00800000u;
  return __uint_as_float(bits);
}

// x / s for one s and many x, bit-identical to IEEE x / s wherever an 8-bit result can tell.
// Why: every quantizer divides each element by its row's / group's scale. div.rn.f32 is a MUFU.RCP,
// four FMAs and a slow-path check per element; at 3 bytes per bf16 element the H100 must retire ~4
// elements per SM-cycle to keep up with HBM, so the division alone takes a large share of the issue
// slots (docs/perf-notes.md, Per-token-group quant). With r = RN(1/s) computed once per s:
//   q = RN(x * r);  e = x - q * s (exact, one FMA);  RN(q + e * r) == RN(x / s)      (Markstein)
// The theorem needs e to be exact, i.e. no underflow: it holds for |x| >= ~2^-100. Below that the
// quotient is < 2^-12 whenever s >= 2^-60 (so it becomes 0 in e4m3, int8 and e2m1 either way); a scale
// outside [2^-60, 2^100) -- never a dynamic one, whose floor is 1e-10 / 448 -- takes IEEE division.
// The last FMA turns q = -0 into +0 (-0 + +0), so the sign is copied back from q (x / s and x * r
// always agree in sign). Dynamic scales bound |x / s| by the quantizer's max; a static scale does not
// (kAnyX): x * r = +-inf (x / s overflows, or x = +-inf) saturates either way and is returned as is,
// where the FMAs would make it NaN. Checked on the CPU against IEEE division for 1e9 random (x, s)
// pairs: bit-equal except where both are < 2^-12 in magnitude (same sign) or both >= 2^99.
template <bool kAnyX = false>
class ScaleDivider {
 public:
  // (Assigned in the body: nvcc's host pass keeps a __device__ constructor's initializer list.)
  __device__ __forceinline__ explicit ScaleDivider(float s) {
    s_ = s;
    r_ = __frcp_rn(s);
    fast_ = fabsf(s) >= 0x1p-60f && fabsf(s) < 0x1p100f;
  }

  // Calls f(divide) once, `divide` being the fast path or IEEE division: the choice is made once for
  // all the elements f divides (a per-element `if` compiled to a branch around every element).
  template <typename F>
  __device__ __forceinline__ void with_divide(F&& f) const {
    if (fast_) {
      const float s = s_, r = r_;
      f([s, r](float x) {
        const float q = x * r;
        const float exact = copysignf(fmaf(fmaf(-q, s, x), r, q), q);
        if constexpr (kAnyX) return fabsf(q) <= FLT_MAX ? exact : q;
        return exact;
      });
    } else {
      const float s = s_;
      f([s](float x) { return __fdiv_rn(x, s); });
    }
  }

 private:
  float s_, r_;
  bool fast_;
};

}  // namespace kernelkit
