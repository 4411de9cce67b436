// Checks the MoE gating bindings share (topk_softmax, topk_sigmoid, moe_fused_gate, kimi_k2_moe_fused_gate):
// a [T, E] router-logit matrix, a [E] bias, and the [T, k] fp32 weights / int32 ids they write.
#pragma once

#include "kernelkit/binding.h"

namespace kernelkit::binding::moe_gate {

// Most output slots per row the gate kernels keep in registers (kernelkit/families/moe_gate.cuh, kMaxTopk).
constexpr int64_t kMaxTopk = 16;

// A 2-D matrix whose last dimension is contiguous: returns its row stride.
inline int64_t matrix_row_stride(const Tensor& t, const char* op, const char* arg, const char* dims) {
  KK_CHECK(t.dim() == 2, op, arg, " must be a 2-D tensor ", dims, ", got shape ", shape_str(t));
  KK_CHECK(t.size(1) <= 1 || t.stride(1) == 1, op, arg, " must be contiguous in its last dimension (stride ",
           t.stride(1), ")");
  KK_CHECK(t.size(0) <= 1 || t.stride(0) >= t.size(1), op, arg, " rows must not overlap (row stride ", t.stride(0),
           " < ", t.size(1), ")");
  return t.size(0) <= 1 ? t.size(1) : t.stride(0);
}

struct Outputs {
  int64_t topk;
  int64_t weights_row_stride;
  int64_t ids_row_stride;
};

// topk_weights float32 [T, k] and topk_ids int32 [T, k].
inline Outputs check_outputs(const char* op, const Tensor& weights, const Tensor& ids, int64_t num_tokens) {
  check_scalar_type(weights, ScalarType::Float, op, "topk_weights");
  check_scalar_type(ids, ScalarType::Int, op, "topk_ids");
  Outputs o{};
  o.weights_row_stride = matrix_row_stride(weights, op, "topk_weights", "[num_tokens, topk]");
  o.ids_row_stride = matrix_row_stride(ids, op, "topk_ids", "[num_tokens, topk]");
  KK_CHECK(weights.size(0) == num_tokens, op, "topk_weights must have ", num_tokens,
           " rows (one per token of the gating input), got shape ", shape_str(weights));
  check_same_shape(weights, "topk_weights", ids, "topk_ids", op);
  o.topk = weights.size(1);
  KK_CHECK(o.topk >= 1, op, "topk (the last dimension of topk_weights) must be at least 1, got ", o.topk);
  KK_CHECK(o.topk <= kMaxTopk, op, "topk (the last dimension of topk_weights) must be at most ", kMaxTopk,
           " in kernelkit, got ", o.topk);
  return o;
}

// bias [E], contiguous, of `dtype`.
inline void check_bias(const char* op, const char* arg, const Tensor& bias, int64_t num_experts, ScalarType dtype) {
  check_scalar_type(bias, dtype, op, arg);
  KK_CHECK(bias.dim() == 1 && bias.size(0) == num_experts, op, arg, " must have shape [", num_experts,
           "] (one value per expert), got ", shape_str(bias));
  check_contiguous(bias, op, arg);
}

}  // namespace kernelkit::binding::moe_gate
