// apply_rope_with_cos_sin_cache_inplace: the torch face of launch_apply_rope_with_cos_sin_cache_inplace (validate the
// tensors, pick the stream, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/rope/apply_rope_with_cos_sin_cache_inplace.h"

#include <optional>

#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

constexpr const char* kOp = "apply_rope_with_cos_sin_cache_inplace";

// query/key/value (rows = tokens) and k_buffer/v_buffer (rows = cache slots) as [rows, heads, head_size]:
// 2-D [rows, heads * head_size] or 3-D [rows, heads, head_size], each head's dims contiguous; (row, head)
// strides in elements. Sizes-1 dims get dense strides, so a lone row or head never forces narrow vectors.
struct RopeHeads {
  int64_t rows, heads, row_stride, head_stride;
};
RopeHeads rope_heads(const Tensor& t, const char* arg, const char* rows_name, int64_t head_size, bool written) {
  KK_CHECK(t.dim() == 2 || t.dim() == 3, kOp, arg, " must be [", rows_name, ", heads * head_size] or [", rows_name,
           ", heads, head_size], got ", shape_str(t));
  const int64_t last = t.size(t.dim() - 1);
  KK_CHECK(last <= 1 || t.stride(t.dim() - 1) == 1, kOp, arg, " must be contiguous in its last dimension (stride ",
           t.stride(t.dim() - 1), ")");
  RopeHeads v{};
  v.rows = t.size(0);
  if (t.dim() == 2) {
    KK_CHECK(last % head_size == 0, kOp, arg, "'s last dimension (", last, ") must be a multiple of head_size (",
             head_size, ")");
    v.heads = last / head_size;
    v.head_stride = head_size;
  } else {
    KK_CHECK(last == head_size, kOp, arg, "'s last dimension must be head_size (", head_size, "), got shape ",
             shape_str(t));
    v.heads = t.size(1);
    v.head_stride = v.heads > 1 ? t.stride(1) : head_size;
  }
  if (v.heads == 0) return RopeHeads{v.rows, 0, 0, 0};  // nothing of it is touched
  v.row_stride = v.rows > 1 ? t.stride(0) : v.heads * v.head_stride;
  if (!written) return v;
  // Written in place, so no two (row, head) blocks may overlap (e.g. an expand()ed tensor): ordered by
  // stride, each stride must step past the extent of the dims below it.
  const bool heads_inner = v.head_stride <= v.row_stride;
  const int64_t inner = heads_inner ? v.head_stride : v.row_stride, inner_n = heads_inner ? v.heads : v.rows;
  const int64_t outer = heads_inner ? v.row_stride : v.head_stride, outer_n = heads_inner ? v.rows : v.heads;
  const bool disjoint =
      (inner_n <= 1 || inner >= head_size) && (outer_n <= 1 || outer >= (inner_n <= 1 ? head_size : inner * inner_n));
  KK_CHECK(disjoint, kOp, arg, " of shape ", shape_str(t), " has overlapping heads or rows (strides ", v.row_stride,
           ", ", v.head_stride, "); it is written in place, pass a tensor without overlaps");
  return v;
}

void check_rows(const RopeHeads& h, const Tensor& t, const char* arg, int64_t num_tokens) {
  KK_CHECK(h.rows == num_tokens, kOp, arg, " must have one row per position (", num_tokens, "), got shape ",
           shape_str(t));
}

// The fused KV-cache store's tensors (sgl-kernel's FusedSetKVBufferArg), checked against key.
RopeKvStore kv_store(const Tensor& query, const Tensor& value, const Tensor& k_buffer, const Tensor& v_buffer,
                     const Tensor& cache_loc, const RopeHeads& k, int64_t num_tokens, int64_t head_size) {
  auto same_dtype = [&](const Tensor& t, const char* name) {
    KK_CHECK(t.scalar_type() == query.scalar_type(), kOp, name, " must have the dtype of query (",
             scalar_type_name(query.scalar_type()), "), got ", scalar_type_name(t.scalar_type()),
             "; the fused store writes the rotated key as it is (no fp8 KV cache, no k_scale/v_scale, as in "
             "sgl-kernel)");
  };
  same_dtype(value, "value");
  same_dtype(k_buffer, "k_buffer");
  same_dtype(v_buffer, "v_buffer");
  KK_CHECK(cache_loc.scalar_type() == ScalarType::Long, kOp, "cache_loc must be int64, got ",
           scalar_type_name(cache_loc.scalar_type()));
  KK_CHECK(cache_loc.dim() == 1 && cache_loc.size(0) == num_tokens, kOp,
           "cache_loc must be 1-D with one slot per position [", num_tokens, "], got shape ", shape_str(cache_loc));
  check_contiguous(cache_loc, kOp, "cache_loc");
  const RopeHeads v = rope_heads(value, "value", "T", head_size, false);
  check_rows(v, value, "value", num_tokens);
  KK_CHECK(v.heads == k.heads, kOp, "value must have key's heads (", k.heads, " of head_size ", head_size,
           "), got shape ", shape_str(value));
  const RopeHeads kb = rope_heads(k_buffer, "k_buffer", "slots", head_size, true);
  const RopeHeads vb = rope_heads(v_buffer, "v_buffer", "slots", head_size, true);
  KK_CHECK(kb.heads == k.heads, kOp, "k_buffer must have key's heads (", k.heads, " of head_size ", head_size,
           ") per slot, got shape ", shape_str(k_buffer));
  KK_CHECK(vb.heads == k.heads, kOp, "v_buffer must have key's heads (", k.heads, " of head_size ", head_size,
           ") per slot, got shape ", shape_str(v_buffer));
  KK_CHECK(vb.rows == kb.rows, kOp, "v_buffer must have as many slots as k_buffer (", kb.rows, "), got shape ",
           shape_str(v_buffer));
  RopeKvStore s;
  s.value = value.data_ptr();
  s.k_buffer = k_buffer.data_ptr();
  s.v_buffer = v_buffer.data_ptr();
  s.cache_loc = static_cast<const int64_t*>(cache_loc.data_ptr());
  s.value_token_stride = v.row_stride;
  s.value_head_stride = v.head_stride;
  s.k_buffer_slot_stride = kb.row_stride;
  s.k_buffer_head_stride = kb.head_stride;
  s.v_buffer_slot_stride = vb.row_stride;
  s.v_buffer_head_stride = vb.head_stride;
  s.num_slots = kb.rows;
  return s;
}

