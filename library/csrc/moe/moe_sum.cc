// moe_sum: the torch face of launch_moe_sum (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/moe/moe_sum.h"
#include "kernelkit/binding.h"
#include "moe/moe_sum_binding.h"

namespace kernelkit::binding {
namespace {

void moe_sum(Tensor input, Tensor output, bool enable_pdl) {
  constexpr const char* op = "moe_sum";
  const MoeSumShape s = check_moe_sum_args(op, input, output);
  check_devices(op, {{"input", input}, {"output", output}});
  if (output.numel() == 0) return;  // nothing to launch
  const int32_t device = input.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(
      launch_moe_sum(output.data_ptr(), s.out_token_stride, input.data_ptr(), s.in_token_stride, s.in_topk_stride,
                     s.tokens, s.topk, s.hidden, enable_pdl, s.dtype, current_cuda_stream(device)),
      op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, moe_sum, &kernelkit::binding::moe_sum,
                      "moe_sum(Tensor input, Tensor! output, bool enable_pdl) -> ()");
