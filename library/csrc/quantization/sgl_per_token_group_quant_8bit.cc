// sgl_per_token_group_quant_8bit: the torch face of launch_sgl_per_token_group_quant_8bit (validate the tensors,
// pick the stream, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_8bit.h"

#include <algorithm>
#include <array>
#include <optional>

#include "kernelkit/binding.h"
#include "quantization/group_quant_binding.h"

namespace kernelkit::binding {
namespace {

constexpr const char* kOp = "sgl_per_token_group_quant_8bit";

// output_s: (expert, row, group) strides in its elements -- int32 words when packed -- for a [..., G'] tensor
// whose leading dims collapse into rows (masked: [E, M, G'], experts and tokens apart), no two scales sharing an
// element.
struct ScaleStrides {
  int64_t expert = 0, row = 0, group = 1;
};

ScaleStrides scale_strides(const Tensor& s, bool masked, int64_t rows) {
  const int64_t nd = s.dim();
  const int64_t packs = s.size(nd - 1);
  ScaleStrides st;
  st.group = packs > 1 ? s.stride(nd - 1) : 1;
  std::array<std::pair<int64_t, int64_t>, 3> dims{};  // (stride, size) of each addressing dim, for the overlap check
  int n = 0;
  dims[n++] = {st.group, packs};
  if (masked) {
    st.expert = s.stride(0);
    st.row = s.stride(1);
    dims[n++] = {st.expert, s.size(0)};
    dims[n++] = {st.row, s.size(1)};
  } else {
    int64_t inner_stride = -1, inner_size = 1;
    for (int64_t i = nd - 2; i >= 0; --i) {
      if (s.size(i) == 1) continue;
      KK_CHECK(inner_stride < 0 || s.stride(i) == inner_stride * inner_size, kOp, "output_s of shape ", shape_str(s),
               " has leading dimensions that do not collapse into rows with one stride");
      if (inner_stride < 0) st.row = s.stride(i);
      inner_stride = s.stride(i);
      inner_size = s.size(i);
    }
    if (rows <= 1) st.row = packs * st.group;
    dims[n++] = {st.row, rows};
  }
  // Sorted by stride, every dim of more than one element must step past the extent of the dims inside it.
  std::sort(dims.begin(), dims.begin() + n);
  bool disjoint = true;
  int64_t extent = 1;
  for (int i = 0; i < n; ++i) {
    if (dims[i].second <= 1) continue;
    disjoint = disjoint && dims[i].first >= extent;
    extent = dims[i].first * (dims[i].second - 1) + extent;
  }
  KK_CHECK(st.expert >= 0 && st.row >= 0 && st.group >= 0 && disjoint, kOp, "output_s of shape ", shape_str(s),
           " has negative or overlapping strides; every scale needs its own element");
  return st;
}

void sgl_per_token_group_quant_8bit(Tensor input, Tensor output_q, Tensor output_s, int64_t group_size, double eps,
                                    double fp8_min, double fp8_max, bool scale_ue8m0, bool fuse_silu_and_mul,
                                    std::optional<Tensor> masked_m, bool v2, bool round_nearest, bool enable_pdl) {
  const char* op = kOp;
  const DType dtype = float_dtype(input, op, "input");
  const bool int8 = output_q.scalar_type() == ScalarType::Char;
  KK_CHECK(int8 || output_q.scalar_type() == ScalarType::Float8_e4m3fn, op,
           "output_q must be float8_e4m3fn or int8 (it picks the 8-bit type), got ",
           scalar_type_name(output_q.scalar_type()));
  const bool packed = output_s.scalar_type() == ScalarType::Int;
  KK_CHECK(packed || output_s.scalar_type() == ScalarType::Float, op,
           "output_s must be float32 (scales) or int32 (UE8M0 scales packed four to a word), got ",
           scalar_type_name(output_s.scalar_type()));
  KK_CHECK(!packed || scale_ue8m0, op,
           "an int32 output_s holds UE8M0 scales packed four to a word: it needs scale_ue8m0=True");
  bool known_size = false;
  for (int64_t g : kGroupSizes) known_size = known_size || g == group_size;
  KK_CHECK(known_size, op, "group_size must be one of 8, 16, 32, 64, 128, 256, got ", group_size);
  const bool masked = masked_m.has_value();
  KK_CHECK(input.dim() >= 1 && output_q.dim() == input.dim(), op, "output_q must have as many dimensions as input (",
           input.dim(), "), got ", output_q.dim());
  if (masked) {
    KK_CHECK(input.dim() == 3, op, "with masked_m, input must be 3-D [experts, tokens, hidden], got ",
             shape_str(input));
    check_scalar_type(*masked_m, ScalarType::Int, op, "masked_m");
    KK_CHECK(masked_m->dim() == 1 && masked_m->size(0) == input.size(0), op, "masked_m must have shape [",
             input.size(0), "] (one row count per expert), got ", shape_str(*masked_m));
    KK_CHECK(masked_m->size(0) <= 1 || masked_m->stride(0) == 1, op, "masked_m must be contiguous");
  }
  const int64_t nd = input.dim();
  const int64_t hidden = output_q.size(nd - 1);
  bool q_shape = input.size(nd - 1) == (fuse_silu_and_mul ? 2 * hidden : hidden);
  for (int64_t i = 0; q_shape && i + 1 < nd; ++i) q_shape = output_q.size(i) == input.size(i);
  if (fuse_silu_and_mul) {
    KK_CHECK(q_shape && input.size(nd - 1) % 2 == 0, op, "output_q must have shape ",
             shape_str(input, input.size(nd - 1) / 2),
             " (input's, the last dim halved: fuse_silu_and_mul quantizes silu(gate) * up), got ", shape_str(output_q));
  } else {
    KK_CHECK(q_shape, op, "output_q must have the shape of input ", shape_str(input), ", got ", shape_str(output_q));
  }
  KK_CHECK(hidden % group_size == 0, op,
           fuse_silu_and_mul ? "half the last dimension of input (" : "the last dimension of input (", hidden,
           ") must be a multiple of group_size (", group_size, ")");
  const int64_t groups = hidden / group_size;
  const int64_t packs = packed ? (groups + 3) / 4 : groups;
  bool s_shape = output_s.dim() == nd && output_s.size(nd - 1) == packs;
  for (int64_t i = 0; s_shape && i + 1 < nd; ++i) s_shape = output_s.size(i) == output_q.size(i);
  KK_CHECK(s_shape, op, "output_s must have shape ", shape_str(output_q, packs),
           packed ? " (input's leading dims, ceil(hidden / group_size / 4) int32 words)"
                  : " (input's leading dims, hidden / group_size)",
           ", got ", shape_str(output_s));
  const int64_t input_row_stride = row_stride(input, op, "input");
  const int64_t q_row_stride = row_stride(output_q, op, "output_q");
  const int64_t rows = num_rows(output_q);
  const ScaleStrides ss = scale_strides(output_s, masked, rows);
  KK_CHECK(std::isfinite(eps) && static_cast<float>(eps) > 0.0f && std::isfinite(static_cast<float>(eps)), op,
           "eps must be a positive finite float32 (it floors absmax so that an all-zero group does not divide by "
           "zero), got ",
           num(eps));
  const double lo_limit = int8 ? -128.0 : -448.0, hi_limit = int8 ? 127.0 : 448.0;
  KK_CHECK(fp8_max > 0.0 && fp8_max <= hi_limit, op, "fp8_max must be in (0, ", num(hi_limit), "], got ", num(fp8_max));
  KK_CHECK(fp8_min >= lo_limit && fp8_min <= fp8_max, op, "fp8_min must be in [", num(lo_limit),
           ", fp8_max = ", num(fp8_max), "], got ", num(fp8_min));
  const bool v2_call = (dtype == DType::kBFloat16 || dtype == DType::kFloat16) && std::fabs(eps - 1e-10) < 1e-13 &&
                       fp8_min == lo_limit && fp8_max == hi_limit && group_size >= 16 && group_size <= 128;
  KK_CHECK(!v2 || v2_call, op,
           "enable_v2 (sgl-kernel's v2 arithmetic) needs bfloat16/float16 input, eps = 1e-10, the full range (fp8_min "
           "= ",
           num(lo_limit), ", fp8_max = ", num(hi_limit), ") and group_size 16, 32, 64 or 128; got ", dtype_name(dtype),
           ", eps ", num(eps), ", [", num(fp8_min), ", ", num(fp8_max), "], group_size ", group_size,
           " (pass enable_v2=False for the v1 arithmetic)");
  if (fuse_silu_and_mul || masked) {
    const char* what = fuse_silu_and_mul && masked ? "fuse_silu_and_mul and masked_m"
                       : fuse_silu_and_mul         ? "fuse_silu_and_mul"
                                                   : "masked_m";
    KK_CHECK(v2, op, "sgl-kernel's v2 arithmetic is needed for ", what,
             " (as in sgl-kernel): bfloat16/float16 input, eps = 1e-10, the full range and group_size 16, 32, 64 or "
             "128, with enable_v2 None or True");
    const int64_t item = dtype == DType::kFloat32 ? 4 : 2;
    const bool aligned = reinterpret_cast<uintptr_t>(input.data_ptr()) % 16 == 0 &&
                         (input_row_stride * item) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(output_q.data_ptr()) % 8 == 0 && q_row_stride % 8 == 0;
    KK_CHECK(aligned, op,
             "input rows at 16-byte and output_q rows at 8-byte aligned addresses (a contiguous tensor's) ",
             "are needed for ", what);
  }
  if (masked) {
    check_devices(op, {{"input", input}, {"output_q", output_q}, {"output_s", output_s}, {"masked_m", *masked_m}});
  } else {
    check_devices(op, {{"input", input}, {"output_q", output_q}, {"output_s", output_s}});
  }
  if (rows == 0 || hidden == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_sgl_per_token_group_quant_8bit(
                   output_q.data_ptr(), int8, q_row_stride, output_s.data_ptr(), packed, ss.row, ss.group, ss.expert,
                   input.data_ptr(), input_row_stride, rows, hidden, group_size, eps, fp8_min, fp8_max, scale_ue8m0,
                   fuse_silu_and_mul, masked ? static_cast<const int32_t*>(masked_m->data_ptr()) : nullptr,
                   masked ? output_q.size(1) : 0, v2, round_nearest, enable_pdl, dtype,
                   current_cuda_stream(input.get_device_index())),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, sgl_per_token_group_quant_8bit, &kernelkit::binding::sgl_per_token_group_quant_8bit,
    "sgl_per_token_group_quant_8bit(Tensor input, Tensor! output_q, Tensor! output_s, int group_size, float eps, float fp8_min, float fp8_max, bool scale_ue8m0, bool fuse_silu_and_mul, Tensor? masked_m, bool v2, bool round_nearest, bool enable_pdl) -> ()");
