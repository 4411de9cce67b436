// silu_and_mul: silu(x[..., :d]) * x[..., d:]  (SwiGLU, Llama/Qwen/DeepSeek MLPs).
#include "kernelkit/families/gated_activation.cuh"
#include "kernelkit_ops/activation/silu_and_mul.h"

namespace kernelkit {
namespace {

struct Silu {
  // x * sigmoid(x); __expf is one MUFU op and its error is far below bf16/fp16 rounding.
  __device__ __forceinline__ float operator()(float x) const { return x / (1.0f + __expf(-x)); }
};

}  // namespace

}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/activation/silu_and_mul.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_silu_and_mul(void* out, const void* input, int64_t num_rows, int64_t d,
                                           int64_t out_row_stride, int64_t input_row_stride, bool enable_pdl,
                                           DType dtype, cudaStream_t stream) {
  return launch_gated_activation<Silu>(out, input, num_rows, d, out_row_stride, input_row_stride, enable_pdl, dtype,
                                       stream);
}
