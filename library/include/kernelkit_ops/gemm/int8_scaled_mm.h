// The launcher of int8_scaled_mm: defined by its kernel (csrc/gemm/int8_scaled_mm.cu), called by its binding
// (csrc/gemm/int8_scaled_mm.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// int8_scaled_mm: out[m, n] = round(scales_a[m] * (acc[m, n] * scales_b[n]) + bias[n]), acc = sum_k mat_a[m, k] *
// mat_b[k, n] in int32 (exact); the scales' products and the bias in fp32, rounded once to out_dtype
// (bfloat16 or float16). mat_a [m, k] int8, rows a_row_stride elements apart; mat_b [k, n] int8, columns
// b_col_stride apart (column-major); out [m, n], rows out_row_stride apart; bias (out_dtype, n values) may be nullptr.
// The caller has checked what TMA needs: 16-byte aligned pointers, strides and k multiples of 16 elements, n of 8.
cudaError_t launch_int8_scaled_mm(void* out, int64_t out_row_stride, const void* mat_a, int64_t a_row_stride,
                                  const void* mat_b, int64_t b_col_stride, const float* scales_a, const float* scales_b,
                                  const void* bias, int64_t m, int64_t n, int64_t k, DType out_dtype,
                                  cudaStream_t stream);

}  // namespace kernelkit
