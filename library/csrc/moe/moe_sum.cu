// moe_sum: output[t] = sum_j input[t, j], [T, k, H] -> [T, H], with sgl-kernel's numbers: for k in {2, 3, 4}
// its kernel rounds every partial sum to the tensor's type; for any other k it calls torch's sum, whose
// order (4 fp32 accumulators) is reproduced here (families/moe_sum.cuh has both, and why).
//
// Bytes: T*k*H read + T*H written; one 16-byte slice of one row per thread, its k loads in flight at once.
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/families/moe_sum.cuh"
#include "kernelkit_ops/moe/moe_sum.h"

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/moe/moe_sum.h is a
// compile error here, not a second overload.
cudaError_t kernelkit::launch_moe_sum(void* output, int64_t out_token_stride, const void* input,
                                      int64_t in_token_stride, int64_t in_topk_stride, int64_t tokens, int64_t topk,
                                      int64_t hidden, bool enable_pdl, DType dtype, cudaStream_t stream) {
  if (tokens == 0 || hidden == 0) return cudaSuccess;
  const MoeSumArgs a{output, out_token_stride,       input, in_token_stride, in_topk_stride, tokens,
                     hidden, static_cast<int>(topk), 1.0f};
  const bool round_each_step = topk >= 2 && topk <= 4;
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int vec = pick_vec_width<T>({output, input}, {hidden, out_token_stride, in_token_stride, in_topk_stride});
    return dispatch_vec_width(vec, [&](auto vec_c) {
      constexpr int VEC = decltype(vec_c)::value;
      return round_each_step ? launch_moe_sum_kernel<T, VEC, MoeSumMode::kRoundEachStep>(a, enable_pdl, stream)
                             : launch_moe_sum_kernel<T, VEC, MoeSumMode::kTorchSum>(a, enable_pdl, stream);
    });
  });
}
