// The launcher of sgl_per_token_group_quant_int8: defined by its kernel
// (csrc/quantization/sgl_per_token_group_quant_int8.cu), called by its binding
// (csrc/quantization/sgl_per_token_group_quant_int8.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// sgl_per_token_group_quant_int8: as sgl_per_token_group_quant_fp8 with int8_max for fp8_max and q the int8
// of clamp(x * y, int8_min, int8_max) truncated toward zero, as sgl-kernel converts it (round_nearest: round
// half to even instead); NaN -> int8_min.
cudaError_t launch_sgl_per_token_group_quant_int8(void* output_q, int64_t q_row_stride, float* output_s,
                                                  int64_t s_row_stride, int64_t s_group_stride, const void* input,
                                                  int64_t input_row_stride, int64_t num_rows, int64_t hidden,
                                                  int64_t group_size, double eps, double int8_min, double int8_max,
                                                  bool v2, bool round_nearest, bool enable_pdl, DType dtype,
                                                  cudaStream_t stream);

}  // namespace kernelkit
