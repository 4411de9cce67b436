// top_k_renorm_probs: the torch face of launch_top_k_renorm_probs (validate the arguments, pick the stream, launch) and
// the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/sampling/top_k_renorm_probs.h"
#include "kernelkit/binding.h"
#include "sampling/sampling_binding.h"

namespace kernelkit::binding {
namespace {

void top_k_renorm_probs(Tensor probs, Tensor renorm_probs, std::optional<Tensor> top_k_arr, int64_t top_k_val,
                        bool enable_pdl) {
  constexpr const char* op = "top_k_renorm_probs";
  check_scalar_type(probs, ScalarType::Float, op, "probs");
  const int64_t stride = check_rows_2d(op, probs, "probs");
  const int64_t rows = probs.size(0);
  check_rows_out(op, probs, "probs", renorm_probs, "renorm_probs", ScalarType::Float);
  const int32_t* k_arr = per_row<int32_t>(op, top_k_arr, "top_k_arr", ScalarType::Int, rows);
  // An absent optional tensor stands in as probs: nothing to check.
  check_devices(op, {{"probs", probs}, {"renorm_probs", renorm_probs}, {"top_k_arr", top_k_arr ? *top_k_arr : probs}});
  if (probs.numel() == 0) return;  // nothing to launch
  const int32_t device = probs.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_top_k_renorm_probs(static_cast<const float*>(probs.data_ptr()), stride,
                                         static_cast<float*>(renorm_probs.data_ptr()), k_arr, top_k_val, rows,
                                         probs.size(1), enable_pdl, current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, top_k_renorm_probs, &kernelkit::binding::top_k_renorm_probs,
    "top_k_renorm_probs(Tensor probs, Tensor! renorm_probs, Tensor? top_k_arr, int top_k_val, bool enable_pdl) -> ()");
