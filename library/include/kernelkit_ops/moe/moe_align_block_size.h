// The launcher of moe_align_block_size: defined by its kernel (csrc/moe/moe_align_block_size.cu), called by its
// binding (csrc/moe/moe_align_block_size.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kernelkit {

// The most buckets (num_experts as sgl-kernel's callers pass it: experts + 1) one call takes: the per-warp
// histograms live in shared memory.
constexpr int64_t kMaxMoeAlignBuckets = 4097;

// moe_align_block_size: entries of topk_ids (numel of them, int32 or int64) into bucket id + 1 of num_experts,
// each bucket padded to a multiple of block_size, in sorted_token_ids (sorted_len int32, enough for
// numel + min(numel, num_experts) * (block_size - 1)); experts_ids[block] = bucket - 1; num_tokens_post_pad[0] the
// padded total; cumsum_buffer[0..num_experts] the bucket starts. cudaErrorInvalidValue for sizes out of range.
cudaError_t launch_moe_align_block_size(const void* topk_ids, bool ids_are_int64, int64_t numel, int64_t num_experts,
                                        int64_t block_size, int32_t* sorted_token_ids, int64_t sorted_len,
                                        int32_t* experts_ids, int32_t* num_tokens_post_pad, int32_t* cumsum_buffer,
                                        bool pad_sorted_token_ids, bool ignore_invalid_expert, bool enable_pdl,
                                        cudaStream_t stream);

}  // namespace kernelkit
