// scaled_fp4_grouped_quant: NVFP4 quantization of the masked MoE layout, each expert with its own global scale.
//
//   input [l, m, k] bf16/fp16 -> output [l, m, k/2] (e2m1, two per byte), output_scale [l, round_up(m, 128),
// round_up(k/16, 4)] e4m3 (each expert's slab 128x4-swizzled); only the rows r < clamp(mask[e], 0, m) of
// expert e are quantized, with input_global_scale[e], bit for bit as scaled_fp4_quant(input[e], gs[e]).
// The kernel, its work split and its CPU emulation are the family's: kernelkit/families/fp4_grouped.cuh.
#include "kernelkit/families/fp4_grouped.cuh"
#include "kernelkit_ops/quantization/scaled_fp4_grouped_quant.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/scaled_fp4_grouped_quant.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_scaled_fp4_grouped_quant(void* output, void* output_scale, const void* input,
                                                       int64_t input_expert_stride, int64_t input_row_stride,
                                                       int64_t experts, int64_t rows, int64_t cols,
                                                       const float* global_scale, const int32_t* mask, bool enable_pdl,
                                                       DType dtype, cudaStream_t stream) {
  return fp4_grouped::launch<false>(output, output_scale, input, input_expert_stride, input_row_stride, experts, rows,
                                    cols, global_scale, mask, enable_pdl, dtype, stream);
}
