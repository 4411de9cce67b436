// kimi_k2_moe_fused_gate: the torch face of launch_kimi_k2_moe_fused_gate (validate the arguments, pick the stream,
// launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/moe/kimi_k2_moe_fused_gate.h"
#include "kernelkit/binding.h"
#include "moe/moe_gate_binding.h"

namespace kernelkit::binding {
namespace {

// Kimi K2's router: the only expert count sgl-kernel's kernel takes.
constexpr int64_t kKimiExperts = 384;

void kimi_k2_moe_fused_gate(Tensor input_tensor, Tensor bias, Tensor topk_weights, Tensor topk_ids, bool renormalize,
                            double routed_scaling_factor, bool apply_routed_scaling_factor_on_output, bool enable_pdl) {
  constexpr const char* op = "kimi_k2_moe_fused_gate";
  check_scalar_type(input_tensor, ScalarType::Float, op, "input_tensor");
  const int64_t in_stride = moe_gate::matrix_row_stride(input_tensor, op, "input_tensor", "[num_tokens, 384]");
  const int64_t num_tokens = input_tensor.size(0);
  const int64_t num_experts = input_tensor.size(1);
  KK_CHECK(num_experts == kKimiExperts, op, "only supports 384 experts (the last dimension of input_tensor), got ",
           num_experts);
  moe_gate::check_bias(op, "bias", bias, num_experts, ScalarType::Float);
  const moe_gate::Outputs out = moe_gate::check_outputs(op, topk_weights, topk_ids, num_tokens);
  check_devices(
      op, {{"input_tensor", input_tensor}, {"bias", bias}, {"topk_weights", topk_weights}, {"topk_ids", topk_ids}});
  if (num_tokens == 0) return;
  const int32_t device = input_tensor.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_kimi_k2_moe_fused_gate(static_cast<float*>(topk_weights.data_ptr()), out.weights_row_stride,
                                             static_cast<int32_t*>(topk_ids.data_ptr()), out.ids_row_stride,
                                             static_cast<const float*>(input_tensor.data_ptr()), in_stride,
                                             static_cast<const float*>(bias.data_ptr()), num_tokens,
                                             static_cast<int>(num_experts), static_cast<int>(out.topk), renormalize,
                                             routed_scaling_factor, apply_routed_scaling_factor_on_output, enable_pdl,
                                             current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, kimi_k2_moe_fused_gate, &kernelkit::binding::kimi_k2_moe_fused_gate,
    "kimi_k2_moe_fused_gate(Tensor input_tensor, Tensor bias, Tensor! topk_weights, Tensor! topk_ids, bool renormalize, float routed_scaling_factor, bool apply_routed_scaling_factor_on_output, bool enable_pdl) -> ()");
