// transfer_kv_per_layer_ph_lf: layer layer_id's K and V items from a page-head source ([pages, heads, page_size,
// layers, item / heads]) to layer-first buffers, head by head, bit for bit, by a few CTAs (families/kv_transfer.cuh:
// why and how).
//
// Bytes: each item read once and written once (item_size per layer and K/V), plus the two indices.
#include "kernelkit/families/kv_transfer.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_per_layer_ph_lf.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_per_layer_ph_lf.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_per_layer_ph_lf(const KvTransferArgs& args, cudaStream_t stream) {
  return launch_kv_transfer<KvLayout::kPageHead, KvLayout::kLayerFirst, 2>(args, stream);
}
