// Checks merge_state and merge_state_v2 share: v_a, v_b, v_merged [T, H, D] of one float dtype, each dense in its
// last dimension (tokens and heads may be strided); s_a, s_b, s_merged [T, H] float32, any strides.
#pragma once

#include "kernelkit/binding.h"
#include "kernelkit/families/merge_state_args.h"

namespace kernelkit::binding {

inline void check_merge_value(const char* op, const Tensor& v, const char* arg, const Tensor& v_a) {
  KK_CHECK(v.dim() == 3, op, arg, " must be 3-D [num_tokens, num_heads, head_dim], got ", shape_str(v));
  if (&v != &v_a) {
    check_same_dtype(v_a, "v_a", v, arg, op);
    check_same_shape(v_a, "v_a", v, arg, op);
  }
  KK_CHECK(v.size(2) <= 1 || v.stride(2) == 1, op, arg, " must be contiguous in its last dimension (stride ",
           v.stride(2), ")");
}

inline void check_merge_lse(const char* op, const Tensor& s, const char* arg, const Tensor& v_a) {
  check_scalar_type(s, ScalarType::Float, op, arg);
  KK_CHECK(s.dim() == 2 && s.size(0) == v_a.size(0) && s.size(1) == v_a.size(1), op, arg,
           " must have shape [num_tokens, num_heads] = [", v_a.size(0), ", ", v_a.size(1), "], got ", shape_str(s));
}

inline MergeStateArgs check_merge_state_args(const char* op, DType& dtype, const Tensor& v_a, const Tensor& s_a,
                                             const Tensor& v_b, const Tensor& s_b, const Tensor& v_merged,
                                             const Tensor& s_merged) {
  dtype = float_dtype(v_a, op, "v_a");
  check_merge_value(op, v_a, "v_a", v_a);
  check_merge_value(op, v_b, "v_b", v_a);
  check_merge_value(op, v_merged, "v_merged", v_a);
  check_merge_lse(op, s_a, "s_a", v_a);
  check_merge_lse(op, s_b, "s_b", v_a);
  check_merge_lse(op, s_merged, "s_merged", v_a);
  check_devices(
      op, {{"v_a", v_a}, {"s_a", s_a}, {"v_b", v_b}, {"s_b", s_b}, {"v_merged", v_merged}, {"s_merged", s_merged}});
  return MergeStateArgs{v_a.data_ptr(),      static_cast<const float*>(s_a.data_ptr()),
                        v_b.data_ptr(),      static_cast<const float*>(s_b.data_ptr()),
                        v_merged.data_ptr(), static_cast<float*>(s_merged.data_ptr()),
                        v_a.size(0),         v_a.size(1),
                        v_a.size(2),         v_a.stride(0),
                        v_a.stride(1),       v_b.stride(0),
                        v_b.stride(1),       v_merged.stride(0),
                        v_merged.stride(1),  s_a.stride(0),
                        s_a.stride(1),       s_b.stride(0),
                        s_b.stride(1),       s_merged.stride(0),
                        s_merged.stride(1)};
}

}  // namespace kernelkit::binding
