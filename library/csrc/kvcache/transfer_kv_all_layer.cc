// transfer_kv_all_layer: the torch face of launch_transfer_kv_all_layer (validate the arguments, pick the stream,
// launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel. Shared checks:
// kvcache/kv_transfer_binding.h.
#include "kernelkit_ops/kvcache/transfer_kv_all_layer.h"
#include "kernelkit/binding.h"
#include "kvcache/kv_transfer_binding.h"

#include <algorithm>

namespace kernelkit::binding {
namespace {

void transfer_kv_all_layer(Tensor src_k_layers, Tensor dst_k_layers, Tensor src_v_layers, Tensor dst_v_layers,
                           Tensor src_indices, Tensor dst_indices, int64_t item_size, int64_t num_layers,
                           int64_t block_quota, int64_t num_warps_per_block) {
  constexpr const char* op = "transfer_kv_all_layer";
  check_kv_knobs(op, item_size, block_quota, num_warps_per_block);
  check_kv_num_layers(op, num_layers);
  check_kv_item_chunks(op, item_size, num_layers, 2);
  const int64_t n = check_kv_indices(op, src_indices, dst_indices);
  check_kv_table(op, src_k_layers, "src_k_layers", num_layers, true);
  check_kv_table(op, dst_k_layers, "dst_k_layers", num_layers, false);
  check_kv_table(op, src_v_layers, "src_v_layers", num_layers, false);
  check_kv_table(op, dst_v_layers, "dst_v_layers", num_layers, false);
  const int32_t device = check_kv_index_devices(op, src_indices, dst_indices);
  torch::stable::accelerator::DeviceGuard guard(device);
  KvTransferArgs a =
      kv_transfer_args(src_indices, dst_indices, item_size, 0, num_layers, block_quota, num_warps_per_block);
  a.src = {kv_device_ptr(op, src_k_layers, "src_k_layers", device),
           kv_device_ptr(op, src_v_layers, "src_v_layers", device), 0, kKvUnknownCapacity};
  a.dst = {kv_device_ptr(op, dst_k_layers, "dst_k_layers", device),
           kv_device_ptr(op, dst_v_layers, "dst_v_layers", device), 0, kKvUnknownCapacity};
  if (n == 0 || num_layers == 0) return;  // nothing to launch
  check_launch(launch_transfer_kv_all_layer(a, current_cuda_stream(device)), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, transfer_kv_all_layer, &kernelkit::binding::transfer_kv_all_layer,
                      "transfer_kv_all_layer(Tensor src_k_layers, Tensor! dst_k_layers, Tensor src_v_layers, "
                      "Tensor! dst_v_layers, Tensor src_indices, Tensor dst_indices, int item_size, int num_layers, "
                      "int block_quota=2, int num_warps_per_block=32) -> ()");
