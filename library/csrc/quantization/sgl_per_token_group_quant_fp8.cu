// sgl_per_token_group_quant_fp8: per (row, group of group_size) scale = max(absmax, eps) / fp8_max
// (a power of two when scale_ue8m0), q = e4m3(clamp(x / scale, fp8_min, fp8_max)). The kernel, its
// design and its predicted time live in kernelkit/families/per_token_group_quant.cuh (shared with the int8 op).
#include "kernelkit/families/per_token_group_quant.cuh"
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_fp8.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/sgl_per_token_group_quant_fp8.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_sgl_per_token_group_quant_fp8(
    void* output_q, int64_t q_row_stride, float* output_s, int64_t s_row_stride, int64_t s_group_stride,
    const void* input, int64_t input_row_stride, int64_t num_rows, int64_t hidden, int64_t group_size, double eps,
    double fp8_min, double fp8_max, bool scale_ue8m0, bool v2, bool enable_pdl, DType dtype, cudaStream_t stream) {
  if (group_size <= 0 || hidden % group_size != 0) return cudaErrorInvalidValue;
  const GroupQuantArgs args{input,
                            input_row_stride,
                            static_cast<uint8_t*>(output_q),
                            q_row_stride,
                            output_s,
                            s_row_stride,
                            s_group_stride,
                            num_rows,
                            hidden / group_size,
                            static_cast<float>(eps),
                            static_cast<float>(fp8_min),
                            static_cast<float>(fp8_max),
                            scale_ue8m0,
                            v2,
                            false};
  return launch_per_token_group_quant<GroupQuantKind::kFp8E4m3>(args, group_size, enable_pdl, dtype, stream);
}
