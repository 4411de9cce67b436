// moe_fused_gate: the torch face of launch_moe_fused_gate (validate the arguments, pick the stream, launch) and the
// op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/moe/moe_fused_gate.h"
#include "kernelkit/binding.h"
#include "moe/moe_gate_binding.h"

namespace kernelkit::binding {
namespace {

void moe_fused_gate(Tensor input_tensor, Tensor bias, Tensor topk_weights, Tensor topk_ids, int64_t num_expert_group,
                    int64_t topk_group, int64_t num_fused_shared_experts, double routed_scaling_factor,
                    bool apply_routed_scaling_factor_on_output, bool enable_pdl) {
  constexpr const char* op = "moe_fused_gate";
  const DType dtype = float_dtype(input_tensor, op, "input_tensor");
  const int64_t in_stride = moe_gate::matrix_row_stride(input_tensor, op, "input_tensor", "[num_tokens, num_experts]");
  const int64_t num_tokens = input_tensor.size(0);
  const int64_t num_experts = input_tensor.size(1);
  check_same_dtype(input_tensor, "input_tensor", bias, "bias", op);
  moe_gate::check_bias(op, "bias", bias, num_experts, input_tensor.scalar_type());
  const moe_gate::Outputs out = moe_gate::check_outputs(op, topk_weights, topk_ids, num_tokens);
  KK_CHECK(num_experts >= 1 && (num_experts & (num_experts - 1)) == 0, op,
           "num_experts (the last dimension of input_tensor) must be a power of 2, got ", num_experts);
  KK_CHECK(num_expert_group >= 1 && num_expert_group <= 32, op, "num_expert_group must be in [1, 32], got ",
           num_expert_group);
  KK_CHECK(num_experts % num_expert_group == 0, op, "num_experts must be divisible by num_expert_group, got ",
           num_experts, " / ", num_expert_group);
  const int64_t group_size = num_experts / num_expert_group;
  KK_CHECK(group_size <= 32, op, "experts per group: num_experts / num_expert_group = ", group_size,
           " exceeds the maximum supported (32)");
  KK_CHECK(topk_group >= 1 && topk_group <= num_expert_group, op,
           "topk_group must be in [1, num_expert_group = ", num_expert_group, "], got ", topk_group);
  KK_CHECK(num_fused_shared_experts >= 0 && num_fused_shared_experts < out.topk, op,
           "num_fused_shared_experts must be in [0, topk - 1] (topk = ", out.topk, "), got ", num_fused_shared_experts);
  const int64_t routed = out.topk - num_fused_shared_experts;
  KK_CHECK(routed <= topk_group * group_size, op, "topk - num_fused_shared_experts = ", routed,
           " routed experts cannot be picked from topk_group * (num_experts / num_expert_group) = ",
           topk_group * group_size, " experts");
  check_devices(
      op, {{"input_tensor", input_tensor}, {"bias", bias}, {"topk_weights", topk_weights}, {"topk_ids", topk_ids}});
  if (num_tokens == 0) return;
  const int32_t device = input_tensor.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(
      launch_moe_fused_gate(
          static_cast<float*>(topk_weights.data_ptr()), out.weights_row_stride,
          static_cast<int32_t*>(topk_ids.data_ptr()), out.ids_row_stride, input_tensor.data_ptr(), in_stride,
          bias.data_ptr(), num_tokens, static_cast<int>(num_experts), static_cast<int>(num_expert_group),
          static_cast<int>(topk_group), static_cast<int>(out.topk), static_cast<int>(num_fused_shared_experts),
          routed_scaling_factor, apply_routed_scaling_factor_on_output, enable_pdl, dtype, current_cuda_stream(device)),
      op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, moe_fused_gate, &kernelkit::binding::moe_fused_gate,
    "moe_fused_gate(Tensor input_tensor, Tensor bias, Tensor! topk_weights, Tensor! topk_ids, int num_expert_group, int topk_group, int num_fused_shared_experts, float routed_scaling_factor, bool apply_routed_scaling_factor_on_output, bool enable_pdl) -> ()");
