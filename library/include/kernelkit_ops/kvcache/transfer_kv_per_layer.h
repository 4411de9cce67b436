// The launcher of transfer_kv_per_layer: defined by its kernel (csrc/kvcache/transfer_kv_per_layer.cu), called by its
// binding (csrc/kvcache/transfer_kv_per_layer.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_per_layer: one layer's K and V items from slot src_indices[i] of src_k/src_v to slot dst_indices[i] of
// dst_k/dst_v, all four layer-first ([slots, item_size bytes]), bit for bit (families/kv_transfer_args.h has the
// layouts).
cudaError_t launch_transfer_kv_per_layer(const KvTransferArgs& args, cudaStream_t stream);

}  // namespace kernelkit
