// sgl_per_token_group_quant_int8: per (row, group of group_size) scale = max(absmax, eps) / int8_max,
// q = rint(clamp(x / scale, int8_min, int8_max)) (half to even, NaN -> 0). The kernel, its design and
// its predicted time live in kernelkit/families/per_token_group_quant.cuh (shared with the fp8 op).
#include "kernelkit/families/per_token_group_quant.cuh"
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_int8.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/sgl_per_token_group_quant_int8.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_sgl_per_token_group_quant_int8(
    void* output_q, int64_t q_row_stride, float* output_s, int64_t s_row_stride, int64_t s_group_stride,
    const void* input, int64_t input_row_stride, int64_t num_rows, int64_t hidden, int64_t group_size, double eps,
    double int8_min, double int8_max, bool v2, bool round_nearest, bool enable_pdl, DType dtype, cudaStream_t stream) {
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
                            static_cast<float>(int8_min),
                            static_cast<float>(int8_max),
                            /*scale_ue8m0=*/false,
                            v2,
                            round_nearest};
  return launch_per_token_group_quant<GroupQuantKind::kInt8>(args, group_size, enable_pdl, dtype, stream);
}
