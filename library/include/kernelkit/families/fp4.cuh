// NVFP4: what every FP4 kernel shares, defined bit for bit as tests/ops/quantization/fp4_reference.py writes it.
//
//   e2m1 values  {0, 0.5, 1, 1.5, 2, 3, 4, 6} with a sign bit; a code is sign << 3 | index.
//   rounding     to nearest, ties to the even code (0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2,
//                2.5 -> 2, 3.5 -> 4, 5 -> 4); |v| > 6 and +-inf saturate to +-6 (satfinite).
//   sign         kept for zero and for what underflows to zero: -0 and -0.1 give 0b1000 (-0).
//   NaN          +6 (0b0111), whatever its sign bit.
// That is what PTX `cvt.rn.satfinite.e2m1x2.f32` does on sm_100a+ (and cuda_fp4.hpp's emulation of it,
// against which the software path below is checked for every float: tests/ops/test_scaled_fp4_quant.py).
// Below sm_100 (our H100) the same codes come from integer/float ops every arch has.
//
// Scales: one e4m3 per block of 16 values along a row, stored in the 128x4 swizzled layout that
// Blackwell's block-scaled MMA (tcgen05.mma, CUTLASS, cuBLASLt) reads: rows in tiles of 128, blocks
// in tiles of 4; a tile is 512 bytes, [32 rows][4 row groups][4 blocks] (row r sits at r % 32, r / 32 % 4).
//
// The arithmetic is sgl-kernel's (cvt_warp_fp16_to_fp4 in csrc/gemm/nvfp4_quant_kernels.cu, the same in
// nvfp4_expert_quant.cu), so that a drop-in gives the same bytes. Per block of 16 values x, gs the global scale:
//   vmax = max |x|                           the NaN-ignoring maximum (__hmax): NaN only if all 16 are NaN
//   sf   = e4m3_rn_satfinite(gs * (vmax * rcp(6)))
//   inv  = float(sf) != 0 ? rcp(float(sf) * rcp(gs)) : 0
//   q_i  = e2m1(x_i * inv)
// rcp is the PTX instruction rcp.approx.ftz.f32 (sgl-kernel issues it through inline asm); rcp(6) of the
// constant is folded by ptxas to fl32(1/6) = 0x3E2AAAAB (sgl-kernel 0.3.21's sm_100a SASS: FMUL by
// 0.16666667163372039795), so that constant is what kernelkit multiplies by. The products are IEEE (mul.rn.f32,
// denormals kept: sgl-kernel runs these kernels only on sm_100+, whose build has no fast math; its SASS has
// FMUL, not FMUL.FTZ). kernelkit issues the same instructions on every arch, sm_90 included, so an H100
// computes the bytes sgl-kernel computes on Blackwell.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernelkit/core/vec.cuh"

