// The launcher of topk_sigmoid: defined by its kernel (csrc/moe/topk_sigmoid.cu), called by its binding
// (csrc/moe/topk_sigmoid.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// topk_sigmoid: every argument of its schema (topk_sigmoid(Tensor! topk_weights, Tensor! topk_ids, Tensor
// gating_output, bool renormalize, Tensor? correction_bias, bool enable_pdl) -> ()): tensors as data pointers, lists as
// a pointer and a length, optional values as a pointer (nullptr for None); str as a C string, ScalarType as its code
// and Device as its index (-1 for None). Then gating_output's element count and dtype.
cudaError_t launch_topk_sigmoid(void* topk_weights, void* topk_ids, const void* gating_output, bool renormalize,
                                const void* correction_bias, bool enable_pdl, int64_t numel, DType dtype,
                                cudaStream_t stream);

}  // namespace kernelkit
