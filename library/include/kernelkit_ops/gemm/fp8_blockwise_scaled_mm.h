// The launcher of fp8_blockwise_scaled_mm: defined by its kernel (csrc/gemm/fp8_blockwise_scaled_mm.cu), called by its
// binding (csrc/gemm/fp8_blockwise_scaled_mm.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// Whether the GEMM reads scales_a [M, K/128] in place: it loads 128 row scales per tile and K block with TMA, so
// the rows must be contiguous (stride_m == 1, or one row), the K-block stride a positive multiple of 4 floats
// (16 bytes; or one K block) and the pointer 16-byte aligned. sgl_per_token_group_quant_fp8's column-major
// scales qualify when M % 4 == 0, its TMA-aligned ones always. Other layouts are first repacked into the
// workspace (one small kernel: M * K/128 floats).
inline bool fp8_blockwise_scales_a_in_place(const void* scales_a, int64_t m, int64_t k_blocks, int64_t stride_m,
                                            int64_t stride_k) {
  const bool rows_ok = m == 1 || stride_m == 1;
  const bool blocks_ok = k_blocks == 1 || (stride_k > 0 && stride_k % 4 == 0 && stride_k < (int64_t{1} << 31));
  return rows_ok && blocks_ok && reinterpret_cast<uintptr_t>(scales_a) % 16 == 0;
}

// Whether the GEMM reads scales_b [K/128, ceil(N/128)] in place: one scale per block (cp.async), K blocks contiguous
// (stride_k == 1, or one K block), N-block stride anything that fits 31 bits. sgl-kernel's layout (the transposed
// view of a contiguous [N/128, K/128] weight scale) qualifies; others are repacked into the workspace.
inline bool fp8_blockwise_scales_b_in_place(int64_t k_blocks, int64_t n_blocks, int64_t stride_k, int64_t stride_n) {
  const bool blocks_ok = k_blocks == 1 || stride_k == 1;
  const bool cols_ok = n_blocks == 1 || (stride_n >= 0 && stride_n < (int64_t{1} << 31));
  return blocks_ok && cols_ok;
}

// The operands of one call. A [M, K] e4m3 row-major (row stride lda), B [K, N] e4m3 column-major (column stride
// ldb), out [M, N] row-major (row stride ldd), scales_a [M, K/128] and scales_b [K/128, ceil(N/128)] fp32 with
// their element strides. K % 128 == 0; pointers and lda/ldb/ldd*sizeof(out) 16-byte aligned (the binding checks).
struct Fp8BlockwiseMmArgs {
  void* out;
  int64_t ldd;
  const void* mat_a;
  int64_t lda;
  const void* mat_b;
  int64_t ldb;
  const float* scales_a;
  int64_t sa_stride_m, sa_stride_k;
  const float* scales_b;
  int64_t sb_stride_k, sb_stride_n;
  int64_t m, n, k;
  DType out_dtype;  // kBFloat16 or kFloat16
};

// Bytes of device workspace the call needs (CUTLASS's stream-K partials and flags, plus repacked scales when a
// layout cannot be read in place); 0 when none. Asks the current device's SM count.
size_t fp8_blockwise_scaled_mm_workspace_bytes(const Fp8BlockwiseMmArgs& args);

// fp8_blockwise_scaled_mm: out[m, n] = sum over k blocks kb of scales_a[m, kb] * scales_b[kb, n / 128] *
// sum_{k in kb} A[m, k] * B[k, n], accumulated in fp32 and rounded once to out's dtype. `workspace` holds
// fp8_blockwise_scaled_mm_workspace_bytes(args) bytes (may be null when that is 0). M == 0 launches nothing.
cudaError_t launch_fp8_blockwise_scaled_mm(const Fp8BlockwiseMmArgs& args, void* workspace, size_t workspace_bytes,
                                           cudaStream_t stream);

}  // namespace kernelkit
