// The launcher of rmsnorm: defined by its kernel (csrc/norm/rmsnorm.cu), called by its binding
// (csrc/norm/rmsnorm.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// rmsnorm: out[r] = input[r] * rsqrt(mean(input[r]^2) + eps) * weight
cudaError_t launch_rmsnorm(void* out, int64_t out_row_stride, const void* input, int64_t input_row_stride,
                           const void* weight, int64_t num_rows, int64_t hidden, double eps, bool enable_pdl,
                           DType dtype, cudaStream_t stream);

}  // namespace kernelkit