void apply_rope_with_cos_sin_cache_inplace(Tensor positions, Tensor query, Tensor key, int64_t head_size,
                                           Tensor cos_sin_cache, bool is_neox, Tensor position_errors,
                                           std::optional<Tensor> value, Tensor k_buffer, Tensor v_buffer,
                                           std::optional<Tensor> cache_loc, bool enable_pdl) {
  constexpr const char* op = kOp;
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
  KK_CHECK(head_size <= INT32_MAX, op, "head_size must be below 2^31, got ", head_size);
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
  KK_CHECK(
      position_errors.numel() == 0 || (position_errors.numel() == kRopeErrorFields && position_errors.is_contiguous()),
      op, "position_errors must be empty (no recording) or a contiguous int64 tensor of ", int(kRopeErrorFields),
      " elements, got shape ", shape_str(position_errors));
  const RopeHeads q = rope_heads(query, "query", "T", head_size, true);
  const RopeHeads k = rope_heads(key, "key", "T", head_size, true);
  check_rows(q, query, "query", num_tokens);
  check_rows(k, key, "key", num_tokens);
  // The store is on when value is given (sgl-kernel's fused_set_kv_buffer_arg); then cache_loc must be too.
  KK_CHECK(value.has_value() == cache_loc.has_value(), op, value.has_value() ? "cache_loc" : "value",
           " must be given with ", value.has_value() ? "value" : "cache_loc", " (the fused KV-cache store takes both)");
  RopeKvStore kv;
  if (value.has_value()) {
    kv = kv_store(query, *value, k_buffer, v_buffer, *cache_loc, k, num_tokens, head_size);
    check_devices(op, {{"query", query},
                       {"key", key},
                       {"positions", positions},
                       {"cos_sin_cache", cos_sin_cache},
                       {"position_errors", position_errors},
                       {"value", *value},
                       {"k_buffer", k_buffer},
                       {"v_buffer", v_buffer},
                       {"cache_loc", *cache_loc}});
  } else {
    KK_CHECK(k_buffer.numel() == 0 && v_buffer.numel() == 0, op,
             "k_buffer and v_buffer must be empty without value (no KV-cache store), got shapes ", shape_str(k_buffer),
             " and ", shape_str(v_buffer));
    check_devices(op, {{"query", query},
                       {"key", key},
                       {"positions", positions},
                       {"cos_sin_cache", cos_sin_cache},
                       {"position_errors", position_errors}});
  }
  if (num_tokens == 0 || q.heads + k.heads == 0) return;
  torch::stable::accelerator::DeviceGuard guard(query.get_device_index());
  check_launch(
      launch_apply_rope_with_cos_sin_cache_inplace(
          query.data_ptr(), key.data_ptr(), positions.data_ptr(), static_cast<const float*>(cos_sin_cache.data_ptr()),
          position_errors.numel() ? static_cast<int64_t*>(position_errors.data_ptr()) : nullptr, kv, num_tokens,
          q.heads, k.heads, head_size, rotary_dim, q.row_stride, q.head_stride, k.row_stride, k.head_stride,
          cache_row_stride, max_pos, pos_type == ScalarType::Long, is_neox, enable_pdl, dtype,
          current_cuda_stream(query.get_device_index())),
      op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, apply_rope_with_cos_sin_cache_inplace, &kernelkit::binding::apply_rope_with_cos_sin_cache_inplace,
    "apply_rope_with_cos_sin_cache_inplace(Tensor positions, Tensor! query, Tensor! key, int head_size, Tensor cos_sin_cache, bool is_neox, Tensor! position_errors, Tensor? value, Tensor! k_buffer, Tensor! v_buffer, Tensor? cache_loc, bool enable_pdl) -> ()");
