// The launcher of top_k_renorm_probs: defined by its kernel (csrc/sampling/top_k_renorm_probs.cu), called by its
// binding (csrc/sampling/top_k_renorm_probs.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// top_k_renorm_probs: per row, the values >= its k-th largest (k = top_k_arr[r] or top_k_val; k <= 0 or
// k >= vocab keeps all) divided by their sum (at least 1e-8), the others 0.
cudaError_t launch_top_k_renorm_probs(const float* probs, int64_t row_stride, float* renorm_probs,
                                      const int32_t* top_k_arr, int64_t top_k_val, int64_t rows, int64_t vocab,
                                      bool enable_pdl, cudaStream_t stream);

}  // namespace kernelkit