namespace kernelkit {

constexpr int kFp4BlockSize = 16;  // values sharing one e4m3 scale
constexpr float kE2m1Max = 6.0f;
// rcp.approx.ftz.f32(6.0f) as sgl-kernel's build computes it: folded at compile time to fl32(1/6), 0x3E2AAAAB.
// Written as the constant so that no build (-G turns the folding off) leaves it to the instruction at run time.
constexpr float kRcpE2m1Max = 0.16666667163372039795f;

// The hardware conversion exists on the family-specific Blackwell targets (sm_100a/f, 103, 110, 120, 121),
// the same condition under which cuda_fp4.h itself uses it.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 1000 && defined(__CUDA_ARCH_FAMILY_SPECIFIC__)
#define KERNELKIT_HW_E2M1 1
#else
#define KERNELKIT_HW_E2M1 0
#endif

namespace fp4_detail {

__host__ __device__ __forceinline__ uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

__host__ __device__ __forceinline__ float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

// IEEE single-precision ops, rounded to nearest even, never contracted into an FMA, denormals kept (the library
// is built without -ftz). The host versions (SSE on x86-64) give the same bits: the tests run the kernel's code
// on the CPU through them.
__host__ __device__ __forceinline__ float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

__host__ __device__ __forceinline__ float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

__host__ __device__ __forceinline__ float div_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

// rcp.approx.ftz.f32: an approximate 1 / x (within 1 ulp, not always the correctly rounded value); a denormal x
// reads as +-0 (-> +-inf) and a denormal result is flushed to +-0. The host version, for the tests' CPU
// emulation of the kernels only, stands in the correctly rounded 1 / x with the same flushing (the tests'
// CPU reference does the same); the GPU tests hold the kernels to the instruction itself.
__host__ __device__ __forceinline__ float rcp_approx_ftz(float x) {
#ifdef __CUDA_ARCH__
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
#else
  constexpr float kMinNormal = 1.17549435e-38f;  // 2^-126
  const float in = std::fabs(x) < kMinNormal ? std::copysign(0.0f, x) : x;
  const float r = 1.0f / in;
  return std::fabs(r) < kMinNormal ? std::copysign(0.0f, r) : r;
#endif
}

}  // namespace fp4_detail

// The e2m1 magnitude code (0..7) of a >= 0 (inf included, NaN not), without the e2m1 instruction.
// Two ranges, one select:
//   a < 2:  the codes are the multiples of 0.5 (0..4); adding 1.5 * 2^22 (whose ulp is 0.5) rounds a to
//           one, to nearest even, in the FPU, and the sum's low bits are the multiple.
//   a >= 2: keep one mantissa bit of the float, rounding to nearest even on the bits; exponent and
//           mantissa then count up from 2.0 -> 4, 3 -> 5, 4 -> 6, 6 -> 7, and everything above saturates to 7.
__host__ __device__ __forceinline__ uint32_t e2m1_magnitude_code(float a) {
  using namespace fp4_detail;
  const uint32_t mag = float_bits(a);
  const uint32_t low = float_bits(add_rn(a, 6291456.0f)) - 0x4ac00000u;  // 6291456 = 1.5 * 2^22
  const uint32_t kept = (mag + 0x001fffffu + ((mag >> 22) & 1u)) >> 22;  // 2.0f -> 256
  const uint32_t high = kept - 252u < 7u ? kept - 252u : 7u;
  return mag < 0x40000000u ? low : high;  // 0x40000000 = 2.0f
}

// The e2m1 code of y (low 4 bits): the sign bit, kept for zero and underflow, over the magnitude code;
// NaN -> +6 (its magnitude bits go through the `a >= 2` range, which saturates them to 7).
__host__ __device__ __forceinline__ uint32_t e2m1_code(float y) {
  using namespace fp4_detail;
  const uint32_t bits = float_bits(y);
  const uint32_t mag = bits & 0x7fffffffu;
  const uint32_t sign = mag > 0x7f800000u ? 0u : (bits >> 28) & 8u;
  return sign | e2m1_magnitude_code(bits_float(mag));
}

// PTX prmt (the generic mode): byte n of the result is byte (sel >> 4n) & 7 of {b, a}, or that byte's
// top bit copied into all 8 bits when (sel >> 4n) & 8.
__host__ __device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
#ifdef __CUDA_ARCH__
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
  return d;
#else
  const uint64_t src = a | static_cast<uint64_t>(b) << 32;
  uint32_t d = 0;
  for (int n = 0; n < 4; ++n) {
    const uint32_t s = (sel >> (4 * n)) & 0xfu;
    uint32_t byte = static_cast<uint32_t>(src >> (8 * (s & 7u))) & 0xffu;
    if (s & 8u) byte = (byte & 0x80u) ? 0xffu : 0u;
    d |= byte << (8 * n);
  }
  return d;
#endif
}

// The sign bits of eight 16-bit floats packed two per word (r0 holds values 0 and 1, value 0 in the low
// half) moved to where e2m1 codes keep them: bit 4i + 3 for value i. Four byte permutes and a select.
__host__ __device__ __forceinline__ uint32_t sign_nibbles(uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3) {
  const uint32_t lo = prmt(r0, r1, 0xfdb9u), hi = prmt(r2, r3, 0xfdb9u);     // 0x00/0xff per value 0..3 / 4..7
  const uint32_t even = prmt(lo, hi, 0x6420u), odd = prmt(lo, hi, 0x7531u);  // values 0,2,4,6 / 1,3,5,7
  return (even & 0x08080808u) | (odd & 0x80808080u);
}

