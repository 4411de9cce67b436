// The binding checks of the per-token-group quant ops (fp8, int8), devices included: they share every
// check but the 8-bit type and its range.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include "kernelkit/binding.h"

namespace kernelkit::binding {

// %g, for the doubles in messages (std::to_string prints 1e-10 as 0.000000).
inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// The per-token-group quant ops (fp8, int8): input [..., H] rows of a float dtype, output_q of input's
// shape in the 8-bit type, output_s [..., H / group_size] fp32 with any strides whose leading dims
// collapse into one row stride (row-major, column-major `empty(G, T).T`, TMA-aligned padding), no two
// scales at one address.
struct GroupQuantBound {
  const char* name;
  double value;
  double limit;  // the 8-bit type's most negative (min) or largest (max) value
};
struct GroupQuantLayout {
  DType dtype;
  int64_t rows, hidden, input_row_stride, q_row_stride, s_row_stride, s_group_stride;
};
constexpr int64_t kGroupSizes[] = {8, 16, 32, 64, 128, 256};  // kernelkit/families/per_token_group_quant.cuh

inline GroupQuantLayout check_group_quant(const char* op, const Tensor& input, const Tensor& output_q,
                                          ScalarType q_type, const Tensor& output_s, int64_t group_size, double eps,
                                          GroupQuantBound qmin, GroupQuantBound qmax, bool v2) {
  GroupQuantLayout l{};
  l.dtype = float_dtype(input, op, "input");
  check_scalar_type(output_q, q_type, op, "output_q");
  check_scalar_type(output_s, ScalarType::Float, op, "output_s");
  KK_CHECK(input.dim() >= 1, op, "input must have at least one dimension");
  bool known_size = false;
  for (int64_t g : kGroupSizes) known_size = known_size || g == group_size;
  KK_CHECK(known_size, op, "group_size must be one of 8, 16, 32, 64, 128, 256, got ", group_size);
  const int64_t nd = input.dim();
  l.hidden = input.size(nd - 1);
  KK_CHECK(l.hidden % group_size == 0, op, "the last dimension of input (", l.hidden,
           ") must be a multiple of group_size (", group_size, ")");
  check_same_shape(input, "input", output_q, "output_q", op);
  const int64_t groups = l.hidden / group_size;
  bool scale_shape = output_s.dim() == nd && output_s.size(nd - 1) == groups;
  for (int64_t i = 0; scale_shape && i + 1 < nd; ++i) scale_shape = output_s.size(i) == input.size(i);
  KK_CHECK(scale_shape, op, "output_s must have shape ", shape_str(input, groups),
           " (input's leading dims, hidden / group_size), got ", shape_str(output_s));
  l.input_row_stride = row_stride(input, op, "input");
  l.q_row_stride = row_stride(output_q, op, "output_q");
  l.rows = num_rows(input);
  // output_s: the group stride, and the row stride its leading dims collapse into (size-1 dims skipped).
  l.s_group_stride = groups > 1 ? output_s.stride(nd - 1) : 1;
  l.s_row_stride = 0;
  int64_t inner_stride = -1, inner_size = 1;
  for (int64_t i = nd - 2; i >= 0; --i) {
    if (output_s.size(i) == 1) continue;
    KK_CHECK(inner_stride < 0 || output_s.stride(i) == inner_stride * inner_size, op, "output_s of shape ",
             shape_str(output_s), " has leading dimensions that do not collapse into rows with one stride");
    if (inner_stride < 0) l.s_row_stride = output_s.stride(i);
    inner_stride = output_s.stride(i);
    inner_size = output_s.size(i);
  }
  if (l.rows <= 1) l.s_row_stride = groups * l.s_group_stride;
  // Ordered by stride, each stride must step past the extent of the dimension inside it.
  const bool rows_inner = l.s_row_stride <= l.s_group_stride;
  const int64_t in_s = rows_inner ? l.s_row_stride : l.s_group_stride, in_n = rows_inner ? l.rows : groups;
  const int64_t out_s = rows_inner ? l.s_group_stride : l.s_row_stride, out_n = rows_inner ? groups : l.rows;
  const bool disjoint = (in_n <= 1 || in_s >= 1) && (out_n <= 1 || out_s >= (in_n <= 1 ? 1 : in_s * in_n));
  KK_CHECK(l.s_row_stride >= 0 && l.s_group_stride >= 0 && disjoint, op, "output_s of shape ", shape_str(output_s),
           " has negative or overlapping strides (row stride ", l.s_row_stride, ", group stride ", l.s_group_stride,
           "); every scale needs its own element");
  KK_CHECK(std::isfinite(eps) && static_cast<float>(eps) > 0.0f && std::isfinite(static_cast<float>(eps)), op,
           "eps must be a positive finite float32 (it floors absmax so that an all-zero group does not divide by "
           "zero), got ",
           num(eps));
  KK_CHECK(qmax.value > 0.0 && qmax.value <= qmax.limit, op, qmax.name, " must be in (0, ", num(qmax.limit), "], got ",
           num(qmax.value));
  KK_CHECK(qmin.value >= qmin.limit && qmin.value <= qmax.value, op, qmin.name, " must be in [", num(qmin.limit), ", ",
           qmax.name, " = ", num(qmax.value), "], got ", num(qmin.value));
  // sgl-kernel's v2 kernel exists for these calls only (it refuses the others; its v1 takes them).
  const bool v2_call = (l.dtype == DType::kBFloat16 || l.dtype == DType::kFloat16) && std::fabs(eps - 1e-10) < 1e-13 &&
                       qmin.value == qmin.limit && qmax.value == qmax.limit && group_size >= 16 && group_size <= 128;
  KK_CHECK(!v2 || v2_call, op,
           "enable_v2 (sgl-kernel's v2 arithmetic) needs bfloat16/float16 input, eps = 1e-10, the full range (",
           qmin.name, " = ", num(qmin.limit), ", ", qmax.name, " = ", num(qmax.limit),
           ") and group_size 16, 32, 64 or 128; got ", dtype_name(l.dtype), ", eps ", num(eps), ", [", num(qmin.value),
           ", ", num(qmax.value), "], group_size ", group_size, " (pass enable_v2=False for the v1 arithmetic)");
  check_devices(op, {{"input", input}, {"output_q", output_q}, {"output_s", output_s}});
  return l;
}

}  // namespace kernelkit::binding
