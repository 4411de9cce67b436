// What merge_state and merge_state_v2 pass from their bindings to their launchers: two partial attention
// states (v [T, H, D] with its fp32 log-sum-exp s [T, H]) and where the merged one goes. Plain C++ so the
// bindings (g++) and the kernels (nvcc) share one definition.
#pragma once

#include <cstdint>

namespace kernelkit {

struct MergeStateArgs {
  const void* v_a;
  const float* s_a;
  const void* v_b;
  const float* s_b;
  void* v_merged;
  float* s_merged;
  int64_t tokens, heads, head_dim;
  // Strides in elements. v tensors are dense in their last dimension; tokens and heads may be strided.
  int64_t v_a_token_stride, v_a_head_stride;
  int64_t v_b_token_stride, v_b_head_stride;
  int64_t v_out_token_stride, v_out_head_stride;
  int64_t s_a_token_stride, s_a_head_stride;
  int64_t s_b_token_stride, s_b_head_stride;
  int64_t s_out_token_stride, s_out_head_stride;
};

}  // namespace kernelkit
