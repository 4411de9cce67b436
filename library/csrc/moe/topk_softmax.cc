// topk_softmax: the torch face of launch_topk_softmax (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/moe/topk_softmax.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void topk_softmax(Tensor topk_weights, Tensor topk_ids, Tensor gating_output, bool renormalize, double moe_softcapping,
                  std::optional<Tensor> correction_bias, bool enable_pdl) {
  constexpr const char* op = "topk_softmax";
  const DType dtype = float_dtype_in(gating_output, op, "gating_output", {DType::kBFloat16, DType::kFloat16, DType::kFloat32});
  check_same_dtype(gating_output, "gating_output", topk_weights, "topk_weights", op);
  check_same_shape(gating_output, "gating_output", topk_weights, "topk_weights", op);
  check_contiguous(gating_output, op, "gating_output");
  check_contiguous(topk_weights, op, "topk_weights");
  // An absent correction_bias stands in as gating_output: nothing to check.
  check_devices(
      op,
      {{"gating_output", gating_output}, {"topk_weights", topk_weights}, {"topk_ids", topk_ids}, {"correction_bias", correction_bias ? *correction_bias : gating_output}});
  if (gating_output.numel() == 0) return;  // nothing to launch
  const int32_t device = gating_output.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const cudaError_t err =
      launch_topk_softmax(topk_weights.data_ptr(), topk_ids.data_ptr(), gating_output.data_ptr(), renormalize,
                          moe_softcapping, correction_bias ? correction_bias->data_ptr() : nullptr, enable_pdl,
                          gating_output.numel(), dtype, current_cuda_stream(device));
  check_launch(err, op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, topk_softmax, &kernelkit::binding::topk_softmax,
    "topk_softmax(Tensor! topk_weights, Tensor! topk_ids, Tensor gating_output, bool renormalize, float moe_softcapping, Tensor? correction_bias, bool enable_pdl) -> ()");
