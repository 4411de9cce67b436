// transfer_kv_all_layer_lf_pf: every layer's K and V items from layer-first buffers (layer tables) to page-first
// ones ([slots, layers, item]), bit for bit, by a few CTAs (families/kv_transfer.cuh: why and how).
//
// Bytes: each item read once and written once (item_size per layer and K/V), plus the two indices.
#include "kernelkit/families/kv_transfer.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_all_layer_lf_pf.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_all_layer_lf_pf.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_all_layer_lf_pf(const KvTransferArgs& args, cudaStream_t stream) {
  return launch_kv_transfer<KvLayout::kLayerTable, KvLayout::kPageFirst, 2>(args, stream);
}
