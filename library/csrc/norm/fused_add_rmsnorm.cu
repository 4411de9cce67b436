// fused_add_rmsnorm: residual <- input + residual; input <- rmsnorm(residual), in place, one pass.
#include "kernelkit/families/rmsnorm.cuh"
#include "kernelkit_ops/norm/fused_add_rmsnorm.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/norm/fused_add_rmsnorm.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_fused_add_rmsnorm(void* input, int64_t input_row_stride, void* residual,
                                                int64_t residual_row_stride, const void* weight, int64_t num_rows,
                                                int64_t hidden, double eps, bool enable_pdl, DType dtype,
                                                cudaStream_t stream) {
  // The sum is normalised from fp32 registers (not re-read rounded from residual), then written over input.
  const RmsNormArgs args{input,  input_row_stride, input,  input_row_stride,       residual, residual_row_stride,
                         weight, num_rows,         hidden, static_cast<float>(eps)};
  return launch_rmsnorm_family</*kFused=*/true, /*kGemma=*/false>(args, enable_pdl, dtype, stream);
}
