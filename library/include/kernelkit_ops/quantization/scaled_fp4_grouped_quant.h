// The launcher of scaled_fp4_grouped_quant: defined by its kernel (csrc/quantization/scaled_fp4_grouped_quant.cu),
// called by its binding (csrc/quantization/scaled_fp4_grouped_quant.cc). Both include this header, so a signature that
// drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// scaled_fp4_grouped_quant (FP4 builds only): NVFP4 of the masked MoE layout: input [experts, rows, cols] (bf16/fp16,
// cols % 16 == 0; rows input_row_stride and experts input_expert_stride elements apart, values contiguous). Only rows r
// < clamp(mask[e], 0, rows) of expert e are read and written, quantized with global_scale[e] (mask: int32 [experts],
// global_scale: fp32 [experts], both in device memory). Outputs contiguous: output [experts, rows, cols / 2] (8-byte
// aligned), output_scale [experts, round_up(rows, 128), round_up(cols / 16, 4)] bytes, each expert's slab in the 128x4
// swizzled layout. experts <= 4096.
cudaError_t launch_scaled_fp4_grouped_quant(void* output, void* output_scale, const void* input,
                                            int64_t input_expert_stride, int64_t input_row_stride, int64_t experts,
                                            int64_t rows, int64_t cols, const float* global_scale, const int32_t* mask,
                                            bool enable_pdl, DType dtype, cudaStream_t stream);

}  // namespace kernelkit
