// The launcher of topk_softmax: defined by its kernel (csrc/moe/topk_softmax.cu), called by its binding
// (csrc/moe/topk_softmax.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// topk_softmax: per row t of gating_output [T, E] (rows `gating_row_stride` apart), p = softmax(cap(x) + bias);
// topk_weights[t] / topk_ids[t] (rows `*_row_stride` apart) = the topk largest p, largest first, lower id first on
// ties; renormalize scales them to sum 1. correction_bias: nullptr or E floats. 1 <= topk <= 16, E <= 2048.
cudaError_t launch_topk_softmax(float* topk_weights, int64_t weights_row_stride, int32_t* topk_ids,
                                int64_t ids_row_stride, const void* gating_output, int64_t gating_row_stride,
                                const float* correction_bias, int64_t num_tokens, int num_experts, int topk,
                                bool renormalize, float moe_softcapping, bool enable_pdl, DType dtype,
                                cudaStream_t stream);

}  // namespace kernelkit
