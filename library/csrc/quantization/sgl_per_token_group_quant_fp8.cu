// sgl_per_token_group_quant_fp8: per (row, group of group_size) scale s = max(absmax, eps) / fp8_max (a power of two
// when scale_ue8m0; sgl-kernel's v1 or v2 arithmetic), q = e4m3(clamp(x * (1 / s), fp8_min, fp8_max)).
// A thin call into sgl_per_token_group_quant_8bit's launcher: one set of kernel instances
// (kernelkit/families/per_token_group_quant.cuh) serves the three ops.
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_8bit.h"
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_fp8.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/sgl_per_token_group_quant_fp8.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_sgl_per_token_group_quant_fp8(
    void* output_q, int64_t q_row_stride, float* output_s, int64_t s_row_stride, int64_t s_group_stride,
    const void* input, int64_t input_row_stride, int64_t num_rows, int64_t hidden, int64_t group_size, double eps,
    double fp8_min, double fp8_max, bool scale_ue8m0, bool v2, bool enable_pdl, DType dtype, cudaStream_t stream) {
  return launch_sgl_per_token_group_quant_8bit(output_q, /*int8_output=*/false, q_row_stride, output_s,
                                               /*s_packed=*/false, s_row_stride, s_group_stride, 0, input,
                                               input_row_stride, num_rows, hidden, group_size, eps, fp8_min, fp8_max,
                                               scale_ue8m0, /*fuse_silu_and_mul=*/false, nullptr, 0, v2,
                                               /*round_nearest=*/false, enable_pdl, dtype, stream);
}
