// The launcher of bmm_fp8: defined by its kernel (csrc/gemm/bmm_fp8.cu), called by its binding
// (csrc/gemm/bmm_fp8.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// bmm_fp8: out[l, m, n] = round((a_scale * b_scale) * sum_k a[l, m, k] * b[l, k, n]) for l < batch, the sum in fp32
// (the tensor cores' partial sums promoted into fp32 every 4 MMAs), rounded once to out_dtype (bfloat16 or float16).
// a [batch, m, k] float8_e4m3fn, rows a_row_stride elements apart; b [batch, k, n] float8_e4m3fn, columns b_col_stride
// apart (column-major); out [batch, m, n], rows out_row_stride apart; each with its batch stride. a_scale and b_scale
// point to one float each on the GPU, read when the kernel runs. The caller has checked what TMA needs: 16-byte
// aligned pointers, strides and k multiples of 16 elements, n of 8.
cudaError_t launch_bmm_fp8(void* out, int64_t out_row_stride, int64_t out_batch_stride, const void* a,
                           int64_t a_row_stride, int64_t a_batch_stride, const void* b, int64_t b_col_stride,
                           int64_t b_batch_stride, const float* a_scale, const float* b_scale, int64_t batch, int64_t m,
                           int64_t n, int64_t k, DType out_dtype, cudaStream_t stream);

}  // namespace kernelkit
