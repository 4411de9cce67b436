// transfer_kv_per_layer_direct_pf_lf: layer layer_id's pages from page-first pools ([pages, layers, page_size, ...],
// K and V or one MLA pool) to layer-first buffers, by the copy engine (families/kv_transfer_direct.cuh). No kernel:
// the copy engine moves the bytes while the SMs compute.
#include "kernelkit/families/kv_transfer_direct.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_per_layer_direct_pf_lf.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_per_layer_direct_pf_lf.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_per_layer_direct_pf_lf(const KvDirectArgs& args, cudaStream_t stream) {
  return launch_kv_direct(args, stream);
}
