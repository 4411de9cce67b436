// apply_rope_with_cos_sin_cache_inplace: the torch face of launch_apply_rope_with_cos_sin_cache_inplace (validate the
// tensors, pick the stream, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/rope/apply_rope_with_cos_sin_cache_inplace.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

// query/key as [T, heads, head_size]: 2-D [T, heads * head_size] rows or 3-D [T, heads, head_size],
// each head's dims contiguous; (token, head) strides in elements. Sizes-1 dims get dense strides, so
// a lone token or head never forces narrow vectors.
struct RopeHeads {
  int64_t heads, token_stride, head_stride;
};
RopeHeads rope_heads(const Tensor& t, const char* arg, int64_t num_tokens, int64_t head_size) {
  constexpr const char* op = "apply_rope_with_cos_sin_cache_inplace";
  KK_CHECK(t.dim() == 2 || t.dim() == 3, op, arg, " must be [T, heads * head_size] or [T, heads, head_size], got ",
           shape_str(t));
  KK_CHECK(t.size(0) == num_tokens, op, arg, " must have one row per position (", num_tokens, "), got shape ",
           shape_str(t));
  const int64_t last = t.size(t.dim() - 1);
  KK_CHECK(last <= 1 || t.stride(t.dim() - 1) == 1, op, arg, " must be contiguous in its last dimension (stride ",
           t.stride(t.dim() - 1), ")");
  RopeHeads v{};
  if (t.dim() == 2) {
    KK_CHECK(last % head_size == 0, op, arg, "'s last dimension (", last, ") must be a multiple of head_size (",
             head_size, ")");
    v.heads = last / head_size;
    v.head_stride = head_size;
  } else {
    KK_CHECK(last == head_size, op, arg, "'s last dimension must be head_size (", head_size, "), got shape ",
             shape_str(t));
    v.heads = t.size(1);
    v.head_stride = v.heads > 1 ? t.stride(1) : head_size;
  }
  if (v.heads == 0) return RopeHeads{0, 0, 0};  // nothing of it is touched
  v.token_stride = num_tokens > 1 ? t.stride(0) : v.heads * v.head_stride;
  // Written in place, so no two (token, head) rows may overlap (e.g. an expand()ed tensor): ordered by
  // stride, each stride must step past the extent of the dims below it.
  const bool heads_inner = v.head_stride <= v.token_stride;
  const int64_t inner = heads_inner ? v.head_stride : v.token_stride, inner_n = heads_inner ? v.heads : num_tokens;
  const int64_t outer = heads_inner ? v.token_stride : v.head_stride, outer_n = heads_inner ? num_tokens : v.heads;
  const bool disjoint =
      (inner_n <= 1 || inner >= head_size) && (outer_n <= 1 || outer >= (inner_n <= 1 ? head_size : inner * inner_n));
  KK_CHECK(disjoint, op, arg, " of shape ", shape_str(t), " has overlapping heads or rows (strides ", v.token_stride,
           ", ", v.head_stride, "); it is written in place, pass a tensor without overlaps");
  return v;
}
void apply_rope_with_cos_sin_cache_inplace(Tensor positions, Tensor query, Tensor key, int64_t head_size,
                                           Tensor cos_sin_cache, bool is_neox, Tensor position_errors) {
  constexpr const char* op = "apply_rope_with_cos_sin_cache_inplace";
  const DType dtype = float_dtype_in(query, op, "query", {DType::kBFloat16, DType::kFloat16});
  check_same_dtype(query, "query", key, "key", op);
  const ScalarType pos_type = positions.scalar_type();
  KK_CHECK(pos_type == ScalarType::Long || pos_type == ScalarType::Int, op, "positions must be int64 or int32, got ",
           scalar_type_name(pos_type));
  KK_CHECK(cos_sin_cache.scalar_type() == ScalarType::Float, op, "cos_sin_cache must be float32, got ",
           scalar_type_name(cos_sin_cache.scalar_type()));
  KK_CHECK(position_errors.scalar_type() == ScalarType::Long, op, "position_errors must be int64, got ",
           scalar_type_name(position_errors.scalar_type()));
  KK_CHECK(head_size > 0, op, "head_size must be positive, got ", head_size);
  KK_CHECK(positions.dim() == 1, op, "positions must be 1-D [T], got shape ", shape_str(positions));
  check_contiguous(positions, op, "positions");
  const int64_t num_tokens = positions.size(0);
  KK_CHECK(num_tokens <= INT32_MAX, op, "positions has ", num_tokens, " tokens; at most 2^31 - 1 are supported");
  KK_CHECK(cos_sin_cache.dim() == 2, op, "cos_sin_cache must be 2-D [max_pos, rotary_dim], got shape ",
           shape_str(cos_sin_cache));
  const int64_t max_pos = cos_sin_cache.size(0);
  const int64_t rotary_dim = cos_sin_cache.size(1);
  KK_CHECK(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_size, op,
           "cos_sin_cache's last dimension (rotary_dim = ", rotary_dim,
           ") must be even, positive and at most head_size (", head_size, ")");
  KK_CHECK(rotary_dim <= 2048, op, "rotary_dim (cos_sin_cache's last dimension) must be at most 2048, got ",
           rotary_dim);
  KK_CHECK(cos_sin_cache.stride(1) == 1, op, "cos_sin_cache must be contiguous in its last dimension (stride ",
           cos_sin_cache.stride(1), ")");
  const int64_t cache_row_stride = max_pos > 1 ? cos_sin_cache.stride(0) : rotary_dim;
  KK_CHECK(position_errors.numel() == 0 || (position_errors.numel() == 4 && position_errors.is_contiguous()), op,
           "position_errors must be empty (no recording) or a contiguous int64 tensor of 4 elements, got shape ",
           shape_str(position_errors));
  const RopeHeads q = rope_heads(query, "query", num_tokens, head_size);
  const RopeHeads k = rope_heads(key, "key", num_tokens, head_size);
  check_devices(op, {{"query", query},
                     {"key", key},
                     {"positions", positions},
                     {"cos_sin_cache", cos_sin_cache},
                     {"position_errors", position_errors}});
  if (num_tokens == 0 || q.heads + k.heads == 0) return;
  torch::stable::accelerator::DeviceGuard guard(query.get_device_index());
  check_launch(
      launch_apply_rope_with_cos_sin_cache_inplace(
          query.data_ptr(), key.data_ptr(), positions.data_ptr(), static_cast<const float*>(cos_sin_cache.data_ptr()),
          position_errors.numel() ? static_cast<int64_t*>(position_errors.data_ptr()) : nullptr, num_tokens, q.heads,
          k.heads, rotary_dim, q.token_stride, q.head_stride, k.token_stride, k.head_stride, cache_row_stride, max_pos,
          pos_type == ScalarType::Long, is_neox, dtype, current_cuda_stream(query.get_device_index())),
      op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, apply_rope_with_cos_sin_cache_inplace, &kernelkit::binding::apply_rope_with_cos_sin_cache_inplace,
    "apply_rope_with_cos_sin_cache_inplace(Tensor positions, Tensor! query, Tensor! key, int head_size, Tensor cos_sin_cache, bool is_neox, Tensor! position_errors) -> ()");
