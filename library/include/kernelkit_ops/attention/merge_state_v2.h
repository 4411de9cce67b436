// The launcher of merge_state_v2: defined by its kernel (csrc/attention/merge_state_v2.cu), called by its binding
// (csrc/attention/merge_state_v2.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/core/dtype.h"
#include "kernelkit/families/merge_state_args.h"

namespace kernelkit {

// merge_state_v2: merges two partial attention states v [T, H, D] (dtype) with their fp32 natural-log log-sum-exps; an
// infinite LSE counts as -inf (an empty partial state).
cudaError_t launch_merge_state_v2(const MergeStateArgs& args, bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
