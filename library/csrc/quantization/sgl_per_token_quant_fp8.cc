// sgl_per_token_quant_fp8: the torch face of launch_sgl_per_token_quant_fp8 (validate the tensors, pick the stream,
// launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/quantization/sgl_per_token_quant_fp8.h"
#include "kernelkit/binding.h"
#include "quantization/quant_binding.h"

namespace kernelkit::binding {
namespace {

void sgl_per_token_quant_fp8(Tensor input, Tensor output_q, Tensor output_s, bool enable_pdl) {
  constexpr const char* op = "sgl_per_token_quant_fp8";
  const DType dtype = float_dtype(input, op, "input");
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t hidden = input.size(input.dim() - 1);
  KK_CHECK(hidden < (int64_t{1} << 31), op, "hidden size ", hidden, " is too large (max 2^31 - 1)");
  const int64_t q_stride = check_fp8_output(op, input, output_q);
  check_row_scales(op, input, output_s);
  check_devices(op, {{"input", input}, {"output_q", output_q}, {"output_s", output_s}});
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_sgl_per_token_quant_fp8(output_q.data_ptr(), q_stride, static_cast<float*>(output_s.data_ptr()),
                                              input.data_ptr(), in_stride, rows, hidden, enable_pdl, dtype,
                                              current_cuda_stream(input.get_device_index())),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, sgl_per_token_quant_fp8, &kernelkit::binding::sgl_per_token_quant_fp8,
    "sgl_per_token_quant_fp8(Tensor input, Tensor! output_q, Tensor! output_s, bool enable_pdl) -> ()");
