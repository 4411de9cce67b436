// fused_add_rmsnorm_quant_fp8: residual <- input + residual; y = rmsnorm(residual) * weight (fp32, as
// sgl-kernel's fused op; rounded to input's dtype with match_unfused); per-token fp8 quantization of y into q
// and s, in one pass (rmsnorm_quant.cuh).
#include "kernelkit/families/rmsnorm_quant.cuh"
#include "kernelkit_ops/quantization/fused_add_rmsnorm_quant_fp8.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/fused_add_rmsnorm_quant_fp8.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_fused_add_rmsnorm_quant_fp8(void* output_q, int64_t q_row_stride, float* scales,
                                                          const void* input, int64_t input_row_stride, void* residual,
                                                          int64_t residual_row_stride, const void* weight,
                                                          int64_t num_rows, int64_t hidden, double eps,
                                                          bool match_unfused, bool enable_pdl, DType dtype,
                                                          cudaStream_t stream) {
  const RmsNormQuantArgs args{static_cast<uint8_t*>(output_q),
                              q_row_stride,
                              scales,
                              input,
                              input_row_stride,
                              residual,
                              residual_row_stride,
                              weight,
                              num_rows,
                              hidden,
                              static_cast<float>(eps),
                              match_unfused,
                              false,
                              false};
  return launch_add_rmsnorm_quant(args, enable_pdl, dtype, stream);
}
