// silu_and_mul_scaled_fp4_grouped_quant: the torch face of launch_silu_and_mul_scaled_fp4_grouped_quant (validate the
// arguments, pick the stream, launch) and the op's registration: its schema, and this binding as its CUDA and CPU
// kernel.
#include "kernelkit_ops/quantization/silu_and_mul_scaled_fp4_grouped_quant.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void silu_and_mul_scaled_fp4_grouped_quant(Tensor output, Tensor output_scale, Tensor input, Tensor input_global_scale,
                                           Tensor mask, bool enable_pdl) {
  constexpr const char* op = "silu_and_mul_scaled_fp4_grouped_quant";
  const DType dtype = float_dtype_in(input, op, "input", {DType::kBFloat16, DType::kFloat16});
  check_same_dtype(input, "input", output, "output", op);
  check_same_shape(input, "input", output, "output", op);
  check_contiguous(input, op, "input");
  check_contiguous(output, op, "output");
  check_devices(
      op,
      {{"input", input}, {"output", output}, {"output_scale", output_scale}, {"input_global_scale", input_global_scale}, {"mask", mask}});
  if (input.numel() == 0) return;  // nothing to launch
  const int32_t device = input.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const cudaError_t err = launch_silu_and_mul_scaled_fp4_grouped_quant(
      output.data_ptr(), output_scale.data_ptr(), input.data_ptr(), input_global_scale.data_ptr(), mask.data_ptr(),
      enable_pdl, input.numel(), dtype, current_cuda_stream(device));
  check_launch(err, op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, silu_and_mul_scaled_fp4_grouped_quant, &kernelkit::binding::silu_and_mul_scaled_fp4_grouped_quant,
    "silu_and_mul_scaled_fp4_grouped_quant(Tensor! output, Tensor! output_scale, Tensor input, Tensor input_global_scale, Tensor mask, bool enable_pdl) -> ()");
