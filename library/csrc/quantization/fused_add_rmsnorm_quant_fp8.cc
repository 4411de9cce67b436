// fused_add_rmsnorm_quant_fp8: the torch face of launch_fused_add_rmsnorm_quant_fp8 (validate the tensors, pick the
// stream, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/quantization/fused_add_rmsnorm_quant_fp8.h"
#include "kernelkit/binding.h"
#include "norm/rmsnorm_binding.h"
#include "quantization/quant_binding.h"

namespace kernelkit::binding {
namespace {

void fused_add_rmsnorm_quant_fp8(Tensor input, Tensor residual, Tensor weight, Tensor output_q, Tensor output_s,
                                 double eps, bool match_unfused, bool enable_pdl) {
  constexpr const char* op = "fused_add_rmsnorm_quant_fp8";
  const DType dtype = check_norm_inputs(op, input, "input", weight, eps);
  check_same_dtype(input, "input", residual, "residual", op);
  check_same_shape(input, "input", residual, "residual", op);
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t res_stride = row_stride(residual, op, "residual");
  const int64_t q_stride = check_fp8_output(op, input, output_q);
  check_row_scales(op, input, output_s);
  check_devices(
      op,
      {{"input", input}, {"residual", residual}, {"weight", weight}, {"output_q", output_q}, {"output_s", output_s}});
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_fused_add_rmsnorm_quant_fp8(
                   output_q.data_ptr(), q_stride, static_cast<float*>(output_s.data_ptr()), input.data_ptr(), in_stride,
                   residual.data_ptr(), res_stride, weight.data_ptr(), rows, input.size(input.dim() - 1), eps,
                   match_unfused, enable_pdl, dtype, current_cuda_stream(input.get_device_index())),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, fused_add_rmsnorm_quant_fp8, &kernelkit::binding::fused_add_rmsnorm_quant_fp8,
    "fused_add_rmsnorm_quant_fp8(Tensor input, Tensor! residual, Tensor weight, Tensor! output_q, Tensor! output_s, float eps, bool match_unfused, bool enable_pdl) -> ()");
