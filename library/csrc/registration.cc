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

using NormLauncher = cudaError_t (*)(void*, int64_t, const void*, int64_t, const void*, int64_t, int64_t, double, bool,
                                     DType, cudaStream_t);
using FusedNormLauncher = cudaError_t (*)(void*, int64_t, void*, int64_t, const void*, int64_t, int64_t, double, bool,
                                          DType, cudaStream_t);

// What every RMSNorm variant checks: `x [..., H]` rows and `weight [H]` of one dtype on one device.
DType check_norm_inputs(const char* op, const Tensor& x, const char* x_name, const Tensor& weight, double eps) {
  check_cuda(x, op, x_name);
  check_cuda(weight, op, "weight");
  check_same_device(x, x_name, weight, "weight", op);
  const DType dtype = float_dtype(x, op, x_name);
  check_same_dtype(x, x_name, weight, "weight", op);
  KK_CHECK(x.dim() >= 1, op, x_name, " must have at least one dimension");
  const int64_t hidden = x.size(x.dim() - 1);
  KK_CHECK(weight.dim() == 1 && weight.size(0) == hidden, op, "weight must have shape [", hidden, "] (the last dim of ",
           x_name, "), got ", shape_str(weight));
  check_contiguous(weight, op, "weight");
  KK_CHECK(hidden < (int64_t{1} << 31), op, "hidden size ", hidden, " is too large (max 2^31 - 1)");
  KK_CHECK(eps >= 0.0, op, "eps must be >= 0, got ", eps);
  return dtype;
}

void rms_norm(const char* op, NormLauncher launch, Tensor& out, const Tensor& input, const Tensor& weight, double eps,
              bool enable_pdl) {
  const DType dtype = check_norm_inputs(op, input, "input", weight, eps);
  check_cuda(out, op, "out");
  check_same_device(input, "input", out, "out", op);
  check_same_dtype(input, "input", out, "out", op);
  check_same_shape(input, "input", out, "out", op);
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t out_stride = row_stride(out, op, "out");
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch(out.data_ptr(), out_stride, input.data_ptr(), in_stride, weight.data_ptr(), rows,
                      input.size(input.dim() - 1), eps, enable_pdl, dtype, current_cuda_stream(input.get_device_index())),
               op);
}

void fused_add_rms_norm(const char* op, FusedNormLauncher launch, Tensor& input, Tensor& residual, const Tensor& weight,
                        double eps, bool enable_pdl) {
  const DType dtype = check_norm_inputs(op, input, "input", weight, eps);
  check_cuda(residual, op, "residual");
  check_same_device(input, "input", residual, "residual", op);
  check_same_dtype(input, "input", residual, "residual", op);
  check_same_shape(input, "input", residual, "residual", op);
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t res_stride = row_stride(residual, op, "residual");
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch(input.data_ptr(), in_stride, residual.data_ptr(), res_stride, weight.data_ptr(), rows,
                      input.size(input.dim() - 1), eps, enable_pdl, dtype, current_cuda_stream(input.get_device_index())),
               op);
}

// kernelkit:bindings-begin
void fused_add_rmsnorm(Tensor input, Tensor residual, Tensor weight, double eps, bool enable_pdl) {
  fused_add_rms_norm("fused_add_rmsnorm", launch_fused_add_rmsnorm, input, residual, weight, eps, enable_pdl);
}

void gelu_and_mul(Tensor out, Tensor input) { gated_activation("gelu_and_mul", launch_gelu_and_mul, out, input); }

void gelu_tanh_and_mul(Tensor out, Tensor input) {
  gated_activation("gelu_tanh_and_mul", launch_gelu_tanh_and_mul, out, input);
}

void gemma_fused_add_rmsnorm(Tensor input, Tensor residual, Tensor weight, double eps, bool enable_pdl) {
  fused_add_rms_norm("gemma_fused_add_rmsnorm", launch_gemma_fused_add_rmsnorm, input, residual, weight, eps, enable_pdl);
}

void gemma_rmsnorm(Tensor out, Tensor input, Tensor weight, double eps, bool enable_pdl) {
  rms_norm("gemma_rmsnorm", launch_gemma_rmsnorm, out, input, weight, eps, enable_pdl);
}

void rmsnorm(Tensor out, Tensor input, Tensor weight, double eps, bool enable_pdl) {
  rms_norm("rmsnorm", launch_rmsnorm, out, input, weight, eps, enable_pdl);
}

void silu_and_mul(Tensor out, Tensor input) { gated_activation("silu_and_mul", launch_silu_and_mul, out, input); }
// kernelkit:bindings-end

}  // namespace
}  // namespace kernelkit::binding

STABLE_TORCH_LIBRARY(kernelkit, m) {
  // kernelkit:schemas-begin
  m.def("fused_add_rmsnorm(Tensor! input, Tensor! residual, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("gelu_and_mul(Tensor! out, Tensor input) -> ()");
  m.def("gelu_tanh_and_mul(Tensor! out, Tensor input) -> ()");
  m.def("gemma_fused_add_rmsnorm(Tensor! input, Tensor! residual, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("gemma_rmsnorm(Tensor! out, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("rmsnorm(Tensor! out, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("silu_and_mul(Tensor! out, Tensor input) -> ()");
  // kernelkit:schemas-end
}

STABLE_TORCH_LIBRARY_IMPL(kernelkit, CUDA, m) {
  // kernelkit:impls-begin
  m.impl("fused_add_rmsnorm", TORCH_BOX(&kernelkit::binding::fused_add_rmsnorm));
  m.impl("gelu_and_mul", TORCH_BOX(&kernelkit::binding::gelu_and_mul));
  m.impl("gelu_tanh_and_mul", TORCH_BOX(&kernelkit::binding::gelu_tanh_and_mul));
  m.impl("gemma_fused_add_rmsnorm", TORCH_BOX(&kernelkit::binding::gemma_fused_add_rmsnorm));
  m.impl("gemma_rmsnorm", TORCH_BOX(&kernelkit::binding::gemma_rmsnorm));
  m.impl("rmsnorm", TORCH_BOX(&kernelkit::binding::rmsnorm));
  m.impl("silu_and_mul", TORCH_BOX(&kernelkit::binding::silu_and_mul));
  // kernelkit:impls-end
}
