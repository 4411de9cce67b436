// kimi_k2_moe_fused_gate: the one-group case of moe_fused_gate that Kimi K2 uses (E = 384, fp32), as sgl-kernel's
// kimi_k2_moe_fused_gate computes it: s = 1 / (1 + expf(-x)), the topk experts with the largest s + bias (lower
// expert first on ties), weights s; renormalize: if their fp32 sum (in pick order) is > 0, w = w / sum and then
// w * float(routed_scaling_factor) when apply_routed_scaling_factor_on_output (the scaling is applied only together
// with renormalize, as upstream does).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernelkit/families/moe_gate.cuh"
#include "kernelkit_ops/moe/kimi_k2_moe_fused_gate.h"

namespace kernelkit {
namespace {

using moe_gate::GateArgs;

struct KimiGate {
  template <typename T, int LANES, int VPL>
  __device__ __forceinline__ static void scores(const GateArgs& a, int lane, float (&x)[VPL],
                                                moe_gate::LiveMask<VPL>& live, float (&key)[VPL], float (&wt)[VPL]) {
    float b[VPL];
    moe_gate::load_lane<float, VPL>(b, static_cast<const float*>(a.bias), lane, a.num_experts, a.bias_vec);
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      wt[j] = 1.0f / (1.0f + expf(-x[j]));
      key[j] = wt[j] + b[j];
    }
  }

  __device__ __forceinline__ static void finish(const GateArgs& a, int, float sum, float& w, int&) {
    if (!a.renormalize || !(sum > 0.0f)) return;
    w = w / sum;
    if (a.scale_output) w = w * static_cast<float>(a.routed_scaling_factor);
  }
};

}  // namespace
}  // namespace kernelkit

cudaError_t kernelkit::launch_kimi_k2_moe_fused_gate(
    float* topk_weights, int64_t weights_row_stride, int32_t* topk_ids, int64_t ids_row_stride, const float* input,
    int64_t input_row_stride, const float* bias, int64_t num_tokens, int num_experts, int topk, bool renormalize,
    double routed_scaling_factor, bool apply_routed_scaling_factor_on_output, bool enable_pdl, cudaStream_t stream) {
  if (num_tokens == 0) return cudaSuccess;
  // 384 experts: 32 lanes x 16 (the last 8 lanes hold no expert); the layout of the other gates for E <= 512.
  constexpr int kLanes = 32, kVpl = 16;
  if (num_experts > kLanes * kVpl) return cudaErrorInvalidValue;
  moe_gate::GateArgs a{};
  a.input = input;
  a.input_row_stride = input_row_stride;
  a.bias = bias;
  a.weights = topk_weights;
  a.weights_row_stride = weights_row_stride;
  a.ids = topk_ids;
  a.ids_row_stride = ids_row_stride;
  a.num_rows = num_tokens;
  a.num_experts = num_experts;
  a.topk = topk;
  a.topk_routed = topk;
  a.input_vec = moe_gate::vectors_fit(input, input_row_stride, num_experts, moe_gate::vector_width<float>(kVpl), 4);
  a.bias_vec = moe_gate::vectors_fit(bias, 0, num_experts, moe_gate::vector_width<float>(kVpl), 4);
  a.renormalize = renormalize;
  a.routed_scaling_factor = routed_scaling_factor;
  a.scale_output = apply_routed_scaling_factor_on_output;
  return moe_gate::launch_gate<KimiGate, float, kLanes, kVpl>(a, enable_pdl, stream);
}
