// merge_state: the torch face of launch_merge_state (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/attention/merge_state.h"
#include "attention/merge_state_binding.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void merge_state(Tensor v_a, Tensor s_a, Tensor v_b, Tensor s_b, Tensor v_merged, Tensor s_merged, bool enable_pdl) {
  constexpr const char* op = "merge_state";
  DType dtype{};
  const MergeStateArgs args = check_merge_state_args(op, dtype, v_a, s_a, v_b, s_b, v_merged, s_merged);
  if (v_a.numel() == 0) return;  // nothing to launch
  const int32_t device = v_a.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_merge_state(args, enable_pdl, dtype, current_cuda_stream(device)), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, merge_state, &kernelkit::binding::merge_state,
    "merge_state(Tensor v_a, Tensor s_a, Tensor v_b, Tensor s_b, Tensor! v_merged, Tensor! s_merged, bool enable_pdl) -> ()");
