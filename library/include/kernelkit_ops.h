// Launchers of every kernelkit op: raw pointers, sizes, strides (in elements) and a stream in,
// cudaError_t out. No torch types, so kernels compile as pure CUDA and bindings stay thin.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/dtype.h"

namespace kernelkit {

// kernelkit:launchers-begin
// fused_add_rmsnorm: residual[r] += input[r]; input[r] = rmsnorm(residual[r]) * weight (in place)
cudaError_t launch_fused_add_rmsnorm(void* input, int64_t input_row_stride, void* residual, int64_t residual_row_stride,
                       const void* weight, int64_t num_rows, int64_t hidden, double eps, bool enable_pdl, DType dtype,
                       cudaStream_t stream);

// gelu_and_mul: out[r, :d] = gelu(input[r, :d]) * input[r, d:2d]
cudaError_t launch_gelu_and_mul(void* out, const void* input, int64_t num_rows, int64_t d, int64_t out_row_stride,
                                int64_t input_row_stride, DType dtype, cudaStream_t stream);

// gelu_tanh_and_mul: out[r, :d] = gelu_tanh(input[r, :d]) * input[r, d:2d]
cudaError_t launch_gelu_tanh_and_mul(void* out, const void* input, int64_t num_rows, int64_t d,
                                     int64_t out_row_stride, int64_t input_row_stride, DType dtype,
                                     cudaStream_t stream);

// gemma_fused_add_rmsnorm: residual[r] += input[r]; input[r] = rmsnorm(residual[r]) * (1 + weight) (in place)
cudaError_t launch_gemma_fused_add_rmsnorm(void* input, int64_t input_row_stride, void* residual, int64_t residual_row_stride,
                       const void* weight, int64_t num_rows, int64_t hidden, double eps, bool enable_pdl, DType dtype,
                       cudaStream_t stream);

// gemma_rmsnorm: out[r] = input[r] * rsqrt(mean(input[r]^2) + eps) * (1 + weight)
cudaError_t launch_gemma_rmsnorm(void* out, int64_t out_row_stride, const void* input, int64_t input_row_stride,
                       const void* weight, int64_t num_rows, int64_t hidden, double eps, bool enable_pdl, DType dtype,
                       cudaStream_t stream);

// rmsnorm: out[r] = input[r] * rsqrt(mean(input[r]^2) + eps) * weight
cudaError_t launch_rmsnorm(void* out, int64_t out_row_stride, const void* input, int64_t input_row_stride,
                       const void* weight, int64_t num_rows, int64_t hidden, double eps, bool enable_pdl, DType dtype,
                       cudaStream_t stream);

// silu_and_mul: out[r, :d] = silu(input[r, :d]) * input[r, d:2d]
cudaError_t launch_silu_and_mul(void* out, const void* input, int64_t num_rows, int64_t d, int64_t out_row_stride,
                                int64_t input_row_stride, DType dtype, cudaStream_t stream);
// kernelkit:launchers-end

}  // namespace kernelkit
