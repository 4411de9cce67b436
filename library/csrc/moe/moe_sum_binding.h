// Checks moe_sum and moe_sum_reduce share: input [T, k, H] and output [T, H] of one float dtype, each
// contiguous in its last dimension (tokens and top-k slots may be strided).
#pragma once

#include "kernelkit/binding.h"

namespace kernelkit::binding {

struct MoeSumShape {
  DType dtype;
  int64_t tokens, topk, hidden;
  int64_t in_token_stride, in_topk_stride, out_token_stride;
};

inline MoeSumShape check_moe_sum_args(const char* op, const Tensor& input, const Tensor& output) {
  const DType dtype = float_dtype(input, op, "input");
  check_same_dtype(input, "input", output, "output", op);
  KK_CHECK(input.dim() == 3, op, "input must be 3-D [num_tokens, topk, hidden], got ", shape_str(input));
  KK_CHECK(output.dim() == 2 && output.size(0) == input.size(0) && output.size(1) == input.size(2), op,
           "output must have shape [num_tokens, hidden] = [", input.size(0), ", ", input.size(2), "], got ",
           shape_str(output));
  KK_CHECK(input.size(2) <= 1 || input.stride(2) == 1, op, "input must be contiguous in its last dimension (stride ",
           input.stride(2), ")");
  KK_CHECK(output.size(1) <= 1 || output.stride(1) == 1, op, "output must be contiguous in its last dimension (stride ",
           output.stride(1), ")");
  KK_CHECK(input.size(1) < (int64_t{1} << 31), op, "topk ", input.size(1), " is too large");
  return {dtype, input.size(0), input.size(1), input.size(2), input.stride(0), input.stride(1), output.stride(0)};
}

}  // namespace kernelkit::binding
