// transfer_kv_all_layer_mla: every layer's MLA latent items between layer-first buffers named by layer tables, bit
// for bit, by a few CTAs (families/kv_transfer.cuh: why and how).
//
// Bytes: each item read once and written once (item_size per layer), plus the two indices.
#include "kernelkit/families/kv_transfer.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_all_layer_mla.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_all_layer_mla.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_all_layer_mla(const KvTransferArgs& args, cudaStream_t stream) {
  return launch_kv_transfer<KvLayout::kLayerTable, KvLayout::kLayerTable, 1>(args, stream);
}
