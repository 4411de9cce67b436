// dtype -> template instance, and the widest vector a set of pointers/strides allows.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// SMs of the current device (grids are sized by it), asked once per device: the attribute query is not
// free on the launch path. 132 (an H100 SXM) if the query fails.
inline int sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached[kMaxDevices] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) return 132;
  int n = cached[device].load(std::memory_order_relaxed);
  if (n == 0) {
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || n <= 0) n = 132;
    cached[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls fn(TypeTag<T>{}) with T the CUDA type of `dtype`; unknown dtypes are an error code,
// never a silent fallthrough.
template <typename Fn>
cudaError_t dispatch_float_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(TypeTag<float>{});
    case DType::kFloat16: return fn(TypeTag<__half>{});
    case DType::kBFloat16: return fn(TypeTag<__nv_bfloat16>{});
  }
  return cudaErrorInvalidValue;
}

template <DType D>
struct CudaType;
template <>
struct CudaType<DType::kFloat32> {
  using type = float;
};
template <>
struct CudaType<DType::kFloat16> {
  using type = __half;
};
template <>
struct CudaType<DType::kBFloat16> {
  using type = __nv_bfloat16;
};

// Like dispatch_float_dtype, but only for the listed dtypes (an op compiled for a subset).
template <DType... Allowed, typename Fn>
cudaError_t dispatch_dtypes(DType dtype, Fn&& fn) {
  cudaError_t result = cudaErrorInvalidValue;
  ((dtype == Allowed ? (result = fn(TypeTag<typename CudaType<Allowed>::type>{}), true) : false) || ...);
  return result;
}

// Largest element count per vector access (at most 16 bytes) that divides every given
// element count/stride and keeps every given pointer aligned. 16-byte accesses are what
// saturates HBM on Hopper; smaller widths keep odd shapes correct instead of refused.
template <typename T>
inline int pick_vec_width(std::initializer_list<const void*> ptrs, std::initializer_list<int64_t> counts) {
  int vec = 16 / static_cast<int>(sizeof(T));
  for (; vec > 1; vec /= 2) {
    const uintptr_t align = static_cast<uintptr_t>(vec) * sizeof(T);
    bool ok = true;
    for (const void* p : ptrs) ok = ok && (reinterpret_cast<uintptr_t>(p) % align == 0);
    for (int64_t c : counts) ok = ok && (c % vec == 0);
    if (ok) break;
  }
  return vec;
}

// Calls fn(std::integral_constant<int, V>{}) for a runtime vector width V in {1,2,4,8}.
template <typename Fn>
cudaError_t dispatch_vec_width(int vec, Fn&& fn) {
  switch (vec) {
    case 8: return fn(std::integral_constant<int, 8>{});
    case 4: return fn(std::integral_constant<int, 4>{});
    case 2: return fn(std::integral_constant<int, 2>{});
    case 1: return fn(std::integral_constant<int, 1>{});
  }
  return cudaErrorInvalidValue;
}

}  // namespace kernelkit
