// moe_sum_reduce: the torch face of launch_moe_sum_reduce (validate the arguments, pick the stream, launch) and the
// op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/moe/moe_sum_reduce.h"
#include "kernelkit/binding.h"
#include "moe/moe_sum_binding.h"

namespace kernelkit::binding {
namespace {

void moe_sum_reduce(Tensor input, Tensor output, double routed_scaling_factor, bool enable_pdl) {
  constexpr const char* op = "moe_sum_reduce";
  const MoeSumShape s = check_moe_sum_args(op, input, output);
  check_devices(op, {{"input", input}, {"output", output}});
  if (output.numel() == 0) return;  // nothing to launch
  const int32_t device = input.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  // sgl-kernel casts the factor to fp32 before it multiplies.
  check_launch(
      launch_moe_sum_reduce(output.data_ptr(), s.out_token_stride, input.data_ptr(), s.in_token_stride,
                            s.in_topk_stride, s.tokens, s.topk, s.hidden, static_cast<float>(routed_scaling_factor),
                            enable_pdl, s.dtype, current_cuda_stream(device)),
      op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, moe_sum_reduce, &kernelkit::binding::moe_sum_reduce,
    "moe_sum_reduce(Tensor input, Tensor! output, float routed_scaling_factor, bool enable_pdl) -> ()");
