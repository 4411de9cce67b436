// merge_state_v2: the torch face of launch_merge_state_v2 (validate the arguments, pick the stream, launch) and the
// op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/attention/merge_state_v2.h"
#include "attention/merge_state_binding.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void merge_state_v2(Tensor v_a, Tensor s_a, Tensor v_b, Tensor s_b, Tensor v_merged, Tensor s_merged, bool enable_pdl) {
  constexpr const char* op = "merge_state_v2";
  DType dtype{};
  const MergeStateArgs args = check_merge_state_args(op, dtype, v_a, s_a, v_b, s_b, v_merged, s_merged);
  if (v_a.numel() == 0) return;  // nothing to launch
  const int32_t device = v_a.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_merge_state_v2(args, enable_pdl, dtype, current_cuda_stream(device)), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, merge_state_v2, &kernelkit::binding::merge_state_v2,
    "merge_state_v2(Tensor v_a, Tensor s_a, Tensor v_b, Tensor s_b, Tensor! v_merged, Tensor! s_merged, bool enable_pdl) -> ()");
