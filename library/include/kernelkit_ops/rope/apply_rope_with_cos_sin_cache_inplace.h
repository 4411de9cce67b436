// The launcher of apply_rope_with_cos_sin_cache_inplace: defined by its kernel
// (csrc/rope/apply_rope_with_cos_sin_cache_inplace.cu), called by its binding
// (csrc/rope/apply_rope_with_cos_sin_cache_inplace.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// The KV-cache store fused into the rotation (sgl-kernel's FusedSetKVBufferArg). value == nullptr: no store.
// For every token t and key head h (heads of value, k_buffer and v_buffer = the key's), all head_size dims:
//   k_buffer[cache_loc[t], h, :] = the rotated key head (bit for bit what is written to key)
//   v_buffer[cache_loc[t], h, :] = value[t, h, :]
// Strides in elements; each head's dims contiguous; value, k_buffer and v_buffer of the query's dtype.
struct RopeKvStore {
  const void* value = nullptr;
  void* k_buffer = nullptr;
  void* v_buffer = nullptr;
  const int64_t* cache_loc = nullptr;  // [T] slots; outside [0, num_slots): that token is not stored
  int64_t value_token_stride = 0, value_head_stride = 0;
  int64_t k_buffer_slot_stride = 0, k_buffer_head_stride = 0;
  int64_t v_buffer_slot_stride = 0, v_buffer_head_stride = 0;
  int64_t num_slots = 0;
};

// Elements of the out-of-range record (int64): the first bad position since the last reset, with a count,
// then the first bad cache_loc.
enum RopeErrorField : int {
  kRopeBadPositions = 0,  // count, then token, position, max_pos
  kRopeBadCacheLocs = 4,  // count, then token, cache_loc, num_slots
  kRopeErrorFields = 8,
};

// apply_rope_with_cos_sin_cache_inplace: in place, for every token t and every head of query (num_q_heads)
// and key (num_k_heads), addressed by (token, head) strides in elements with each head's dims contiguous,
// rotates the first rotary_dim dims by row positions[t] (int64, or int32) of cos_sin_cache
// [max_pos, rotary_dim] fp32 = [cos | sin]; NeoX pairs (i, i + rotary_dim/2), else (2i, 2i + 1); then, with
// kv.value set, stores key and value heads into the KV cache (RopeKvStore) in the same pass.
// A position outside [0, max_pos) leaves its token unchanged and unstored; it and a cache_loc outside
// [0, num_slots) are recorded in errors (int64[kRopeErrorFields], may be null). enable_pdl: programmatic
// dependent launch (the kernel waits for the previous one before its first global read).
cudaError_t launch_apply_rope_with_cos_sin_cache_inplace(
    void* query, void* key, const void* positions, const float* cos_sin_cache, int64_t* errors, const RopeKvStore& kv,
    int64_t num_tokens, int64_t num_q_heads, int64_t num_k_heads, int64_t head_size, int64_t rotary_dim,
    int64_t q_token_stride, int64_t q_head_stride, int64_t k_token_stride, int64_t k_head_stride,
    int64_t cache_row_stride, int64_t max_pos, bool positions_int64, bool is_neox, bool enable_pdl, DType dtype,
    cudaStream_t stream);

}  // namespace kernelkit
