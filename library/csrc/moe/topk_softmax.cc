// topk_softmax: the torch face of launch_topk_softmax (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/moe/topk_softmax.h"
#include "kernelkit/binding.h"
#include "moe/moe_gate_binding.h"

namespace kernelkit::binding {
namespace {

void topk_softmax(Tensor topk_weights, Tensor topk_ids, Tensor gating_output, bool renormalize, double moe_softcapping,
                  std::optional<Tensor> correction_bias, bool enable_pdl) {
  constexpr const char* op = "topk_softmax";
  const DType dtype = float_dtype(gating_output, op, "gating_output");
  const int64_t in_stride =
      moe_gate::matrix_row_stride(gating_output, op, "gating_output", "[num_tokens, num_experts]");
  const int64_t num_tokens = gating_output.size(0);
  const int64_t num_experts = gating_output.size(1);
  const moe_gate::Outputs out = moe_gate::check_outputs(op, topk_weights, topk_ids, num_tokens);
  KK_CHECK(num_experts >= 1 && num_experts <= 2048, op,
           "num_experts (the last dimension of gating_output) must be in [1, 2048] in kernelkit, got ", num_experts);
  KK_CHECK(out.topk <= num_experts, op, "topk (", out.topk, ") must be less than or equal to num_experts (",
           num_experts, ")");
  if (correction_bias) moe_gate::check_bias(op, "correction_bias", *correction_bias, num_experts, ScalarType::Float);
  check_devices(op, {{"gating_output", gating_output},
                     {"topk_weights", topk_weights},
                     {"topk_ids", topk_ids},
                     {"correction_bias", correction_bias ? *correction_bias : gating_output}});
  if (num_tokens == 0) return;
  const int32_t device = gating_output.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(
      launch_topk_softmax(static_cast<float*>(topk_weights.data_ptr()), out.weights_row_stride,
                          static_cast<int32_t*>(topk_ids.data_ptr()), out.ids_row_stride, gating_output.data_ptr(),
                          in_stride, correction_bias ? static_cast<const float*>(correction_bias->data_ptr()) : nullptr,
                          num_tokens, static_cast<int>(num_experts), static_cast<int>(out.topk), renormalize,
                          static_cast<float>(moe_softcapping), enable_pdl, dtype, current_cuda_stream(device)),
      op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, topk_softmax, &kernelkit::binding::topk_softmax,
    "topk_softmax(Tensor! topk_weights, Tensor! topk_ids, Tensor gating_output, bool renormalize, float moe_softcapping, Tensor? correction_bias, bool enable_pdl) -> ()");
