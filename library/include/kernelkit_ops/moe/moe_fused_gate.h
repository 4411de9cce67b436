// The launcher of moe_fused_gate: defined by its kernel (csrc/moe/moe_fused_gate.cu), called by its binding
// (csrc/moe/moe_fused_gate.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// moe_fused_gate: DeepSeek-V3 grouped top-k of input [T, E] (bias [E] of the same dtype) into topk_weights /
// topk_ids [T, topk]; the last num_fused_shared_experts slots are the shared experts E, E + 1, ...
// Requires E a power of two, E % num_expert_group == 0, E / num_expert_group <= 32, num_expert_group <= 32,
// topk <= 16 (the binding checks these).
cudaError_t launch_moe_fused_gate(float* topk_weights, int64_t weights_row_stride, int32_t* topk_ids,
                                  int64_t ids_row_stride, const void* input, int64_t input_row_stride, const void* bias,
                                  int64_t num_tokens, int num_experts, int num_expert_group, int topk_group, int topk,
                                  int num_fused_shared_experts, double routed_scaling_factor,
                                  bool apply_routed_scaling_factor_on_output, bool enable_pdl, DType dtype,
                                  cudaStream_t stream);

}  // namespace kernelkit
