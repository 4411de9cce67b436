// transfer_kv_per_layer_mla_pf_lf: layer layer_id's MLA latent items from a page-first source to a layer-first
// buffer, bit for bit, by a few CTAs (families/kv_transfer.cuh: why and how).
//
// Bytes: each item read once and written once (item_size per layer), plus the two indices.
#include "kernelkit/families/kv_transfer.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_per_layer_mla_pf_lf.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_per_layer_mla_pf_lf.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_per_layer_mla_pf_lf(const KvTransferArgs& args, cudaStream_t stream) {
  return launch_kv_transfer<KvLayout::kPageFirst, KvLayout::kLayerFirst, 1>(args, stream);
}
