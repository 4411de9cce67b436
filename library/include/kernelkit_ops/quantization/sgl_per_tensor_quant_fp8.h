// The launcher of sgl_per_tensor_quant_fp8: defined by its kernel (csrc/quantization/sgl_per_tensor_quant_fp8.cu),
// called by its binding (csrc/quantization/sgl_per_tensor_quant_fp8.cc). Both include this header, so a signature that
// drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// sgl_per_tensor_quant_fp8: output_q = e4m3(input / s) over [num_rows, hidden] rows (strides in elements; a
// dense tensor may come as one row of numel). is_static: s = scale[0]; else s = max(absmax, 1e-10) / 448 is
// written to scale[0], using workspace (workspace_len floats, no initial value needed) for per-CTA maxima.
// enable_pdl: every kernel but the cooperative one-pass dynamic kernel launches with PDL.
cudaError_t launch_sgl_per_tensor_quant_fp8(void* output_q, int64_t q_row_stride, float* scale, const void* input,
                                            int64_t input_row_stride, int64_t num_rows, int64_t hidden, bool is_static,
                                            float* workspace, int64_t workspace_len, bool enable_pdl, DType dtype,
                                            cudaStream_t stream);

// How many floats of workspace a dynamic launch of this tensor uses (the arguments as for the launcher): 0
// when one CTA holds the tensor (no grid-wide max, no scratch), else one per co-resident CTA at most.
int64_t sgl_per_tensor_quant_fp8_workspace_floats(const void* input, int64_t input_row_stride, int64_t num_rows,
                                                  int64_t hidden, DType dtype);

}  // namespace kernelkit