// Eight values -> eight e2m1 codes, two per byte, the even-indexed value in the low nibble.
__host__ __device__ __forceinline__ uint32_t e2m1x8(const float* y) {
#if KERNELKIT_HW_E2M1
  uint32_t packed;
  // cvt ... d, a, b puts a in the high nibble: pass the odd element first.
  asm("{\n"
      ".reg .b8 q0, q1, q2, q3;\n"
      "cvt.rn.satfinite.e2m1x2.f32 q0, %2, %1;\n"
      "cvt.rn.satfinite.e2m1x2.f32 q1, %4, %3;\n"
      "cvt.rn.satfinite.e2m1x2.f32 q2, %6, %5;\n"
      "cvt.rn.satfinite.e2m1x2.f32 q3, %8, %7;\n"
      "mov.b32 %0, {q0, q1, q2, q3};\n"
      "}"
      : "=r"(packed)
      : "f"(y[0]), "f"(y[1]), "f"(y[2]), "f"(y[3]), "f"(y[4]), "f"(y[5]), "f"(y[6]), "f"(y[7]));
  return packed;
#else
  uint32_t packed = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) packed |= e2m1_code(y[i]) << (4 * i);
  return packed;
#endif
}

// A block's e4m3 scale from its max |x| and the global scale gs: e4m3_rn_sat(gs * (vmax * rcp(6))), in that
// order; e4m3 as torch's .clamp(-448, 448).to(float8_e4m3fn) (NaN stays NaN: an all-NaN block's scale is NaN).
__host__ __device__ __forceinline__ uint8_t fp4_scale_e4m3(float vmax, float gs) {
  using namespace fp4_detail;
  const float scaled = mul_rn(gs, mul_rn(vmax, kRcpE2m1Max));
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(scaled, __NV_SATFINITE, __NV_E4M3));
}

// What a block's values are multiplied by before rounding to e2m1, from its scale's e4m3 bits:
// sf == 0 ? 0 : rcp(sf * rcp(gs)) (NaN for a NaN scale). It depends on the 8 bits only, so kernels may
// tabulate it once (256 entries).
__host__ __device__ __forceinline__ float fp4_inv_scale(uint8_t sf, float gs) {
  using namespace fp4_detail;
  const float sf_value = __half2float(__half(__nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(sf), __NV_E4M3)));
  return sf_value == 0.0f ? 0.0f : rcp_approx_ftz(mul_rn(sf_value, rcp_approx_ftz(gs)));
}

// max |x| of a block that holds a NaN, as sgl-kernel's __hmax takes it: NaN ignored, NaN only when all 16 are.
__host__ __device__ __forceinline__ float fp4_absmax_with_nan(const float (&x)[kFp4BlockSize]) {
  float vmax = fabsf(x[0]);
#pragma unroll
  for (int i = 1; i < kFp4BlockSize; ++i) vmax = fmaxf(vmax, fabsf(x[i]));
  return vmax;
}

// Byte offset of the scale of (row, block) in the 128x4 swizzled layout, `block_tiles` =
// round_up(blocks per row, 4) / 4 (the padded scale tensor is [round_up(rows, 128), 4 * block_tiles]).
__host__ __device__ __forceinline__ int64_t fp4_scale_offset(int64_t row, int64_t block, int64_t block_tiles) {
  return ((row >> 7) * block_tiles + (block >> 2)) * 512 + (row & 31) * 16 + ((row >> 5) & 3) * 4 + (block & 3);
}

// ------------------------------------------------------------------------------------------------
// One block of 16 bf16/fp16 values -> 16 codes and a scale: the work every FP4 quantizer does per thread.
// The values travel as raw 16-bit bits, two per word (the even value in the low half): the maximum is then
// taken on integers and the sign bits move over with byte permutes.

template <typename T>
struct Fp4Bits16;
template <>
struct Fp4Bits16<__nv_bfloat16> {
  static constexpr uint32_t kInf = 0x7f80u;  // magnitude bits above this are NaN
  __host__ __device__ static float to_float(uint32_t bits16) { return fp4_detail::bits_float(bits16 << 16); }
  __host__ __device__ static uint32_t from_float(float x) {
    return static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(x)).x;
  }
};
template <>
struct Fp4Bits16<__half> {
  static constexpr uint32_t kInf = 0x7c00u;
  __host__ __device__ static float to_float(uint32_t bits16) {
    __half_raw raw;
    raw.x = static_cast<unsigned short>(bits16);
    return __half2float(__half(raw));
  }
  __host__ __device__ static uint32_t from_float(float x) { return static_cast<__half_raw>(__float2half_rn(x)).x; }
};

__host__ __device__ __forceinline__ uint32_t fp4_max_u16x2(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
  return __vmaxu2(a, b);  // one VIMNMX on sm_90
#else
  const uint32_t lo = std::max(a & 0xffffu, b & 0xffffu), hi = std::max(a >> 16, b >> 16);
  return lo | hi << 16;
#endif
}

