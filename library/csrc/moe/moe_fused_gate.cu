// moe_fused_gate: DeepSeek-V3 grouped routing, as sgl-kernel's moe_fused_gate computes it. Per row, in the
// input's dtype T (fp32 / fp16 / bf16; each step rounded to T where upstream keeps T):
//   s = T(1 / (1 + expf(-x)))            the expert's score (its output weight, unbiased)
//   c = T(s + bias)                      the selection key
//   group score = T(top1(c) + top2(c))   over the E / G experts of each of the G groups
//   keep the topk_group best groups (score desc, lower group first), pick the topk - n_shared best c among their
//   experts (lower expert first on ties); weights: s of the picked experts; sum = their fp32 sum in pick order;
//   n_shared trailing slots: id E + i, weight float(double(sum) / routed_scaling_factor);
//   every slot: w / sum, then float(double(w) * routed_scaling_factor) if apply_routed_scaling_factor_on_output.
// Groups are whole lanes of a row (the layout keeps E / G a multiple of the experts per lane), so a group's top-2
// is a lane scan plus log2(lanes per group) shuffles, and picking the groups is topk_group ballot rounds.
#include <cuda_runtime.h>

#include <cfloat>
#include <cmath>
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/families/moe_gate.cuh"
#include "kernelkit_ops/moe/moe_fused_gate.h"

namespace kernelkit {
namespace {

using moe_gate::GateArgs;
using moe_gate::round_to;

struct GroupedSigmoidGate {
  template <typename T, int LANES, int VPL>
  __device__ __forceinline__ static void scores(const GateArgs& a, int lane, float (&x)[VPL],
                                                moe_gate::LiveMask<VPL>& live, float (&key)[VPL], float (&wt)[VPL]) {
    float b[VPL];
    moe_gate::load_lane<T, VPL>(b, static_cast<const T*>(a.bias), lane, a.num_experts, a.bias_vec);
    const float lowest = round_to<T>(-FLT_MAX);  // upstream's "no value yet", -inf once rounded to bf16
    float t1 = lowest, t2 = lowest;
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      wt[j] = round_to<T>(1.0f / (1.0f + expf(-x[j])));
      key[j] = round_to<T>(wt[j] + b[j]);
      if (key[j] > t1) {
        t2 = t1;
        t1 = key[j];
      } else if (key[j] > t2) {
        t2 = key[j];
      }
    }
    const int lanes_per_group = a.num_experts / a.num_groups / VPL;
    for (int off = 1; off < lanes_per_group; off *= 2) {  // merge the group's lanes: top-2 of the multiset
      const float o1 = __shfl_xor_sync(0xffffffffu, t1, off, LANES);
      const float o2 = __shfl_xor_sync(0xffffffffu, t2, off, LANES);
      const float n2 = fmaxf(fminf(t1, o1), fmaxf(t2, o2));
      t1 = fmaxf(t1, o1);
      t2 = n2;
    }
    const float score = round_to<T>(t1 + t2);
    const int group = lane / lanes_per_group;
    // Keep the topk_group best groups (score desc, lower group on ties; a NaN score is never kept): a group's rank
    // is the number of groups ahead of it, counted from every group's score at once (independent shuffles) rather
    // than in topk_group dependent max-rounds.
    int ahead = 0;
#pragma unroll 8
    for (int g = 0; g < a.num_groups; ++g) {
      const float o = __shfl_sync(0xffffffffu, score, g * lanes_per_group, LANES);
      ahead += (o > score || (o == score && g < group)) ? 1 : 0;
    }
    if (score != score || ahead >= a.topk_group) live = 0;
  }

  __device__ __forceinline__ static void finish(const GateArgs& a, int j, float sum, float& w, int& e) {
    if (j >= a.topk_routed) {  // a fused shared expert: E, E + 1, ...
      w = static_cast<float>(static_cast<double>(sum) / a.routed_scaling_factor);
      e = a.num_experts + (j - a.topk_routed);
    }
    w = w / sum;
    if (a.scale_output) w = static_cast<float>(static_cast<double>(w) * a.routed_scaling_factor);
  }
};

// A warp per row (E / 32 experts per lane; a lane per expert below 32 experts), so a selection round is one
// redux.sync; E / 32 <= E / num_groups (num_groups <= 32), so a group is whole lanes.
bool fused_layout(int num_experts, int num_groups, int& lanes, int& vpl) {
  const int group_size = num_experts / num_groups;
  lanes = num_experts < 32 ? num_experts : 32;
  vpl = num_experts / lanes;
  return lanes * vpl == num_experts && vpl <= group_size && vpl <= 32;
}

template <class F>
cudaError_t dispatch_fused_layout(int lanes, int vpl, F&& f) {
  KK_MOE_LAYOUT(1, 1)
  KK_MOE_LAYOUT(2, 1)
  KK_MOE_LAYOUT(4, 1)
  KK_MOE_LAYOUT(8, 1)
  KK_MOE_LAYOUT(16, 1)
  KK_MOE_LAYOUT(32, 1)
  KK_MOE_LAYOUT(32, 2)
  KK_MOE_LAYOUT(32, 4)
  KK_MOE_LAYOUT(32, 8)
  KK_MOE_LAYOUT(32, 16)
  KK_MOE_LAYOUT(32, 32)
  return cudaErrorInvalidValue;
}

}  // namespace
}  // namespace kernelkit

cudaError_t kernelkit::launch_moe_fused_gate(float* topk_weights, int64_t weights_row_stride, int32_t* topk_ids,
                                             int64_t ids_row_stride, const void* input, int64_t input_row_stride,
                                             const void* bias, int64_t num_tokens, int num_experts,
                                             int num_expert_group, int topk_group, int topk,
                                             int num_fused_shared_experts, double routed_scaling_factor,
                                             bool apply_routed_scaling_factor_on_output, bool enable_pdl, DType dtype,
                                             cudaStream_t stream) {
  if (num_tokens == 0) return cudaSuccess;
  int lanes = 0, vpl = 0;
  if (!fused_layout(num_experts, num_expert_group, lanes, vpl)) return cudaErrorInvalidValue;
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
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
    a.topk_routed = topk - num_fused_shared_experts;
    const int width = moe_gate::vector_width<T>(vpl);
    a.input_vec = moe_gate::vectors_fit(input, input_row_stride, num_experts, width, sizeof(T));
    a.bias_vec = moe_gate::vectors_fit(bias, 0, num_experts, width, sizeof(T));
    a.num_groups = num_expert_group;
    a.topk_group = topk_group;
    a.routed_scaling_factor = routed_scaling_factor;
    a.scale_output = apply_routed_scaling_factor_on_output;
    return dispatch_fused_layout(lanes, vpl, [&](auto l, auto v) {
      return moe_gate::launch_gate<GroupedSigmoidGate, T, decltype(l)::value, decltype(v)::value>(a, enable_pdl,
                                                                                                  stream);
    });
  });
}
