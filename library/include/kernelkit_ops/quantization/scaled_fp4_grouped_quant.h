// The launcher of scaled_fp4_grouped_quant: defined by its kernel (csrc/quantization/scaled_fp4_grouped_quant.cu),
// called by its binding (csrc/quantization/scaled_fp4_grouped_quant.cc). Both include this header, so a signature that
// drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// scaled_fp4_grouped_quant: every argument of its schema (scaled_fp4_grouped_quant(Tensor! output, Tensor!
// output_scale, Tensor input, Tensor input_global_scale, Tensor mask, bool enable_pdl) -> ()): tensors as data
// pointers, lists as a pointer and a length, optional values as a pointer (nullptr for None); str as a C string,
// ScalarType as its code and Device as its index (-1 for None). Then input's element count and dtype.
cudaError_t launch_scaled_fp4_grouped_quant(void* output, void* output_scale, const void* input,
                                            const void* input_global_scale, const void* mask, bool enable_pdl,
                                            int64_t numel, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
