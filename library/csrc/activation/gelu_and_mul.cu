// gelu_and_mul: gelu(x[..., :d]) * x[..., d:] with the exact (erf) GELU (GeGLU, Gemma).
#include "kernelkit/families/gated_activation.cuh"
#include "kernelkit_ops/activation/gelu_and_mul.h"

namespace kernelkit {
namespace {

struct GeluErf {
  __device__ __forceinline__ float operator()(float x) const {
    constexpr float kInvSqrt2 = 0.70710678118654752f;
    return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
  }
};

}  // namespace

}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/activation/gelu_and_mul.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_gelu_and_mul(void* out, const void* input, int64_t num_rows, int64_t d,
                                           int64_t out_row_stride, int64_t input_row_stride, bool enable_pdl,
                                           DType dtype, cudaStream_t stream) {
  return launch_gated_activation<GeluErf>(out, input, num_rows, d, out_row_stride, input_row_stride, enable_pdl, dtype,
                                          stream);
}
