// The torch face of kernelkit_ops: bindings (validate, pick the stream, call the launcher),
// op schemas (m.def) and CUDA implementations (m.impl), all on the LibTorch stable ABI
// (TORCH_TARGET_VERSION = 2.10), so one build loads in every torch >= 2.10.
// `kernelkit new` / `kernelkit remove` edit the marked regions; keep entries sorted by op name.
#include "binding_utils.h"
#include "kernelkit_ops.h"

namespace kernelkit::binding {
namespace {

using GatedLauncher = cudaError_t (*)(void*, const void*, int64_t, int64_t, int64_t, int64_t, DType, cudaStream_t);

// out[..., d] = act(input[..., :d]) * input[..., d:]
void gated_activation(const char* op, GatedLauncher launch, Tensor& out, const Tensor& input) {
  check_cuda(input, op, "input");
  check_cuda(out, op, "out");
  check_same_device(input, "input", out, "out", op);
  const DType dtype = float_dtype(input, op, "input");
  check_same_dtype(input, "input", out, "out", op);
  KK_CHECK(input.dim() >= 1 && input.size(input.dim() - 1) % 2 == 0, op,
        "input's last dimension must be even (gate and up halves), got shape ", shape_str(input));
  const int64_t d = input.size(input.dim() - 1) / 2;
  bool same_leading = out.dim() == input.dim() && out.size(out.dim() - 1) == d;
  for (int64_t i = 0; same_leading && i + 1 < input.dim(); ++i) same_leading = out.size(i) == input.size(i);
  KK_CHECK(same_leading, op, "out must have shape ", shape_str(input, d), ", got ", shape_str(out), " for input ",
           shape_str(input));
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t out_stride = row_stride(out, op, "out");
  const int64_t rows = num_rows(out);
  if (rows == 0 || d == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch(out.data_ptr(), input.data_ptr(), rows, d, out_stride, in_stride, dtype,
                      current_cuda_stream(input.get_device_index())),
               op);
}

// kernelkit:bindings-begin
void apply_rope_with_cos_sin_cache_inplace(Tensor positions, Tensor query, Tensor key, int64_t head_size, Tensor cos_sin_cache, bool is_neox) {
  constexpr const char* op = "apply_rope_with_cos_sin_cache_inplace";
  check_cuda(positions, op, "positions");
  check_cuda(query, op, "query");
  check_cuda(key, op, "key");
  check_cuda(cos_sin_cache, op, "cos_sin_cache");
  check_same_device(positions, "positions", query, "query", op);
  const DType dtype = float_dtype_in(positions, op, "positions", {DType::kBFloat16, DType::kFloat16});
  check_same_dtype(positions, "positions", query, "query", op);
  check_same_shape(positions, "positions", query, "query", op);
  check_contiguous(positions, op, "positions");
  check_contiguous(query, op, "query");
  if (positions.numel() == 0) return;
  torch::stable::accelerator::DeviceGuard guard(positions.get_device_index());
  check_launch(launch_apply_rope_with_cos_sin_cache_inplace(query.data_ptr(), positions.data_ptr(), positions.numel(), 1.0, dtype,
                                 current_cuda_stream(positions.get_device_index())),
               op);
}

void gelu_and_mul(Tensor out, Tensor input) { gated_activation("gelu_and_mul", launch_gelu_and_mul, out, input); }

void gelu_tanh_and_mul(Tensor out, Tensor input) {
  gated_activation("gelu_tanh_and_mul", launch_gelu_tanh_and_mul, out, input);
}

void silu_and_mul(Tensor out, Tensor input) { gated_activation("silu_and_mul", launch_silu_and_mul, out, input); }
// kernelkit:bindings-end

}  // namespace
}  // namespace kernelkit::binding

STABLE_TORCH_LIBRARY(kernelkit, m) {
  // kernelkit:schemas-begin
  m.def("apply_rope_with_cos_sin_cache_inplace(Tensor positions, Tensor! query, Tensor! key, int head_size, Tensor cos_sin_cache, bool is_neox) -> ()");
  m.def("gelu_and_mul(Tensor! out, Tensor input) -> ()");
  m.def("gelu_tanh_and_mul(Tensor! out, Tensor input) -> ()");
  m.def("silu_and_mul(Tensor! out, Tensor input) -> ()");
  // kernelkit:schemas-end
}

STABLE_TORCH_LIBRARY_IMPL(kernelkit, CUDA, m) {
  // kernelkit:impls-begin
  m.impl("apply_rope_with_cos_sin_cache_inplace", TORCH_BOX(&kernelkit::binding::apply_rope_with_cos_sin_cache_inplace));
  m.impl("gelu_and_mul", TORCH_BOX(&kernelkit::binding::gelu_and_mul));
  m.impl("gelu_tanh_and_mul", TORCH_BOX(&kernelkit::binding::gelu_tanh_and_mul));
  m.impl("silu_and_mul", TORCH_BOX(&kernelkit::binding::silu_and_mul));
  // kernelkit:impls-end
}
