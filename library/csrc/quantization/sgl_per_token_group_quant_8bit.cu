// sgl_per_token_group_quant_8bit: sgl-kernel's unified per-token-group quantizer -- e4m3 or int8 by output_q's
// dtype, fp32 or packed UE8M0 scales, optionally fused with SiLU-and-mul and over the masked MoE layout. The
// kernel, its design and its predicted time live in kernelkit/families/per_token_group_quant.cuh (shared with
// sgl_per_token_group_quant_fp8 and _int8).
#include "kernelkit/families/per_token_group_quant.cuh"
#include "kernelkit_ops/quantization/sgl_per_token_group_quant_8bit.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/sgl_per_token_group_quant_8bit.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_sgl_per_token_group_quant_8bit(
    void* output_q, bool int8_output, int64_t q_row_stride, void* output_s, bool s_packed, int64_t s_row_stride,
    int64_t s_group_stride, int64_t s_expert_stride, const void* input, int64_t input_row_stride, int64_t num_rows,
    int64_t hidden, int64_t group_size, double eps, double qmin, double qmax, bool scale_ue8m0, bool fuse_silu_and_mul,
    const int32_t* masked_m, int64_t rows_per_expert, bool v2, bool round_nearest, bool enable_pdl, DType dtype,
    cudaStream_t stream) {
  if (group_size <= 0 || hidden % group_size != 0) return cudaErrorInvalidValue;
  GroupQuantArgs args{input,
                      input_row_stride,
                      static_cast<uint8_t*>(output_q),
                      q_row_stride,
                      static_cast<float*>(output_s),
                      s_row_stride,
                      s_group_stride,
                      num_rows,
                      hidden / group_size,
                      static_cast<float>(eps),
                      static_cast<float>(qmin),
                      static_cast<float>(qmax),
                      scale_ue8m0,
                      v2,
                      round_nearest};
  args.s_packed = s_packed;
  args.fuse = fuse_silu_and_mul;
  args.masked_m = masked_m;
  args.rows_per_expert = rows_per_expert;
  args.s_expert_stride = s_expert_stride;
  return int8_output
             ? launch_per_token_group_quant<GroupQuantKind::kInt8>(args, group_size, enable_pdl, dtype, stream)
             : launch_per_token_group_quant<GroupQuantKind::kFp8E4m3>(args, group_size, enable_pdl, dtype, stream);
}
