// The launcher of moe_sum: defined by its kernel (csrc/moe/moe_sum.cu), called by its binding (csrc/moe/moe_sum.cc).
// Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// moe_sum: output[t, :] = sum over j < topk of input[t, j, :], in sgl-kernel's order and rounding
// (families/moe_sum.cuh). Strides in elements; the last dimension of both tensors is contiguous.
cudaError_t launch_moe_sum(void* output, int64_t out_token_stride, const void* input, int64_t in_token_stride,
                           int64_t in_topk_stride, int64_t tokens, int64_t topk, int64_t hidden, bool enable_pdl,
                           DType dtype, cudaStream_t stream);

}  // namespace kernelkit
