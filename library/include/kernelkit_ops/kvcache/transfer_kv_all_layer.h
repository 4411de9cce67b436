// The launcher of transfer_kv_all_layer: defined by its kernel (csrc/kvcache/transfer_kv_all_layer.cu), called by its
// binding (csrc/kvcache/transfer_kv_all_layer.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_all_layer: every layer's K and V items between layer-first buffers named by tables of layer base
// addresses, bit for bit (families/kv_transfer_args.h has the layouts).
cudaError_t launch_transfer_kv_all_layer(const KvTransferArgs& args, cudaStream_t stream);

}  // namespace kernelkit
