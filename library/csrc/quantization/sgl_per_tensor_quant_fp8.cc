// sgl_per_tensor_quant_fp8: the torch face of launch_sgl_per_tensor_quant_fp8 (validate the tensors, pick the stream,
// launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/quantization/sgl_per_tensor_quant_fp8.h"
#include <torch/csrc/stable/ops.h>

#include "kernelkit/binding.h"
#include "quantization/quant_binding.h"

namespace kernelkit::binding {
namespace {

void sgl_per_tensor_quant_fp8(Tensor input, Tensor output_q, Tensor output_s, bool is_static, Tensor workspace,
                              bool enable_pdl) {
  constexpr const char* op = "sgl_per_tensor_quant_fp8";
  const DType dtype = float_dtype(input, op, "input");
  int64_t in_stride = row_stride(input, op, "input");
  int64_t q_stride = check_fp8_output(op, input, output_q);
  check_scalar_type(output_s, ScalarType::Float, op, "output_s");
  KK_CHECK(output_s.numel() == 1 && output_s.dim() <= 1, op, "output_s must have shape [1] (or []), got ",
           shape_str(output_s));
  check_scalar_type(workspace, ScalarType::Float, op, "workspace");
  check_contiguous(workspace, op, "workspace");
  KK_CHECK(is_static || workspace.numel() >= 1, op,
           "workspace must hold at least one float32 for a dynamic scale (output_s itself will do), got ",
           shape_str(workspace));
  check_devices(op, {{"input", input}, {"output_q", output_q}, {"output_s", output_s}, {"workspace", workspace}});
  int64_t rows = num_rows(input);
  if (rows == 0) return;
  int64_t hidden = input.size(input.dim() - 1);
  if (input.is_contiguous() && output_q.is_contiguous()) {  // one flat row: no per-vector row arithmetic
    hidden = input.numel();
    rows = 1;
    in_stride = q_stride = hidden;
  }
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  // A dynamic scale over a tensor one CTA does not hold needs per-CTA scratch. Allocated here, only then, and
  // per call (stream-ordered; concurrent calls and CUDA graphs never share it), so the wrapper passes output_s.
  if (!is_static) {
    const int64_t need = sgl_per_tensor_quant_fp8_workspace_floats(input.data_ptr(), in_stride, rows, hidden, dtype);
    if (workspace.numel() < need) workspace = torch::stable::new_empty(input, {need}, ScalarType::Float);
  }
  check_launch(launch_sgl_per_tensor_quant_fp8(output_q.data_ptr(), q_stride, static_cast<float*>(output_s.data_ptr()),
                                               input.data_ptr(), in_stride, rows, hidden, is_static,
                                               static_cast<float*>(workspace.data_ptr()), workspace.numel(), enable_pdl,
                                               dtype, current_cuda_stream(input.get_device_index())),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, sgl_per_tensor_quant_fp8, &kernelkit::binding::sgl_per_tensor_quant_fp8,
    "sgl_per_tensor_quant_fp8(Tensor input, Tensor! output_q, Tensor! output_s, bool is_static, Tensor! workspace, bool enable_pdl) -> ()");
