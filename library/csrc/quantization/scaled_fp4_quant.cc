// scaled_fp4_quant: the torch face of launch_scaled_fp4_quant (validate the tensors, pick the stream, launch) and the
// op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/quantization/scaled_fp4_quant.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void scaled_fp4_quant(Tensor output, Tensor input, Tensor output_scale, Tensor input_global_scale, bool enable_pdl) {
  constexpr const char* op = "scaled_fp4_quant";
  const DType dtype = float_dtype_in(input, op, "input", {DType::kBFloat16, DType::kFloat16});
  KK_CHECK(input.dim() == 2, op, "input must be 2-D [m, n], got shape ", shape_str(input));
  const int64_t m = input.size(0), n = input.size(1);
  KK_CHECK(n % 16 == 0, op, "input's last dimension (", n, ") must be a multiple of 16 (one scale per 16 values)");
  KK_CHECK(n <= (int64_t{1} << 30) && m <= INT32_MAX, op, "input of shape ", shape_str(input), " is too large");
  const int64_t in_stride = row_stride(input, op, "input");
  check_scalar_type(output, ScalarType::Byte, op, "output");
  KK_CHECK(output.dim() == 2 && output.size(0) == m && output.size(1) == n / 2, op, "output must have shape [", m, ", ",
           n / 2, "] (two FP4 values per byte), got ", shape_str(output));
  check_contiguous(output, op, "output");
  KK_CHECK(reinterpret_cast<uintptr_t>(output.data_ptr()) % 8 == 0, op, "output must be 8-byte aligned");
  // The scales as sgl-kernel allocates them (int32 [padded_m, padded_blocks / 4]) or as the bytes they
  // are (float8_e4m3fn or uint8 [padded_m, padded_blocks]).
  const int64_t padded_m = (m + 127) / 128 * 128, padded_blocks = (n / 16 + 3) / 4 * 4;
  const ScalarType st = output_scale.scalar_type();
  const int64_t scale_cols = st == ScalarType::Int ? padded_blocks / 4 : padded_blocks;
  KK_CHECK(st == ScalarType::Int || st == ScalarType::Float8_e4m3fn || st == ScalarType::Byte, op,
           "output_scale must be float8_e4m3fn (or int32 / uint8 holding the e4m3 bytes), got ", scalar_type_name(st));
  KK_CHECK(output_scale.dim() == 2 && output_scale.size(0) == padded_m && output_scale.size(1) == scale_cols, op,
           "output_scale must have shape [", padded_m, ", ", scale_cols, "] (rows padded to 128, blocks of 16 to 4",
           st == ScalarType::Int ? ", 4 scales per int32" : "", "), got ", shape_str(output_scale));
  check_contiguous(output_scale, op, "output_scale");
  check_scalar_type(input_global_scale, ScalarType::Float, op, "input_global_scale");
  KK_CHECK(input_global_scale.numel() == 1, op, "input_global_scale must hold one value, got shape ",
           shape_str(input_global_scale));
  check_devices(op, {{"input", input},
                     {"output", output},
                     {"output_scale", output_scale},
                     {"input_global_scale", input_global_scale}});
  if (m == 0 || n == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_scaled_fp4_quant(output.data_ptr(), output_scale.data_ptr(), input.data_ptr(), in_stride, m, n,
                                       static_cast<const float*>(input_global_scale.data_ptr()), enable_pdl, dtype,
                                       current_cuda_stream(input.get_device_index())),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, scaled_fp4_quant, &kernelkit::binding::scaled_fp4_quant,
    "scaled_fp4_quant(Tensor! output, Tensor input, Tensor! output_scale, Tensor input_global_scale, bool enable_pdl) -> ()");
