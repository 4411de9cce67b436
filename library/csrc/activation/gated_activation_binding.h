// The binding of the gated activations (silu_and_mul, gelu_and_mul, gelu_tanh_and_mul): they share the
// schema `(Tensor! out, Tensor input, bool enable_pdl) -> ()` and differ only in the launcher they call.
#pragma once

#include "kernelkit/binding.h"

namespace kernelkit::binding {

using GatedLauncher = cudaError_t (*)(void*, const void*, int64_t, int64_t, int64_t, int64_t, bool, DType,
                                      cudaStream_t);

// out[..., d] = act(input[..., :d]) * input[..., d:]
inline void gated_activation(const char* op, GatedLauncher launch, Tensor& out, const Tensor& input, bool enable_pdl) {
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
  check_devices(op, {{"input", input}, {"out", out}});
  const int64_t rows = num_rows(out);
  if (rows == 0 || d == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch(out.data_ptr(), input.data_ptr(), rows, d, out_stride, in_stride, enable_pdl, dtype,
                      current_cuda_stream(input.get_device_index())),
               op);
}

}  // namespace kernelkit::binding
