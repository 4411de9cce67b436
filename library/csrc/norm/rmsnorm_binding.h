// The bindings of the RMSNorm family: rmsnorm / gemma_rmsnorm (out of place) and fused_add_rmsnorm /
// gemma_fused_add_rmsnorm (in place) share their checks and differ only in the launcher they call.
// check_norm_inputs is also what fused_add_rmsnorm_quant_fp8 checks of its norm half.
#pragma once

#include "kernelkit/binding.h"

namespace kernelkit::binding {

using NormLauncher = cudaError_t (*)(void*, int64_t, const void*, int64_t, const void*, int64_t, int64_t, double, bool,
                                     DType, cudaStream_t);
using FusedNormLauncher = cudaError_t (*)(void*, int64_t, void*, int64_t, const void*, int64_t, int64_t, double, bool,
                                          DType, cudaStream_t);

// What every RMSNorm variant checks: `x [..., H]` rows and `weight [H]` of one dtype (devices: the caller's
// check_devices).
inline DType check_norm_inputs(const char* op, const Tensor& x, const char* x_name, const Tensor& weight, double eps) {
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

inline void rms_norm(const char* op, NormLauncher launch, Tensor& out, const Tensor& input, const Tensor& weight,
                     double eps, bool enable_pdl) {
  const DType dtype = check_norm_inputs(op, input, "input", weight, eps);
  check_same_dtype(input, "input", out, "out", op);
  check_same_shape(input, "input", out, "out", op);
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t out_stride = row_stride(out, op, "out");
  check_devices(op, {{"input", input}, {"weight", weight}, {"out", out}});
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(
      launch(out.data_ptr(), out_stride, input.data_ptr(), in_stride, weight.data_ptr(), rows,
             input.size(input.dim() - 1), eps, enable_pdl, dtype, current_cuda_stream(input.get_device_index())),
      op);
}

inline void fused_add_rms_norm(const char* op, FusedNormLauncher launch, Tensor& input, Tensor& residual,
                               const Tensor& weight, double eps, bool enable_pdl) {
  const DType dtype = check_norm_inputs(op, input, "input", weight, eps);
  check_same_dtype(input, "input", residual, "residual", op);
  check_same_shape(input, "input", residual, "residual", op);
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t res_stride = row_stride(residual, op, "residual");
  check_devices(op, {{"input", input}, {"weight", weight}, {"residual", residual}});
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(
      launch(input.data_ptr(), in_stride, residual.data_ptr(), res_stride, weight.data_ptr(), rows,
             input.size(input.dim() - 1), eps, enable_pdl, dtype, current_cuda_stream(input.get_device_index())),
      op);
}

}  // namespace kernelkit::binding
