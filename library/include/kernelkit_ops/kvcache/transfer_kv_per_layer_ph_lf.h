// The launcher of transfer_kv_per_layer_ph_lf: defined by its kernel (csrc/kvcache/transfer_kv_per_layer_ph_lf.cu),
// called by its binding (csrc/kvcache/transfer_kv_per_layer_ph_lf.cc). Both include this header, so a signature that
// drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_per_layer_ph_lf: layer layer_id's K and V items from a page-head source ([pages, heads, page_size,
// layers, item / heads]) to layer-first buffers, head by head, bit for bit (families/kv_transfer_args.h has the
// layouts).
cudaError_t launch_transfer_kv_per_layer_ph_lf(const KvTransferArgs& args, cudaStream_t stream);

}  // namespace kernelkit
