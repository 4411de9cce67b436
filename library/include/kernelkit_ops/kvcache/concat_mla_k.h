// The launcher of concat_mla_k: defined by its kernel (csrc/kvcache/concat_mla_k.cu), called by its binding
// (csrc/kvcache/concat_mla_k.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/concat_rows_args.h"

namespace kernelkit {

// concat_mla_k: k[t, h] = k_nope[t, h] ++ k_rope[t, 0] (MLA's shared rope row broadcast to every head), bit for bit.
cudaError_t launch_concat_mla_k(const ConcatRowsArgs& args, bool enable_pdl, cudaStream_t stream);

}  // namespace kernelkit
