// The launcher of scaled_fp4_quant: defined by its kernel (csrc/quantization/scaled_fp4_quant.cu), called by its
// binding (csrc/quantization/scaled_fp4_quant.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// scaled_fp4_quant (FP4 builds only): NVFP4 of input [rows, cols] (bf16/fp16, cols % 16 == 0, rows
// input_row_stride elements apart) into output [rows, cols / 2] (two e2m1 per byte, contiguous, 8-byte
// aligned) and output_scale, the 128x4-swizzled e4m3 block scales [round_up(rows, 128), round_up(cols / 16, 4)]
// bytes (padding written as 0); global_scale: one fp32 in device memory.
cudaError_t launch_scaled_fp4_quant(void* output, void* output_scale, const void* input, int64_t input_row_stride,
                                    int64_t rows, int64_t cols, const float* global_scale, bool enable_pdl, DType dtype,
                                    cudaStream_t stream);

}  // namespace kernelkit
