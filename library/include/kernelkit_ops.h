// Launchers of every kernelkit op: raw pointers, sizes, strides (in elements) and a stream in,
// cudaError_t out. No torch types, so kernels compile as pure CUDA and bindings stay thin.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/dtype.h"

namespace kernelkit {

// kernelkit:launchers-begin
// apply_rope_with_cos_sin_cache_inplace: in place, for every token t and every head of query (num_q_heads)
// and key (num_k_heads), addressed by (token, head) strides in elements with each head's dims contiguous,
// rotates the first rotary_dim dims by row positions[t] (int64, or int32) of cos_sin_cache
// [max_pos, rotary_dim] fp32 = [cos | sin]; NeoX pairs (i, i + rotary_dim/2), else (2i, 2i + 1).
// A position outside [0, max_pos) leaves its token unchanged and is recorded in position_errors
// (int64[4]: count, token, position, max_pos of the first; may be null).
cudaError_t launch_apply_rope_with_cos_sin_cache_inplace(void* query, void* key, const void* positions,
                                                         const float* cos_sin_cache, int64_t* position_errors,
                                                         int64_t num_tokens, int64_t num_q_heads, int64_t num_k_heads,
                                                         int64_t rotary_dim, int64_t q_token_stride,
                                                         int64_t q_head_stride, int64_t k_token_stride,
                                                         int64_t k_head_stride, int64_t cache_row_stride,
                                                         int64_t max_pos, bool positions_int64, bool is_neox,
                                                         DType dtype, cudaStream_t stream);

// fused_add_rmsnorm: residual[r] += input[r]; input[r] = rmsnorm(residual[r]) * weight (in place)
cudaError_t launch_fused_add_rmsnorm(void* input, int64_t input_row_stride, void* residual, int64_t residual_row_stride,
                       const void* weight, int64_t num_rows, int64_t hidden, double eps, bool enable_pdl, DType dtype,
                       cudaStream_t stream);

// fused_add_rmsnorm_quant_fp8: residual[r] += input[r]; y = rmsnorm(residual[r]) * weight rounded to dtype;
// scales[r] = max(absmax(y), 1e-10) / 448; output_q[r] = e4m3(y / scales[r]). input is only read.
cudaError_t launch_fused_add_rmsnorm_quant_fp8(void* output_q, int64_t q_row_stride, float* scales, const void* input,
                                               int64_t input_row_stride, void* residual, int64_t residual_row_stride,
                                               const void* weight, int64_t num_rows, int64_t hidden, double eps,
                                               bool enable_pdl, DType dtype, cudaStream_t stream);

// gelu_and_mul: out[r, :d] = gelu(input[r, :d]) * input[r, d:2d]
cudaError_t launch_gelu_and_mul(void* out, const void* input, int64_t num_rows, int64_t d, int64_t out_row_stride,
                                int64_t input_row_stride, bool enable_pdl, DType dtype, cudaStream_t stream);

// gelu_tanh_and_mul: out[r, :d] = gelu_tanh(input[r, :d]) * input[r, d:2d]
cudaError_t launch_gelu_tanh_and_mul(void* out, const void* input, int64_t num_rows, int64_t d,
                                     int64_t out_row_stride, int64_t input_row_stride, bool enable_pdl, DType dtype,
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

// scaled_fp4_quant (FP4 builds only): NVFP4 of input [rows, cols] (bf16/fp16, cols % 16 == 0, rows
// input_row_stride elements apart) into output [rows, cols / 2] (two e2m1 per byte, contiguous, 8-byte
// aligned) and output_scale, the 128x4-swizzled e4m3 block scales [round_up(rows, 128), round_up(cols / 16, 4)]
// bytes (padding written as 0); global_scale: one fp32 in device memory.
cudaError_t launch_scaled_fp4_quant(void* output, void* output_scale, const void* input, int64_t input_row_stride,
                                    int64_t rows, int64_t cols, const float* global_scale, bool enable_pdl,
                                    DType dtype, cudaStream_t stream);

// sgl_per_tensor_quant_fp8: output_q = e4m3(input / s) over [num_rows, hidden] rows (strides in elements; a
// dense tensor may come as one row of numel). is_static: s = scale[0]; else s = max(absmax, 1e-10) / 448 is
// written to scale[0], using workspace (workspace_len floats, no initial value needed) for per-CTA maxima.
// enable_pdl: every kernel but the cooperative one-pass dynamic kernel launches with PDL.
cudaError_t launch_sgl_per_tensor_quant_fp8(void* output_q, int64_t q_row_stride, float* scale, const void* input,
                                            int64_t input_row_stride, int64_t num_rows, int64_t hidden,
                                            bool is_static, float* workspace, int64_t workspace_len, bool enable_pdl,
                                            DType dtype, cudaStream_t stream);

// sgl_per_token_group_quant_fp8: for each row r < num_rows and group j < hidden / group_size of input
// (rows of `hidden` contiguous elements, input_row_stride apart), s = max(absmax, eps) / fp8_max
// (pow2_ceil'd when scale_ue8m0) into output_s[r * s_row_stride + j * s_group_stride] (fp32) and
// e4m3(clamp(x / s, fp8_min, fp8_max)) into output_q (rows q_row_stride bytes apart).
// group_size in {16, 32, 64, 128, 256}; eps > 0.
cudaError_t launch_sgl_per_token_group_quant_fp8(void* output_q, int64_t q_row_stride, float* output_s,
                                                 int64_t s_row_stride, int64_t s_group_stride, const void* input,
                                                 int64_t input_row_stride, int64_t num_rows, int64_t hidden,
                                                 int64_t group_size, double eps, double fp8_min, double fp8_max,
                                                 bool scale_ue8m0, bool enable_pdl, DType dtype, cudaStream_t stream);

// sgl_per_token_group_quant_int8: as sgl_per_token_group_quant_fp8 with s = max(absmax, eps) / int8_max
// and q = rint(clamp(x / s, int8_min, int8_max)) as int8 (NaN -> 0).
cudaError_t launch_sgl_per_token_group_quant_int8(void* output_q, int64_t q_row_stride, float* output_s,
                                                  int64_t s_row_stride, int64_t s_group_stride, const void* input,
                                                  int64_t input_row_stride, int64_t num_rows, int64_t hidden,
                                                  int64_t group_size, double eps, double int8_min, double int8_max,
                                                  bool enable_pdl, DType dtype, cudaStream_t stream);

// sgl_per_token_quant_fp8: scales[r] = max(absmax(input[r]), 1e-10) / 448; output_q[r] = e4m3(input[r] / scales[r])
cudaError_t launch_sgl_per_token_quant_fp8(void* output_q, int64_t q_row_stride, float* scales, const void* input,
                                           int64_t input_row_stride, int64_t num_rows, int64_t hidden, bool enable_pdl,
                                           DType dtype, cudaStream_t stream);

// silu_and_mul: out[r, :d] = silu(input[r, :d]) * input[r, d:2d]
cudaError_t launch_silu_and_mul(void* out, const void* input, int64_t num_rows, int64_t d, int64_t out_row_stride,
                                int64_t input_row_stride, bool enable_pdl, DType dtype, cudaStream_t stream);
// kernelkit:launchers-end

}  // namespace kernelkit
