// The binding of the grouped NVFP4 quantizers (scaled_fp4_grouped_quant, silu_and_mul_scaled_fp4_grouped_quant):
// they share every check but the input's last dimension ([gate | up] for the SiLU one).
#pragma once

#include <cstdint>

#include "kernelkit/binding.h"

namespace kernelkit::binding {

constexpr int64_t kFp4GroupedMaxExperts = 4096;  // kernelkit/families/fp4_grouped.cuh: kMaxExperts

using Fp4GroupedLauncher = cudaError_t (*)(void*, void*, const void*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                           const float*, const int32_t*, bool, DType, cudaStream_t);

// input [l, m, k] (silu_and_mul: [l, m, 2k]) bf16/fp16, contiguous in its last dimension, any expert and row
// strides; output uint8 [l, m, k / 2] contiguous; output_scale [l, round_up(m, 128), round_up(k / 16, 4)]
// float8_e4m3fn or uint8 (or int32 [..., round_up(k / 16, 4) / 4], as sgl-kernel allocates it), contiguous;
// input_global_scale float32 [l]; mask int32 [l].
inline void fp4_grouped_quant(const char* op, bool silu_and_mul, Fp4GroupedLauncher launch, Tensor& output,
                              Tensor& output_scale, const Tensor& input, const Tensor& input_global_scale,
                              const Tensor& mask, bool enable_pdl) {
  const DType dtype = float_dtype_in(input, op, "input", {DType::kBFloat16, DType::kFloat16});
  KK_CHECK(input.dim() == 3, op, "input must be 3-D ", silu_and_mul ? "[l, m, 2k]" : "[l, m, k]",
           " (experts, rows per expert, values), got shape ", shape_str(input));
  const int64_t l = input.size(0), m = input.size(1), n = input.size(2);
  KK_CHECK(n <= 1 || input.stride(2) == 1, op, "input must be contiguous in its last dimension (stride ",
           input.stride(2), ")");
  if (silu_and_mul) {
    KK_CHECK(n % 32 == 0, op, "input's last dimension (", n,
             ") must be 2k, gate then up, with k a multiple of 16 (one scale per 16 values)");
  } else {
    KK_CHECK(n % 16 == 0, op, "input's last dimension (", n, ") must be a multiple of 16 (one scale per 16 values)");
  }
  const int64_t k = silu_and_mul ? n / 2 : n;
  KK_CHECK(l <= kFp4GroupedMaxExperts, op, "input has ", l, " experts; at most ", kFp4GroupedMaxExperts,
           " are supported");
  KK_CHECK(k <= (int64_t{1} << 30) && m <= INT32_MAX, op, "input of shape ", shape_str(input), " is too large");

  check_scalar_type(output, ScalarType::Byte, op, "output");
  KK_CHECK(output.dim() == 3 && output.size(0) == l && output.size(1) == m && output.size(2) == k / 2, op,
           "output must have shape [", l, ", ", m, ", ", k / 2, "] (two FP4 values per byte), got ", shape_str(output));
  check_contiguous(output, op, "output");
  KK_CHECK(reinterpret_cast<uintptr_t>(output.data_ptr()) % 8 == 0, op, "output must be 8-byte aligned");

  const int64_t padded_m = (m + 127) / 128 * 128, padded_blocks = (k / 16 + 3) / 4 * 4;
  const ScalarType st = output_scale.scalar_type();
  const int64_t scale_cols = st == ScalarType::Int ? padded_blocks / 4 : padded_blocks;
  KK_CHECK(st == ScalarType::Int || st == ScalarType::Float8_e4m3fn || st == ScalarType::Byte, op,
           "output_scale must be float8_e4m3fn (or int32 / uint8 holding the e4m3 bytes), got ", scalar_type_name(st));
  KK_CHECK(output_scale.dim() == 3 && output_scale.size(0) == l && output_scale.size(1) == padded_m &&
               output_scale.size(2) == scale_cols,
           op, "output_scale must have shape [", l, ", ", padded_m, ", ", scale_cols,
           "] (rows padded to 128, blocks of 16 to 4", st == ScalarType::Int ? ", 4 scales per int32" : "", "), got ",
           shape_str(output_scale));
  check_contiguous(output_scale, op, "output_scale");

  check_scalar_type(input_global_scale, ScalarType::Float, op, "input_global_scale");
  KK_CHECK(input_global_scale.dim() == 1 && input_global_scale.size(0) == l, op, "input_global_scale must have shape [",
           l, "] (one per expert), got ", shape_str(input_global_scale));
  check_contiguous(input_global_scale, op, "input_global_scale");
  check_scalar_type(mask, ScalarType::Int, op, "mask");
  KK_CHECK(mask.dim() == 1 && mask.size(0) == l, op, "mask must have shape [", l, "] (valid rows per expert), got ",
           shape_str(mask));
  check_contiguous(mask, op, "mask");

  check_devices(op, {{"input", input},
                     {"output", output},
                     {"output_scale", output_scale},
                     {"input_global_scale", input_global_scale},
                     {"mask", mask}});
  if (l == 0 || m == 0 || k == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(
      launch(output.data_ptr(), output_scale.data_ptr(), input.data_ptr(), input.stride(0), input.stride(1), l, m, k,
             static_cast<const float*>(input_global_scale.data_ptr()), static_cast<const int32_t*>(mask.data_ptr()),
             enable_pdl, dtype, current_cuda_stream(input.get_device_index())),
      op);
}

}  // namespace kernelkit::binding
