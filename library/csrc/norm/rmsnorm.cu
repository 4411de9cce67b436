// rmsnorm: out = x * rsqrt(mean(x^2) + eps) * weight, statistics in fp32.
#include "kernelkit/families/rmsnorm.cuh"
#include "kernelkit_ops/norm/rmsnorm.h"

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/norm/rmsnorm.h
// is a compile error here, not a second overload.
cudaError_t kernelkit::launch_rmsnorm(void* out, int64_t out_row_stride, const void* input, int64_t input_row_stride,
                                      const void* weight, int64_t num_rows, int64_t hidden, double eps, bool enable_pdl,
                                      DType dtype, cudaStream_t stream) {
  const RmsNormArgs args{out, out_row_stride, input,    input_row_stride, nullptr,
                         0,   weight,         num_rows, hidden,           static_cast<float>(eps)};
  return launch_rmsnorm_family</*kFused=*/false, /*kGemma=*/false>(args, enable_pdl, dtype, stream);
}
