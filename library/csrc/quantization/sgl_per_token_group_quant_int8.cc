// sgl_per_token_group_quant_int8: the torch face of launch_sgl_per_token_group_quant_int8 (validate the tensors, pick
// the stream, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_int8.h"
#include "kernelkit/binding.h"
#include "quantization/group_quant_binding.h"

namespace kernelkit::binding {
namespace {

void sgl_per_token_group_quant_int8(Tensor input, Tensor output_q, Tensor output_s, int64_t group_size, double eps,
                                    double fp8_min, double fp8_max, bool v2, bool round_nearest, bool enable_pdl) {
  constexpr const char* op = "sgl_per_token_group_quant_int8";
  const GroupQuantLayout l = check_group_quant(op, input, output_q, ScalarType::Char, output_s, group_size, eps,
                                               {"fp8_min", fp8_min, -128.0}, {"fp8_max", fp8_max, 127.0}, v2);
  if (l.rows == 0 || l.hidden == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_sgl_per_token_group_quant_int8(
                   output_q.data_ptr(), l.q_row_stride, static_cast<float*>(output_s.data_ptr()), l.s_row_stride,
                   l.s_group_stride, input.data_ptr(), l.input_row_stride, l.rows, l.hidden, group_size, eps, fp8_min,
                   fp8_max, v2, round_nearest, enable_pdl, l.dtype, current_cuda_stream(input.get_device_index())),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, sgl_per_token_group_quant_int8, &kernelkit::binding::sgl_per_token_group_quant_int8,
    "sgl_per_token_group_quant_int8(Tensor input, Tensor! output_q, Tensor! output_s, int group_size, float eps, float fp8_min, float fp8_max, bool v2, bool round_nearest, bool enable_pdl) -> ()");
