// Fixed-width vectors of T for aligned 2..16-byte loads/stores, and fp32 conversions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace kernelkit {

template <typename T>
__device__ __forceinline__ float to_float(T x);
template <>
__device__ __forceinline__ float to_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ float to_float<__half>(__half x) {
  return __half2float(x);
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// N elements of T moved as one access of N * sizeof(T) bytes (the caller guarantees alignment).
template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];

  __device__ __forceinline__ static Vec load(const T* p) { return *reinterpret_cast<const Vec*>(p); }
  __device__ __forceinline__ void store(T* p) const { *reinterpret_cast<Vec*>(p) = *this; }
  __device__ __forceinline__ T& operator[](int i) { return v[i]; }
  __device__ __forceinline__ const T& operator[](int i) const { return v[i]; }
};

// The compiler must assume the registers of v changed here (and emits no instruction). Placed after a
// reduction, it stops the compiler from keeping fp32 conversions of a packed vector alive across it
// (twice the registers) instead of converting again: a register-bound kernel's occupancy depends on it.
template <typename V>
__device__ __forceinline__ void opaque_words(V& v) {
  if constexpr (sizeof(V) % 4 == 0) {
    uint32_t* w = reinterpret_cast<uint32_t*>(&v);
#pragma unroll
    for (int k = 0; k < int(sizeof(V) / 4); ++k) asm volatile("" : "+r"(w[k]));
  } else {
    static_assert(sizeof(V) == 2, "one 16-bit element or whole 32-bit words");
    asm volatile("" : "+h"(*reinterpret_cast<uint16_t*>(&v)));
  }
}

}  // namespace kernelkit
