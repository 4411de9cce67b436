// downcast_fp8: the torch face of launch_downcast_fp8 (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/kvcache/downcast_fp8.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

// Elements per row of t viewed as [t.size(0), -1]: every dimension after the first dense (the row stride is free).
int64_t row_elements(const char* op, const Tensor& t, const char* arg) {
  KK_CHECK(t.dim() >= 1, op, arg, " must have at least one dimension, got a scalar");
  int64_t expected = 1;
  for (int64_t i = t.dim() - 1; i >= 1; --i) {
    KK_CHECK(t.size(i) <= 1 || t.stride(i) == expected, op, arg, " of shape ", shape_str(t),
             " must be contiguous after its first dimension (a [rows, -1] view), got stride ", t.stride(i),
             " in dimension ", i);
    expected *= t.size(i);
  }
  return expected;
}

void downcast_fp8(Tensor k, Tensor v, Tensor k_out, Tensor v_out, Tensor k_scale, Tensor v_scale, Tensor loc,
                  int64_t mult, int64_t offset, bool enable_pdl) {
  constexpr const char* op = "downcast_fp8";
  KK_CHECK(k.scalar_type() == ScalarType::BFloat16 || k.scalar_type() == ScalarType::Half, op,
           "k must be bfloat16 or float16, got ", scalar_type_name(k.scalar_type()));
  check_same_dtype(k, "k", v, "v", op);
  KK_CHECK(loc.scalar_type() == ScalarType::Int || loc.scalar_type() == ScalarType::Long, op,
           "loc must be int32 or int64, got ", scalar_type_name(loc.scalar_type()));
  KK_CHECK(loc.dim() == 1 && loc.is_contiguous(), op, "loc must be a 1-D contiguous tensor, got shape ",
           shape_str(loc));
  const int64_t tokens = loc.size(0);
  const int64_t row = row_elements(op, k, "k");
  KK_CHECK(k.size(0) == tokens, op, "k must have one row per entry of loc (", tokens, "), got shape ", shape_str(k));
  KK_CHECK(row_elements(op, v, "v") == row && v.size(0) == tokens, op, "v must have k's shape [", tokens, ", ", row,
           "] as rows, got ", shape_str(v));
  for (const auto& [t, name] : {std::pair<const Tensor&, const char*>{k_out, "k_out"}, {v_out, "v_out"}}) {
    KK_CHECK(t.scalar_type() == ScalarType::Byte || t.scalar_type() == ScalarType::Float8_e4m3fn, op, name,
             " must be uint8 or float8_e4m3fn (fp8 e4m3 bytes), got ", scalar_type_name(t.scalar_type()));
    KK_CHECK(row_elements(op, t, name) == row, op, name, " must have rows of k's row size ", row, ", got shape ",
             shape_str(t));
  }
  KK_CHECK(v_out.size(0) == k_out.size(0), op, "v_out must have k_out's ", k_out.size(0), " rows, got shape ",
           shape_str(v_out));
  for (const auto& [t, name] : {std::pair<const Tensor&, const char*>{k_scale, "k_scale"}, {v_scale, "v_scale"}}) {
    check_scalar_type(t, ScalarType::Float, op, name);
    KK_CHECK(t.numel() == 1, op, name, " must hold one value (shape [1]), got shape ", shape_str(t));
  }
  check_devices(op, {{"k", k},
                     {"v", v},
                     {"k_out", k_out},
                     {"v_out", v_out},
                     {"k_scale", k_scale},
                     {"v_scale", v_scale},
                     {"loc", loc}});
  if (tokens == 0 || row == 0) return;  // nothing to launch
  const int32_t device = k.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(
      launch_downcast_fp8(k.data_ptr(), v.data_ptr(), k.stride(0), v.stride(0), k_out.data_ptr(), v_out.data_ptr(),
                          k_out.stride(0), v_out.stride(0), k_out.size(0),
                          static_cast<const float*>(k_scale.data_ptr()), static_cast<const float*>(v_scale.data_ptr()),
                          loc.data_ptr(), loc.scalar_type() == ScalarType::Long, mult, offset, tokens, row,
                          k.scalar_type() == ScalarType::BFloat16, enable_pdl, current_cuda_stream(device)),
      op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, downcast_fp8, &kernelkit::binding::downcast_fp8,
                      "downcast_fp8(Tensor k, Tensor v, Tensor! k_out, Tensor! v_out, Tensor k_scale, Tensor v_scale, "
                      "Tensor loc, int mult, int offset, bool enable_pdl) -> ()");
