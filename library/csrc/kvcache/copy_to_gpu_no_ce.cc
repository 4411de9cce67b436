// copy_to_gpu_no_ce: the torch face of launch_copy_to_gpu_no_ce (validate the arguments, pick the stream, launch) and
// the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/kvcache/copy_to_gpu_no_ce.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void copy_to_gpu_no_ce(Tensor input, Tensor output) {
  constexpr const char* op = "copy_to_gpu_no_ce";
  check_scalar_type(input, ScalarType::Int, op, "input");
  check_scalar_type(output, ScalarType::Int, op, "output");
  KK_CHECK(input.dim() == 1 && input.is_contiguous(), op, "input must be a 1-D contiguous tensor, got shape ",
           shape_str(input));
  KK_CHECK(output.dim() == 1 && output.is_contiguous(), op, "output must be a 1-D contiguous tensor, got shape ",
           shape_str(output));
  KK_CHECK(output.numel() == input.numel(), op, "output must have input's ", input.numel(), " elements, got ",
           output.numel());
  KK_CHECK(input.numel() <= kCopyToGpuNoCeMax, op, "input must have at most ", kCopyToGpuNoCeMax,
           " elements (they travel as kernel parameters), got ", input.numel());
  // The one op whose input lives on the host: its values are read here, into the launch.
  KK_CHECK(!input.is_cuda(), op, "input must be a CPU tensor (its values are read on the host), got a CUDA tensor");
  KK_CHECK(output.is_cuda(), op, "output must be a CUDA tensor");
  if (input.numel() == 0) return;  // nothing to launch
  const int32_t device = output.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(
      launch_copy_to_gpu_no_ce(static_cast<const int32_t*>(input.data_ptr()), static_cast<int32_t*>(output.data_ptr()),
                               input.numel(), current_cuda_stream(device)),
      op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, copy_to_gpu_no_ce, &kernelkit::binding::copy_to_gpu_no_ce,
                      "copy_to_gpu_no_ce(Tensor input, Tensor! output) -> ()");
