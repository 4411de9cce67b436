// Launchers of every kernelkit op: raw pointers, sizes, strides (in elements) and a stream in,
// cudaError_t out. No torch types, so kernels compile as pure CUDA and bindings stay thin.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/dtype.h"

namespace kernelkit {

// kernelkit:launchers-begin
// apply_rope_with_cos_sin_cache_inplace: query = positions * scale (contiguous, numel elements)
cudaError_t launch_apply_rope_with_cos_sin_cache_inplace(void* out, const void* input, int64_t numel, double scale, DType dtype,
                              cudaStream_t stream);

// gelu_and_mul: out[r, :d] = gelu(input[r, :d]) * input[r, d:2d]
cudaError_t launch_gelu_and_mul(void* out, const void* input, int64_t num_rows, int64_t d, int64_t out_row_stride,
                                int64_t input_row_stride, DType dtype, cudaStream_t stream);

// gelu_tanh_and_mul: out[r, :d] = gelu_tanh(input[r, :d]) * input[r, d:2d]
cudaError_t launch_gelu_tanh_and_mul(void* out, const void* input, int64_t num_rows, int64_t d,
                                     int64_t out_row_stride, int64_t input_row_stride, DType dtype,
                                     cudaStream_t stream);

// silu_and_mul: out[r, :d] = silu(input[r, :d]) * input[r, d:2d]
cudaError_t launch_silu_and_mul(void* out, const void* input, int64_t num_rows, int64_t d, int64_t out_row_stride,
                                int64_t input_row_stride, DType dtype, cudaStream_t stream);
// kernelkit:launchers-end

}  // namespace kernelkit
