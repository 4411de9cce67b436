// The launcher of merge_state: defined by its kernel (csrc/attention/merge_state.cu), called by its binding
// (csrc/attention/merge_state.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include "kernelkit/core/dtype.h"
#include "kernelkit/families/merge_state_args.h"

namespace kernelkit {

// merge_state: merges two partial attention states v [T, H, D] (dtype) with their fp32 base-2 log-sum-exps
// (FlashInfer's MergeState, which sgl-kernel's merge_state calls).
cudaError_t launch_merge_state(const MergeStateArgs& args, bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
