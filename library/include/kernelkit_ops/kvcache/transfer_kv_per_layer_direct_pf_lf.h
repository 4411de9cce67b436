// The launcher of transfer_kv_per_layer_direct_pf_lf: defined by its kernel
// (csrc/kvcache/transfer_kv_per_layer_direct_pf_lf.cu), called by its binding
// (csrc/kvcache/transfer_kv_per_layer_direct_pf_lf.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_per_layer_direct_pf_lf: layer layer_id's pages from page-first pools ([pages, layers, page_size, ...],
// K and V or one MLA pool) to layer-first buffers, by the copy engine (families/kv_transfer_direct.cuh). The units'
// indices are host arrays.
cudaError_t launch_transfer_kv_per_layer_direct_pf_lf(const KvDirectArgs& args, cudaStream_t stream);

}  // namespace kernelkit
