// The launcher of cutlass_scaled_fp4_mm: defined by its kernel (csrc/gemm/cutlass_scaled_fp4_mm.cu, compiled for
// sm_100a only), called by its binding (csrc/gemm/cutlass_scaled_fp4_mm.cc). Both include this header, so a signature
// that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

constexpr int64_t kFp4MmKAlign = 32;   // K per 16-byte TMA row of packed e2m1 (two values per byte)
constexpr int64_t kFp4MmOutAlign = 8;  // out's row stride in elements: 16-byte TMA rows of bf16/fp16

// The operands of one call. a [M, K/2] and b [N, K/2] uint8, two e2m1 values per byte (the even-indexed value in
// the low nibble), rows of a and b contiguous with row strides lda / ldb in bytes; scale_a / scale_b e4m3, one per
// 16 values along K, in the 128x4 swizzled layout of [round_up(M or N, 128), round_up(K/16, 4)] (what
// scaled_fp4_quant writes), contiguous; alpha one fp32 on the device; out [M, N] row-major, row stride ldd in
// elements. K % 32 == 0, pointers and strides 16-byte aligned (the binding checks all of it).
struct ScaledFp4MmArgs {
  void* out;
  int64_t ldd;
  const void* a;
  int64_t lda;
  const void* b;
  int64_t ldb;
  const void* scale_a;
  const void* scale_b;
  const float* alpha;
  int64_t m, n, k;
  DType out_dtype;  // kBFloat16 or kFloat16
};

// Bytes of device workspace the call needs (CUTLASS's tile scheduler); 0 when none. Only on an sm_100 GPU.
size_t cutlass_scaled_fp4_mm_workspace_bytes(const ScaledFp4MmArgs& args);

// cutlass_scaled_fp4_mm: out[m, n] = alpha * sum_k (e2m1(a[m, k]) * sf_a[m, k / 16]) * (e2m1(b[n, k]) *
// sf_b[n, k / 16]), accumulated in fp32 by the block-scaled tensor cores and rounded once to out's dtype.
// `workspace` holds cutlass_scaled_fp4_mm_workspace_bytes(args) bytes (may be null when that is 0). M == 0 or
// N == 0 launches nothing.
cudaError_t launch_cutlass_scaled_fp4_mm(const ScaledFp4MmArgs& args, void* workspace, size_t workspace_bytes,
                                         cudaStream_t stream);

}  // namespace kernelkit
