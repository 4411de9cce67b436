// transfer_kv_all_layer_direct_lf_pf: every layer's pages from layer-first buffers to page-first pools ([pages,
// layers, page_size, ...]), by the copy engine (families/kv_transfer_direct.cuh). No kernel: the copy engine moves
// the bytes while the SMs compute.
#include "kernelkit/families/kv_transfer_direct.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_all_layer_direct_lf_pf.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_all_layer_direct_lf_pf.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_all_layer_direct_lf_pf(const KvDirectArgs& args, cudaStream_t stream) {
  return launch_kv_direct(args, stream);
}
