// sgl_per_token_group_quant_int8: per (row, group of group_size) scale s = max(absmax, eps) / int8_max (sgl-kernel's
// v1 or v2 arithmetic), q = int8 of clamp(x * (1 / s), int8_min, int8_max), truncated (or rounded half to even).
// A thin call into sgl_per_token_group_quant_8bit's launcher: one set of kernel instances
// (kernelkit/families/per_token_group_quant.cuh) serves the three ops.
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_8bit.h"
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_int8.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/sgl_per_token_group_quant_int8.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_sgl_per_token_group_quant_int8(
    void* output_q, int64_t q_row_stride, float* output_s, int64_t s_row_stride, int64_t s_group_stride,
    const void* input, int64_t input_row_stride, int64_t num_rows, int64_t hidden, int64_t group_size, double eps,
    double int8_min, double int8_max, bool v2, bool round_nearest, bool enable_pdl, DType dtype, cudaStream_t stream) {
  return launch_sgl_per_token_group_quant_8bit(output_q, /*int8_output=*/true, q_row_stride, output_s,
                                               /*s_packed=*/false, s_row_stride, s_group_stride, 0, input,
                                               input_row_stride, num_rows, hidden, group_size, eps, int8_min, int8_max,
                                               /*scale_ue8m0=*/false, /*fuse_silu_and_mul=*/false, nullptr, 0, v2,
                                               round_nearest, enable_pdl, dtype, stream);
}
