// The launcher of gelu_tanh_and_mul: defined by its kernel (csrc/activation/gelu_tanh_and_mul.cu), called by its
// binding (csrc/activation/gelu_tanh_and_mul.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// gelu_tanh_and_mul: out[r, :d] = gelu_tanh(input[r, :d]) * input[r, d:2d]
cudaError_t launch_gelu_tanh_and_mul(void* out, const void* input, int64_t num_rows, int64_t d, int64_t out_row_stride,
                                     int64_t input_row_stride, bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
