// transfer_kv_all_layer: every layer's K and V items between layer-first buffers named by tables of layer base
// addresses, bit for bit, by a few CTAs (families/kv_transfer.cuh: why and how).
//
// Bytes: each item read once and written once (item_size per layer and K/V), plus the two indices.
#include "kernelkit/families/kv_transfer.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_all_layer.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_all_layer.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_all_layer(const KvTransferArgs& args, cudaStream_t stream) {
  return launch_kv_transfer<KvLayout::kLayerTable, KvLayout::kLayerTable, 2>(args, stream);
}
