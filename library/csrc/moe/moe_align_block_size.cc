// moe_align_block_size: the torch face of launch_moe_align_block_size (validate the arguments, pick the stream, launch)
// and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/moe/moe_align_block_size.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void check_int32_buffer(const Tensor& t, const char* op, const char* arg, int64_t min_numel, const char* why) {
  check_scalar_type(t, ScalarType::Int, op, arg);
  check_contiguous(t, op, arg);
  KK_CHECK(t.numel() >= min_numel, op, arg, " must hold at least ", min_numel, " elements (", why, "), got ",
           t.numel());
}

void moe_align_block_size(Tensor topk_ids, int64_t num_experts, int64_t block_size, Tensor sorted_token_ids,
                          Tensor experts_ids, Tensor num_tokens_post_pad, Tensor cumsum_buffer,
                          bool pad_sorted_token_ids, bool ignore_invalid_expert, bool enable_pdl) {
  constexpr const char* op = "moe_align_block_size";
  const ScalarType id_type = topk_ids.scalar_type();
  KK_CHECK(id_type == ScalarType::Int || id_type == ScalarType::Long, op, "topk_ids must be int32 or int64, got ",
           scalar_type_name(id_type));
  check_contiguous(topk_ids, op, "topk_ids");
  KK_CHECK(num_experts >= 1 && num_experts <= kMaxMoeAlignBuckets, op, "num_experts must be in [1, ",
           kMaxMoeAlignBuckets, "] (the bucket count: experts + 1, the first for id -1), got ", num_experts);
  KK_CHECK(block_size >= 1, op, "block_size must be positive, got ", block_size);
  const int64_t numel = topk_ids.numel();
  // The most slots the padding can need: every non-empty bucket adds at most block_size - 1.
  const int64_t max_padded = numel + std::min(numel, num_experts) * (block_size - 1);
  KK_CHECK(max_padded < (int64_t{1} << 31) && sorted_token_ids.numel() < (int64_t{1} << 31), op,
           "topk_ids.numel() + min(topk_ids.numel(), num_experts) * (block_size - 1) = ", max_padded,
           " and sorted_token_ids.numel() must be below 2^31 (int32 positions)");
  check_int32_buffer(sorted_token_ids, op, "sorted_token_ids", max_padded,
                     "topk_ids.numel() + min(topk_ids.numel(), num_experts) * (block_size - 1), the most the padding "
                     "can need");
  check_int32_buffer(experts_ids, op, "experts_ids", max_padded / block_size,
                     "one per block of the most the padding can need");
  check_int32_buffer(num_tokens_post_pad, op, "num_tokens_post_pad", 1, "the padded total");
  check_int32_buffer(cumsum_buffer, op, "cumsum_buffer", num_experts + 1, "num_experts + 1 bucket starts");
  check_devices(op, {{"topk_ids", topk_ids},
                     {"sorted_token_ids", sorted_token_ids},
                     {"experts_ids", experts_ids},
                     {"num_tokens_post_pad", num_tokens_post_pad},
                     {"cumsum_buffer", cumsum_buffer}});
  // No early return for numel == 0: num_tokens_post_pad (0), cumsum_buffer and the padding are still outputs.
  const int32_t device = topk_ids.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_moe_align_block_size(topk_ids.data_ptr(), id_type == ScalarType::Long, numel, num_experts,
                                           block_size, static_cast<int32_t*>(sorted_token_ids.data_ptr()),
                                           sorted_token_ids.numel(), static_cast<int32_t*>(experts_ids.data_ptr()),
                                           static_cast<int32_t*>(num_tokens_post_pad.data_ptr()),
                                           static_cast<int32_t*>(cumsum_buffer.data_ptr()), pad_sorted_token_ids,
                                           ignore_invalid_expert, enable_pdl, current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, moe_align_block_size, &kernelkit::binding::moe_align_block_size,
    "moe_align_block_size(Tensor topk_ids, int num_experts, int block_size, Tensor! sorted_token_ids, "
    "Tensor! experts_ids, Tensor! num_tokens_post_pad, Tensor! cumsum_buffer, bool "
    "pad_sorted_token_ids, bool ignore_invalid_expert, bool enable_pdl) -> ()");
