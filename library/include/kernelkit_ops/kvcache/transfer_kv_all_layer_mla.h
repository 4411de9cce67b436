// The launcher of transfer_kv_all_layer_mla: defined by its kernel (csrc/kvcache/transfer_kv_all_layer_mla.cu), called
// by its binding (csrc/kvcache/transfer_kv_all_layer_mla.cc). Both include this header, so a signature that drifts
// fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_all_layer_mla: every layer's MLA latent items between layer-first buffers named by layer tables, bit
// for bit (families/kv_transfer_args.h has the layouts).
cudaError_t launch_transfer_kv_all_layer_mla(const KvTransferArgs& args, cudaStream_t stream);

}  // namespace kernelkit
