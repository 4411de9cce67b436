// The launcher of top_k_mask_logits: defined by its kernel (csrc/sampling/top_k_mask_logits.cu), called by its binding
// (csrc/sampling/top_k_mask_logits.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// top_k_mask_logits: per row, the logits >= its k-th largest unchanged, the others -inf (k <= 0 or
// k >= vocab keeps all); fp32/fp16/bf16, output contiguous in the input's dtype.
cudaError_t launch_top_k_mask_logits(const void* logits, int64_t row_stride, void* masked_logits,
                                     const int32_t* top_k_arr, int64_t top_k_val, int64_t rows, int64_t vocab,
                                     bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
