// The launcher of fused_add_rmsnorm_quant_fp8: defined by its kernel
// (csrc/quantization/fused_add_rmsnorm_quant_fp8.cu), called by its binding
// (csrc/quantization/fused_add_rmsnorm_quant_fp8.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// fused_add_rmsnorm_quant_fp8: residual[r] += input[r]; y = rmsnorm(residual[r]) * weight in fp32 (rounded to
// dtype when match_unfused); scales[r] = absmax(y) * fl32(1/448); output_q[r] = e4m3(clamp(y * rcp(scales[r])))
// (rcp 0 -> 0 for a zero row, unless match_unfused: then sgl_per_token_quant_fp8's rule). input is only read.
cudaError_t launch_fused_add_rmsnorm_quant_fp8(void* output_q, int64_t q_row_stride, float* scales, const void* input,
                                               int64_t input_row_stride, void* residual, int64_t residual_row_stride,
                                               const void* weight, int64_t num_rows, int64_t hidden, double eps,
                                               bool match_unfused, bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
