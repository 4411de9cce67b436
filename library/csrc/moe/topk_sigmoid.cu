// topk_sigmoid: per row, s = sigmoid(x) = 1 / (1 + expf(-x)) per expert; the k experts with the largest
// s + bias (ties: lower expert first); their weights (s + bias) - bias, as sgl-kernel's topk_sigmoid computes them
// (the bias ranks only: the subtraction gives back s up to the rounding of the sum); renormalize: w * (1 / sum w).
//
// Memory-bound at large T: bytes = T * E * sizeof(x) read + T * k * 8 written; one launch for every E (upstream
// takes a second kernel and a [T, E] workspace for E not a power of two or E > 256).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/families/moe_gate.cuh"
#include "kernelkit_ops/moe/topk_sigmoid.h"

namespace kernelkit {
namespace {

using moe_gate::GateArgs;

struct SigmoidGate {
  template <typename T, int LANES, int VPL>
  __device__ __forceinline__ static void scores(const GateArgs& a, int lane, float (&x)[VPL],
                                                moe_gate::LiveMask<VPL>& live, float (&key)[VPL], float (&wt)[VPL]) {
    if (a.bias != nullptr) {
      float b[VPL];
      moe_gate::load_lane<float, VPL>(b, static_cast<const float*>(a.bias), lane, a.num_experts, a.bias_vec);
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        key[j] = 1.0f / (1.0f + expf(-x[j])) + b[j];
        wt[j] = key[j] - b[j];
      }
    } else {
#pragma unroll
      for (int j = 0; j < VPL; ++j) key[j] = wt[j] = 1.0f / (1.0f + expf(-x[j]));
    }
  }

  __device__ __forceinline__ static void finish(const GateArgs& a, int, float sum, float& w, int&) {
    if (a.renormalize) w *= 1.0f / sum;
  }
};

}  // namespace
}  // namespace kernelkit

cudaError_t kernelkit::launch_topk_sigmoid(float* topk_weights, int64_t weights_row_stride, int32_t* topk_ids,
                                           int64_t ids_row_stride, const void* gating_output, int64_t gating_row_stride,
                                           const float* correction_bias, int64_t num_tokens, int num_experts, int topk,
                                           bool renormalize, bool enable_pdl, DType dtype, cudaStream_t stream) {
  if (num_tokens == 0) return cudaSuccess;
  int lanes = 0, vpl = 0;
  if (!moe_gate::general_layout(num_experts, num_tokens, lanes, vpl)) return cudaErrorInvalidValue;
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    moe_gate::GateArgs a{};
    a.input = gating_output;
    a.input_row_stride = gating_row_stride;
    a.bias = correction_bias;
    a.weights = topk_weights;
    a.weights_row_stride = weights_row_stride;
    a.ids = topk_ids;
    a.ids_row_stride = ids_row_stride;
    a.num_rows = num_tokens;
    a.num_experts = num_experts;
    a.topk = topk;
    a.topk_routed = topk;
    a.input_vec =
        moe_gate::vectors_fit(gating_output, gating_row_stride, num_experts, moe_gate::vector_width<T>(vpl), sizeof(T));
    a.bias_vec = correction_bias != nullptr &&
                 moe_gate::vectors_fit(correction_bias, 0, num_experts, moe_gate::vector_width<float>(vpl), 4);
    a.renormalize = renormalize;
    return moe_gate::dispatch_general_layout(lanes, vpl, [&](auto l, auto v) {
      return moe_gate::launch_gate<SigmoidGate, T, decltype(l)::value, decltype(v)::value>(a, enable_pdl, stream);
    });
  });
}
