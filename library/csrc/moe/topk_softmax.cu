// topk_softmax: per row, p = softmax(cap(x) + bias) over the E experts (cap(x) = tanh(x / c) * c when c != 0),
// the k largest p (ties: lower expert first) with their ids, optionally renormalised to sum 1 -- sgl-kernel's
// topk_softmax. The bias takes part in the softmax itself, as upstream applies it (so it moves weights too).
//
// Arithmetic per row, in fp32: m = max(x'), e = expf(x' - m), p = e * (1 / sum(e)); renormalize: w = p * (1 / sum of
// the k p in selection order). Selection runs on p itself (not on the logits), so two logits whose p round to the
// same float tie the way upstream's do.
//
// Memory-bound at large T: bytes = T * E * sizeof(x) read + T * k * 8 written. One launch, no workspace (upstream
// takes a second kernel and a [T, E] fp32 workspace for E not a power of two or E > 512).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/families/moe_gate.cuh"
#include "kernelkit_ops/moe/topk_softmax.h"

namespace kernelkit {
namespace {

using moe_gate::GateArgs;

struct SoftmaxGate {
  template <typename T, int LANES, int VPL>
  __device__ __forceinline__ static void scores(const GateArgs& a, int lane, float (&x)[VPL],
                                                moe_gate::LiveMask<VPL>& live, float (&key)[VPL], float (&wt)[VPL]) {
    float b[VPL];
    if (a.bias != nullptr)
      moe_gate::load_lane<float, VPL>(b, static_cast<const float*>(a.bias), lane, a.num_experts, a.bias_vec);
    float m = -INFINITY;
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      float v = x[j];
      if (a.softcap != 0.0f) v = tanhf(v / a.softcap) * a.softcap;
      if (a.bias != nullptr) v += b[j];
      x[j] = v;
      if ((live >> j) & 1u) m = fmaxf(m, v);
    }
    m = moe_gate::row_max<LANES>(m);
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      const float e = expf(x[j] - m);  // computed for every expert, then masked: no branch per expert
      x[j] = ((live >> j) & 1u) ? e : 0.0f;
      s += x[j];
    }
    const float inv = 1.0f / moe_gate::row_sum<LANES>(s);
#pragma unroll
    for (int j = 0; j < VPL; ++j) key[j] = wt[j] = x[j] * inv;
  }

  __device__ __forceinline__ static void finish(const GateArgs& a, int, float sum, float& w, int&) {
    if (a.renormalize) w *= 1.0f / sum;
  }
};

}  // namespace
}  // namespace kernelkit

cudaError_t kernelkit::launch_topk_softmax(float* topk_weights, int64_t weights_row_stride, int32_t* topk_ids,
                                           int64_t ids_row_stride, const void* gating_output, int64_t gating_row_stride,
                                           const float* correction_bias, int64_t num_tokens, int num_experts, int topk,
                                           bool renormalize, float moe_softcapping, bool enable_pdl, DType dtype,
                                           cudaStream_t stream) {
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
    a.softcap = moe_softcapping;
    return moe_gate::dispatch_general_layout(lanes, vpl, [&](auto l, auto v) {
      return moe_gate::launch_gate<SoftmaxGate, T, decltype(l)::value, decltype(v)::value>(a, enable_pdl, stream);
    });
  });
}
