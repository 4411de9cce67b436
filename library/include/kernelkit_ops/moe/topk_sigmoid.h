// The launcher of topk_sigmoid: defined by its kernel (csrc/moe/topk_sigmoid.cu), called by its binding
// (csrc/moe/topk_sigmoid.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// topk_sigmoid: per row t of gating_output [T, E], s = sigmoid(x); the topk experts with the largest s + bias (lower
// id first on ties) into topk_ids[t], their (s + bias) - bias into topk_weights[t]; renormalize scales them to sum 1.
// correction_bias: nullptr or E floats. 1 <= topk <= 16, E <= 2048.
cudaError_t launch_topk_sigmoid(float* topk_weights, int64_t weights_row_stride, int32_t* topk_ids,
                                int64_t ids_row_stride, const void* gating_output, int64_t gating_row_stride,
                                const float* correction_bias, int64_t num_tokens, int num_experts, int topk,
                                bool renormalize, bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
