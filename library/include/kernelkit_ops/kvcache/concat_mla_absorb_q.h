// The launcher of concat_mla_absorb_q: defined by its kernel (csrc/kvcache/concat_mla_absorb_q.cu), called by its
// binding (csrc/kvcache/concat_mla_absorb_q.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/families/concat_rows_args.h"

namespace kernelkit {

// concat_mla_absorb_q: out[i, j] = a[i, j] ++ b[i, j] (MLA's absorbed q: the latent part and the rope part), bit for
// bit.
cudaError_t launch_concat_mla_absorb_q(const ConcatRowsArgs& args, bool enable_pdl, cudaStream_t stream);

}  // namespace kernelkit
