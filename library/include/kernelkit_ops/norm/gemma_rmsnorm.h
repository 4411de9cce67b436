// The launcher of gemma_rmsnorm: defined by its kernel (csrc/norm/gemma_rmsnorm.cu), called by its binding
// (csrc/norm/gemma_rmsnorm.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// gemma_rmsnorm: out[r] = input[r] * rsqrt(mean(input[r]^2) + eps) * (1 + weight)
cudaError_t launch_gemma_rmsnorm(void* out, int64_t out_row_stride, const void* input, int64_t input_row_stride,
                                 const void* weight, int64_t num_rows, int64_t hidden, double eps, bool enable_pdl,
                                 DType dtype, cudaStream_t stream);

}  // namespace kernelkit
