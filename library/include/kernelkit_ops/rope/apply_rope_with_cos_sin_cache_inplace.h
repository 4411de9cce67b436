// The launcher of apply_rope_with_cos_sin_cache_inplace: defined by its kernel
// (csrc/rope/apply_rope_with_cos_sin_cache_inplace.cu), called by its binding
// (csrc/rope/apply_rope_with_cos_sin_cache_inplace.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// apply_rope_with_cos_sin_cache_inplace: in place, for every token t and every head of query (num_q_heads)
// and key (num_k_heads), addressed by (token, head) strides in elements with each head's dims contiguous,
// rotates the first rotary_dim dims by row positions[t] (int64, or int32) of cos_sin_cache
// [max_pos, rotary_dim] fp32 = [cos | sin]; NeoX pairs (i, i + rotary_dim/2), else (2i, 2i + 1).
// A position outside [0, max_pos) leaves its token unchanged and is recorded in position_errors
// (int64[4]: count, token, position, max_pos of the first; may be null).
cudaError_t launch_apply_rope_with_cos_sin_cache_inplace(
    void* query, void* key, const void* positions, const float* cos_sin_cache, int64_t* position_errors,
    int64_t num_tokens, int64_t num_q_heads, int64_t num_k_heads, int64_t rotary_dim, int64_t q_token_stride,
    int64_t q_head_stride, int64_t k_token_stride, int64_t k_head_stride, int64_t cache_row_stride, int64_t max_pos,
    bool positions_int64, bool is_neox, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
