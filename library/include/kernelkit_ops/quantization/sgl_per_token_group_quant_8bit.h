// The launcher of sgl_per_token_group_quant_8bit: defined by its kernel
// (csrc/quantization/sgl_per_token_group_quant_8bit.cu), called by its binding
// (csrc/quantization/sgl_per_token_group_quant_8bit.cc). Both include this header, so a signature that drifts fails to
// compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// sgl_per_token_group_quant_8bit: for each row r < num_rows and group j < hidden / group_size, the group's scale
// s and 8-bit codes of clamp(x * y, qmin, qmax) (e4m3 or, int8_output, int8 truncated / rounded half to even),
// with sgl-kernel's v1 or v2 arithmetic (kernelkit/families/per_token_group_quant.cuh). Input rows are
// input_row_stride apart, output_q rows q_row_stride. Scales: fp32 at output_s[r * s_row_stride + j *
// s_group_stride], or (s_packed, needs scale_ue8m0) UE8M0 bytes, byte j % 4 of the int32 word
// r * s_row_stride + j / 4 * s_group_stride. fuse_silu_and_mul: input rows are [gate | up] of 2 * hidden and x =
// T(T(silu(gate)) * up). masked_m (int32 [E], or null): rows are E experts x rows_per_expert, row t of expert e
// is written only if t < masked_m[e], its scale at e * s_expert_stride + t * s_row_stride. fuse and masked need
// v2, bf16/fp16 and 16-byte aligned input and output_q rows.
cudaError_t launch_sgl_per_token_group_quant_8bit(void* output_q, bool int8_output, int64_t q_row_stride,
                                                  void* output_s, bool s_packed, int64_t s_row_stride,
                                                  int64_t s_group_stride, int64_t s_expert_stride, const void* input,
                                                  int64_t input_row_stride, int64_t num_rows, int64_t hidden,
                                                  int64_t group_size, double eps, double qmin, double qmax,
                                                  bool scale_ue8m0, bool fuse_silu_and_mul, const int32_t* masked_m,
                                                  int64_t rows_per_expert, bool v2, bool round_nearest, bool enable_pdl,
                                                  DType dtype, cudaStream_t stream);

}  // namespace kernelkit
