// The launcher of kimi_k2_moe_fused_gate: defined by its kernel (csrc/moe/kimi_k2_moe_fused_gate.cu), called by its
// binding (csrc/moe/kimi_k2_moe_fused_gate.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kernelkit {

// kimi_k2_moe_fused_gate: fp32 input [T, E] and bias [E] (E = 384; the kernel takes E <= 512); the topk experts with
// the largest sigmoid(x) + bias into topk_ids [T, topk], their sigmoid(x) (renormalised, optionally scaled) into
// topk_weights. 1 <= topk <= 16.
cudaError_t launch_kimi_k2_moe_fused_gate(float* topk_weights, int64_t weights_row_stride, int32_t* topk_ids,
                                          int64_t ids_row_stride, const float* input, int64_t input_row_stride,
                                          const float* bias, int64_t num_tokens, int num_experts, int topk,
                                          bool renormalize, double routed_scaling_factor,
                                          bool apply_routed_scaling_factor_on_output, bool enable_pdl,
                                          cudaStream_t stream);

}  // namespace kernelkit
