// moe_fused_gate: the torch face of launch_moe_fused_gate (validate the arguments, pick the stream, launch) and the
// op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/moe/moe_fused_gate.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void moe_fused_gate(Tensor input_tensor, Tensor bias, Tensor topk_weights, Tensor topk_ids, int64_t num_expert_group,
                    int64_t topk_group, int64_t num_fused_shared_experts, double routed_scaling_factor,
                    bool apply_routed_scaling_factor_on_output, bool enable_pdl) {
  constexpr const char* op = "moe_fused_gate";
  const DType dtype = float_dtype_in(input_tensor, op, "input_tensor", {DType::kBFloat16, DType::kFloat16, DType::kFloat32});
  check_same_dtype(input_tensor, "input_tensor", topk_weights, "topk_weights", op);
  check_same_shape(input_tensor, "input_tensor", topk_weights, "topk_weights", op);
  check_contiguous(input_tensor, op, "input_tensor");
  check_contiguous(topk_weights, op, "topk_weights");
  check_devices(
      op, {{"input_tensor", input_tensor}, {"topk_weights", topk_weights}, {"bias", bias}, {"topk_ids", topk_ids}});
  if (input_tensor.numel() == 0) return;  // nothing to launch
  const int32_t device = input_tensor.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const cudaError_t err = launch_moe_fused_gate(
      input_tensor.data_ptr(), bias.data_ptr(), topk_weights.data_ptr(), topk_ids.data_ptr(), num_expert_group,
      topk_group, num_fused_shared_experts, routed_scaling_factor, apply_routed_scaling_factor_on_output, enable_pdl,
      input_tensor.numel(), dtype, current_cuda_stream(device));
  check_launch(err, op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, moe_fused_gate, &kernelkit::binding::moe_fused_gate,
    "moe_fused_gate(Tensor input_tensor, Tensor bias, Tensor! topk_weights, Tensor! topk_ids, int num_expert_group, int topk_group, int num_fused_shared_experts, float routed_scaling_factor, bool apply_routed_scaling_factor_on_output, bool enable_pdl) -> ()");
