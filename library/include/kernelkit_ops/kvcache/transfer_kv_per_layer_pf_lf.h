// The launcher of transfer_kv_per_layer_pf_lf: defined by its kernel (csrc/kvcache/transfer_kv_per_layer_pf_lf.cu),
// called by its binding (csrc/kvcache/transfer_kv_per_layer_pf_lf.cc). Both include this header, so a signature that
// drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_per_layer_pf_lf: layer layer_id's K and V items from a page-first source ([slots, layers, item]) to
// layer-first buffers, bit for bit (families/kv_transfer_args.h has the layouts).
cudaError_t launch_transfer_kv_per_layer_pf_lf(const KvTransferArgs& args, cudaStream_t stream);

}  // namespace kernelkit
