// transfer_kv_per_layer_ph_lf: the torch face of launch_transfer_kv_per_layer_ph_lf (validate the arguments, pick the
// stream, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel. Shared checks:
// kvcache/kv_transfer_binding.h.
#include "kernelkit_ops/kvcache/transfer_kv_per_layer_ph_lf.h"
#include "kernelkit/binding.h"
#include "kvcache/kv_transfer_binding.h"

#include <algorithm>

namespace kernelkit::binding {
namespace {

void transfer_kv_per_layer_ph_lf(Tensor src_k, Tensor dst_k, Tensor src_v, Tensor dst_v, Tensor src_indices,
                                 Tensor dst_indices, int64_t layer_id, int64_t item_size, int64_t src_layout_dim,
                                 int64_t page_size, int64_t head_num, int64_t block_quota,
                                 int64_t num_warps_per_block) {
  constexpr const char* op = "transfer_kv_per_layer_ph_lf";
  check_kv_knobs(op, item_size, block_quota, num_warps_per_block);
  check_kv_layer_id(op, layer_id);
  check_kv_layout_dim(op, "src_layout_dim", src_layout_dim, item_size, layer_id + 1);
  check_kv_page_head(op, item_size, src_layout_dim, page_size, head_num);
  check_kv_item_chunks(op, item_size, 1, 2);
  const int64_t n = check_kv_indices(op, src_indices, dst_indices);
  for (const auto& [name, t] : {NamedTensor{"src_k", src_k}, {"dst_k", dst_k}, {"src_v", src_v}, {"dst_v", dst_v}}) {
    check_kv_buffer(op, t, name);
  }
  const int32_t device = check_kv_index_devices(op, src_indices, dst_indices);
  torch::stable::accelerator::DeviceGuard guard(device);
  KvTransferArgs a =
      kv_transfer_args(src_indices, dst_indices, item_size, layer_id, 1, block_quota, num_warps_per_block);
  a.page_size = page_size;
  a.head_num = head_num;
  a.src = {kv_device_ptr(op, src_k, "src_k", device), kv_device_ptr(op, src_v, "src_v", device), src_layout_dim,
           std::min(kv_ph_capacity(op, src_k, "src_k", page_size, src_layout_dim),
                    kv_ph_capacity(op, src_v, "src_v", page_size, src_layout_dim))};
  a.dst = {kv_device_ptr(op, dst_k, "dst_k", device), kv_device_ptr(op, dst_v, "dst_v", device), 0,
           std::min(kv_lf_capacity(dst_k, item_size), kv_lf_capacity(dst_v, item_size))};
  if (n == 0) return;  // nothing to launch
  check_launch(launch_transfer_kv_per_layer_ph_lf(a, current_cuda_stream(device)), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, transfer_kv_per_layer_ph_lf, &kernelkit::binding::transfer_kv_per_layer_ph_lf,
                      "transfer_kv_per_layer_ph_lf(Tensor src_k, Tensor! dst_k, Tensor src_v, Tensor! dst_v, "
                      "Tensor src_indices, Tensor dst_indices, int layer_id, int item_size, int src_layout_dim, "
                      "int page_size, int head_num, int block_quota=2, int num_warps_per_block=32) -> ()");
