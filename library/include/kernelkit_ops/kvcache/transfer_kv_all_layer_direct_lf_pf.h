// The launcher of transfer_kv_all_layer_direct_lf_pf: defined by its kernel
// (csrc/kvcache/transfer_kv_all_layer_direct_lf_pf.cu), called by its binding
// (csrc/kvcache/transfer_kv_all_layer_direct_lf_pf.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_all_layer_direct_lf_pf: every layer's pages from layer-first buffers to page-first pools ([pages,
// layers, page_size, ...]), by the copy engine (families/kv_transfer_direct.cuh). The units' indices are host
// arrays.
cudaError_t launch_transfer_kv_all_layer_direct_lf_pf(const KvDirectArgs& args, cudaStream_t stream);

}  // namespace kernelkit
