// transfer_kv_per_layer: one layer's K and V items from slot src_indices[i] of src_k/src_v to slot dst_indices[i] of
// dst_k/dst_v, all four layer-first ([slots, item_size bytes]), bit for bit, by a few CTAs
// (families/kv_transfer.cuh: why and how).
//
// Bytes: each item read once and written once (item_size per layer and K/V), plus the two indices.
#include "kernelkit/families/kv_transfer.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_per_layer.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_per_layer.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_per_layer(const KvTransferArgs& args, cudaStream_t stream) {
  return launch_kv_transfer<KvLayout::kLayerFirst, KvLayout::kLayerFirst, 2>(args, stream);
}
