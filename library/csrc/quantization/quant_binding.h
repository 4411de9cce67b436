// What the fp8 quantization bindings check of their outputs (per-token, per-tensor, fused norm + quant).
#pragma once

#include "kernelkit/binding.h"

namespace kernelkit::binding {

// output_q: float8_e4m3fn with input's shape, rows of one stride (returned).
inline int64_t check_fp8_output(const char* op, const Tensor& input, const Tensor& output_q) {
  check_scalar_type(output_q, ScalarType::Float8_e4m3fn, op, "output_q");
  check_same_shape(input, "input", output_q, "output_q", op);
  return row_stride(output_q, op, "output_q");
}

// output_s of the per-token ops: one float32 per row of input, contiguous, shaped input.shape[:-1] + [1]
// (what sglang allocates) or input.shape[:-1].
inline void check_row_scales(const char* op, const Tensor& input, const Tensor& output_s) {
  check_scalar_type(output_s, ScalarType::Float, op, "output_s");
  const int64_t lead = input.dim() - 1;
  bool ok = output_s.dim() == lead || (output_s.dim() == lead + 1 && output_s.size(lead) == 1);
  for (int64_t i = 0; ok && i < lead; ++i) ok = output_s.size(i) == input.size(i);
  std::string rows = "[";
  for (int64_t i = 0; i < lead; ++i) rows += (i ? ", " : "") + std::to_string(input.size(i));
  KK_CHECK(ok, op, "output_s must have shape ", shape_str(input, 1), " or ", rows + "]",
           " (one scale per row of input ", shape_str(input), "), got ", shape_str(output_s));
  check_contiguous(output_s, op, "output_s");
}

}  // namespace kernelkit::binding