// The 16 values at p as 8 words, LV values per access (8: two 16-byte loads).
template <typename T, int LV>
__host__ __device__ __forceinline__ void fp4_load16(const T* p, uint32_t (&r)[8]) {
#ifdef __CUDA_ARCH__
  if constexpr (LV == 8) {
    const uint4 a = *reinterpret_cast<const uint4*>(p), b = *reinterpret_cast<const uint4*>(p + 8);
    r[0] = a.x, r[1] = a.y, r[2] = a.z, r[3] = a.w, r[4] = b.x, r[5] = b.y, r[6] = b.z, r[7] = b.w;
  } else {
    const uint16_t* bits = reinterpret_cast<const uint16_t*>(p);
    uint16_t v[kFp4BlockSize];
#pragma unroll
    for (int j = 0; j < kFp4BlockSize / LV; ++j) {
      const auto chunk = Vec<uint16_t, LV>::load(bits + j * LV);  // LV * 2 bytes in one access
#pragma unroll
      for (int i = 0; i < LV; ++i) v[j * LV + i] = chunk[i];
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) r[i] = v[2 * i] | static_cast<uint32_t>(v[2 * i + 1]) << 16;
  }
#else
  uint16_t v[kFp4BlockSize];
  std::memcpy(v, p, sizeof(v));
  for (int i = 0; i < 8; ++i) r[i] = v[2 * i] | static_cast<uint32_t>(v[2 * i + 1]) << 16;
#endif
}

// 16 values (raw bits of T) -> 16 e2m1 codes (two words, 8 bytes) and the block's e4m3 scale, which it
// returns. `inv_of(sf)` gives fp4_inv_scale(sf, gs): a kernel with one global scale looks it up in a table
// made once per CTA, one with a scale per expert computes it.
template <typename T, typename InvOf>
__host__ __device__ __forceinline__ uint8_t fp4_quantize16(const uint32_t (&r)[8], float gs, InvOf inv_of,
                                                           uint32_t (&words)[2]) {
  using B = Fp4Bits16<T>;
  float x[kFp4BlockSize];
#pragma unroll
  for (int i = 0; i < 8; ++i) x[2 * i] = B::to_float(r[i] & 0xffffu), x[2 * i + 1] = B::to_float(r[i] >> 16);

  // max |x| on the raw bits (monotonic for magnitudes, NaN above inf): four 3-way integer maxima; a block
  // with NaN takes the float maximum, which ignores NaN (and is NaN when all 16 are, as sgl-kernel's).
  uint32_t m = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) m = fp4_max_u16x2(m, r[i] & 0x7fff7fffu);
  const uint32_t top = (m & 0xffffu) > (m >> 16) ? (m & 0xffffu) : (m >> 16);
  const bool has_nan = top > B::kInf;
  float vmax = B::to_float(top);
  if (has_nan) vmax = fp4_absmax_with_nan(x);
  const uint8_t sf = fp4_scale_e4m3(vmax, gs);
  const float inv = inv_of(sf);

#if KERNELKIT_HW_E2M1
#pragma unroll
  for (int i = 0; i < kFp4BlockSize; ++i) x[i] = fp4_detail::mul_rn(x[i], inv);
  words[0] = e2m1x8(x), words[1] = e2m1x8(x + 8);
#else
  // Without NaN and with 0 <= inv < inf (any sane global scale), x * inv has x's sign and |x| * inv's
  // magnitude: the codes come from the magnitudes and the sign bits straight from the input's bits.
  if (!has_nan && inv >= 0.0f && inv <= 3.4028235e38f) {
#pragma unroll
    for (int w = 0; w < 2; ++w) {
      uint32_t codes = 0;  // value 7 first: each step is one shift-and-add (LEA)
#pragma unroll
      for (int i = 7; i >= 0; --i)
        codes = (codes << 4) + e2m1_magnitude_code(fp4_detail::mul_rn(fabsf(x[8 * w + i]), inv));
      words[w] = codes | sign_nibbles(r[4 * w], r[4 * w + 1], r[4 * w + 2], r[4 * w + 3]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < kFp4BlockSize; ++i) x[i] = fp4_detail::mul_rn(x[i], inv);
    words[0] = e2m1x8(x), words[1] = e2m1x8(x + 8);
  }
#endif
  return sf;
}

}  // namespace kernelkit
