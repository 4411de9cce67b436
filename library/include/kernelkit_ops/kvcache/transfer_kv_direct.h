// The launcher of transfer_kv_direct: defined by its kernel (csrc/kvcache/transfer_kv_direct.cu), called by its binding
// (csrc/kvcache/transfer_kv_direct.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {

// transfer_kv_direct: runs of token rows between two lists of [slots, ...] buffers (K then V of each layer), one
// copy-engine copy per run and buffer (families/kv_transfer_direct.cuh). The units' indices are host arrays.
cudaError_t launch_transfer_kv_direct(const KvDirectArgs& args, cudaStream_t stream);

}  // namespace kernelkit
