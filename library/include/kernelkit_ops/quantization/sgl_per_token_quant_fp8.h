// The launcher of sgl_per_token_quant_fp8: defined by its kernel (csrc/quantization/sgl_per_token_quant_fp8.cu), called
// by its binding (csrc/quantization/sgl_per_token_quant_fp8.cc). Both include this header, so a signature that drifts
// fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// sgl_per_token_quant_fp8: scales[r] = max(absmax(input[r]), 1e-10) / 448; output_q[r] = e4m3(input[r] / scales[r])
cudaError_t launch_sgl_per_token_quant_fp8(void* output_q, int64_t q_row_stride, float* scales, const void* input,
                                           int64_t input_row_stride, int64_t num_rows, int64_t hidden, bool enable_pdl,
                                           DType dtype, cudaStream_t stream);

}  // namespace kernelkit
