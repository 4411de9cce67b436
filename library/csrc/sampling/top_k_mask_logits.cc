// top_k_mask_logits: the torch face of launch_top_k_mask_logits (validate the arguments, pick the stream, launch) and
// the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/sampling/top_k_mask_logits.h"
#include "kernelkit/binding.h"
#include "sampling/sampling_binding.h"

namespace kernelkit::binding {
namespace {

void top_k_mask_logits(Tensor logits, Tensor masked_logits, std::optional<Tensor> top_k_arr, int64_t top_k_val,
                       bool enable_pdl) {
  constexpr const char* op = "top_k_mask_logits";
  const DType dtype = float_dtype(logits, op, "logits");
  const int64_t stride = check_rows_2d(op, logits, "logits");
  const int64_t rows = logits.size(0);
  check_rows_out(op, logits, "logits", masked_logits, "masked_logits", logits.scalar_type());
  const int32_t* k_arr = per_row<int32_t>(op, top_k_arr, "top_k_arr", ScalarType::Int, rows);
  // An absent optional tensor stands in as logits: nothing to check.
  check_devices(op,
                {{"logits", logits}, {"masked_logits", masked_logits}, {"top_k_arr", top_k_arr ? *top_k_arr : logits}});
  if (logits.numel() == 0) return;  // nothing to launch
  const int32_t device = logits.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_top_k_mask_logits(logits.data_ptr(), stride, masked_logits.data_ptr(), k_arr, top_k_val, rows,
                                        logits.size(1), enable_pdl, dtype, current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, top_k_mask_logits, &kernelkit::binding::top_k_mask_logits,
    "top_k_mask_logits(Tensor logits, Tensor! masked_logits, Tensor? top_k_arr, int top_k_val, bool enable_pdl) -> ()");
