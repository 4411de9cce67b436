// gelu_tanh_and_mul: gelu_tanh(x[..., :d]) * x[..., d:] with the tanh-approximated GELU.
#include "kernelkit/families/gated_activation.cuh"
#include "kernelkit_ops/activation/gelu_tanh_and_mul.h"

namespace kernelkit {
namespace {

struct GeluTanh {
  __device__ __forceinline__ float operator()(float x) const {
    constexpr float kSqrt2OverPi = 0.79788456080286536f;
    constexpr float kCubic = 0.044715f;
    const float inner = kSqrt2OverPi * (x + kCubic * x * x * x);
    return 0.5f * x * (1.0f + tanhf(inner));
  }
};

}  // namespace

}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/activation/gelu_tanh_and_mul.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_gelu_tanh_and_mul(void* out, const void* input, int64_t num_rows, int64_t d,
                                                int64_t out_row_stride, int64_t input_row_stride, bool enable_pdl,
                                                DType dtype, cudaStream_t stream) {
  return launch_gated_activation<GeluTanh>(out, input, num_rows, d, out_row_stride, input_row_stride, enable_pdl, dtype,
                                           stream);
}
