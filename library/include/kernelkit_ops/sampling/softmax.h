// The launcher of softmax: defined by its kernel (csrc/sampling/softmax.cu), called by its binding
// (csrc/sampling/softmax.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// softmax: probs[r] = softmax(logits[r] / t[r]) in fp32, t = temperature_arr[r] or temperature_val; rows of
// `vocab` logits (fp32/fp16/bf16) `row_stride` apart, probs contiguous.
cudaError_t launch_softmax(const void* logits, int64_t row_stride, float* probs, const float* temperature_arr,
                           float temperature_val, int64_t rows, int64_t vocab, bool enable_pdl, DType dtype,
                           cudaStream_t stream);

}  // namespace kernelkit
