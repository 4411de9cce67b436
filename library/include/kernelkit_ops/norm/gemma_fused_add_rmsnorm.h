// The launcher of gemma_fused_add_rmsnorm: defined by its kernel (csrc/norm/gemma_fused_add_rmsnorm.cu), called by its
// binding (csrc/norm/gemma_fused_add_rmsnorm.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// gemma_fused_add_rmsnorm: residual[r] += input[r]; input[r] = rmsnorm(residual[r]) * (1 + weight) (in place)
cudaError_t launch_gemma_fused_add_rmsnorm(void* input, int64_t input_row_stride, void* residual,
                                           int64_t residual_row_stride, const void* weight, int64_t num_rows,
                                           int64_t hidden, double eps, bool enable_pdl, DType dtype,
                                           cudaStream_t stream);

}  // namespace kernelkit
