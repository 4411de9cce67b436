// The launcher of transfer_kv_all_layer_lf_ph: defined by its kernel (csrc/kvcache/transfer_kv_all_layer_lf_ph.cu),
// called by its binding (csrc/kvcache/transfer_kv_all_layer_lf_ph.cc). Both include this header, so a signature that
// drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_all_layer_lf_ph: every layer's K and V items from layer-first buffers (layer tables) to page-head ones
// ([pages, heads, page_size, layers, item / heads]), head by head, bit for bit (families/kv_transfer_args.h has the
// layouts).
cudaError_t launch_transfer_kv_all_layer_lf_ph(const KvTransferArgs& args, cudaStream_t stream);

}  // namespace kernelkit
