// The launcher of sgl_per_token_group_quant_fp8: defined by its kernel
// (csrc/quantization/sgl_per_token_group_quant_fp8.cu), called by its binding
// (csrc/quantization/sgl_per_token_group_quant_fp8.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// sgl_per_token_group_quant_fp8: for each row r < num_rows and group j < hidden / group_size of input
// (rows of `hidden` contiguous elements, input_row_stride apart), the group's scale s (a power of two when
// scale_ue8m0) into output_s[r * s_row_stride + j * s_group_stride] (fp32) and e4m3(clamp(x * y, fp8_min,
// fp8_max)) into output_q (rows q_row_stride bytes apart), with sgl-kernel's v1 or v2 arithmetic
// (kernelkit/families/per_token_group_quant.cuh). group_size in {8, 16, 32, 64, 128, 256}; eps > 0; v2 only
// for bf16/fp16, eps = 1e-10, [fp8_min, fp8_max] = [-448, 448] and group_size 16..128.
cudaError_t launch_sgl_per_token_group_quant_fp8(void* output_q, int64_t q_row_stride, float* output_s,
                                                 int64_t s_row_stride, int64_t s_group_stride, const void* input,
                                                 int64_t input_row_stride, int64_t num_rows, int64_t hidden,
                                                 int64_t group_size, double eps, double fp8_min, double fp8_max,
                                                 bool scale_ue8m0, bool v2, bool enable_pdl, DType dtype,
                                                 cudaStream_t stream);

}  // namespace kernelkit
