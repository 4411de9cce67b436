// The launcher of moe_fused_gate: defined by its kernel (csrc/moe/moe_fused_gate.cu), called by its binding
// (csrc/moe/moe_fused_gate.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// moe_fused_gate: every argument of its schema (moe_fused_gate(Tensor input_tensor, Tensor bias, Tensor! topk_weights,
// Tensor! topk_ids, int num_expert_group, int topk_group, int num_fused_shared_experts, float routed_scaling_factor,
// bool apply_routed_scaling_factor_on_output, bool enable_pdl) -> ()): tensors as data pointers, lists as a pointer and
// a length, optional values as a pointer (nullptr for None); str as a C string, ScalarType as its code and Device as
// its index (-1 for None). Then input_tensor's element count and dtype.
cudaError_t launch_moe_fused_gate(const void* input_tensor, const void* bias, void* topk_weights, void* topk_ids,
                                  int64_t num_expert_group, int64_t topk_group, int64_t num_fused_shared_experts,
                                  double routed_scaling_factor, bool apply_routed_scaling_factor_on_output,
                                  bool enable_pdl, int64_t numel, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
