// The launcher of sgl_per_token_group_quant_int8: defined by its kernel
// (csrc/quantization/sgl_per_token_group_quant_int8.cu), called by its binding
// (csrc/quantization/sgl_per_token_group_quant_int8.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// sgl_per_token_group_quant_int8: as sgl_per_token_group_quant_fp8 with s = max(absmax, eps) / int8_max
// and q = rint(clamp(x / s, int8_min, int8_max)) as int8 (NaN -> 0).
cudaError_t launch_sgl_per_token_group_quant_int8(void* output_q, int64_t q_row_stride, float* output_s,
                                                  int64_t s_row_stride, int64_t s_group_stride, const void* input,
                                                  int64_t input_row_stride, int64_t num_rows, int64_t hidden,
                                                  int64_t group_size, double eps, double int8_min, double int8_max,
                                                  bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
