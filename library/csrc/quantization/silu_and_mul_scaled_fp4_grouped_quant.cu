// silu_and_mul_scaled_fp4_grouped_quant: silu(gate) * up, rounded to the input dtype, then NVFP4 of the masked MoE
// layout.
//
//   input [l, m, 2k] = [gate | up] bf16/fp16 -> v = T(silu(gate) * up) (silu_and_mul's arithmetic) ->
// output [l, m, k/2], output_scale [l, round_up(m, 128), round_up(k/16, 4)] exactly as scaled_fp4_grouped_quant(v,
// input_global_scale, mask); rows r >= clamp(mask[e], 0, m) are not read nor written.
// The kernel, its work split and its CPU emulation are the family's: kernelkit/families/fp4_grouped.cuh.
#include "kernelkit/families/fp4_grouped.cuh"
#include "kernelkit_ops/quantization/silu_and_mul_scaled_fp4_grouped_quant.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/silu_and_mul_scaled_fp4_grouped_quant.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_silu_and_mul_scaled_fp4_grouped_quant(void* output, void* output_scale, const void* input,
                                                                    int64_t input_expert_stride,
                                                                    int64_t input_row_stride, int64_t experts,
                                                                    int64_t rows, int64_t cols,
                                                                    const float* global_scale, const int32_t* mask,
                                                                    bool enable_pdl, DType dtype, cudaStream_t stream) {
  return fp4_grouped::launch<true>(output, output_scale, input, input_expert_stride, input_row_stride, experts, rows,
                                   cols, global_scale, mask, enable_pdl, dtype, stream);
}
