// The launcher of transfer_kv_all_layer_mla_lf_pf: defined by its kernel
// (csrc/kvcache/transfer_kv_all_layer_mla_lf_pf.cu), called by its binding
// (csrc/kvcache/transfer_kv_all_layer_mla_lf_pf.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_all_layer_mla_lf_pf: every layer's MLA latent items from layer-first buffers (a layer table) to a
// page-first one, bit for bit (families/kv_transfer_args.h has the layouts).
cudaError_t launch_transfer_kv_all_layer_mla_lf_pf(const KvTransferArgs& args, cudaStream_t stream);

}  // namespace kernelkit
