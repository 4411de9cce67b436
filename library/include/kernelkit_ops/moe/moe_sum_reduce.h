// The launcher of moe_sum_reduce: defined by its kernel (csrc/moe/moe_sum_reduce.cu), called by its binding
// (csrc/moe/moe_sum_reduce.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// moe_sum_reduce: output[t, :] = (sum over j < topk of input[t, j, :]) * scale, fp32, in order, rounded once
// (families/moe_sum.cuh). Strides in elements; the last dimension of both tensors is contiguous.
cudaError_t launch_moe_sum_reduce(void* output, int64_t out_token_stride, const void* input, int64_t in_token_stride,
                                  int64_t in_topk_stride, int64_t tokens, int64_t topk, int64_t hidden, float scale,
                                  bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
