// The launcher of downcast_fp8: defined by its kernel (csrc/kvcache/downcast_fp8.cu), called by its binding
// (csrc/kvcache/downcast_fp8.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kernelkit {

// downcast_fp8: for every token t < tokens whose output row r = loc[t] * mult + offset lies in [0, out_rows),
// k_out[r] = fp8_e4m3(clamp(k[t] * (1 / k_scale[0]), +-448)) and likewise v_out from v and v_scale. k, v are bf16
// (is_bf16) or fp16 rows of row elements; k_out, v_out are fp8 e4m3 bytes. Strides in elements; loc is int32 or
// int64 (loc_is_int64); the scales are one fp32 value each.
cudaError_t launch_downcast_fp8(const void* k, const void* v, int64_t k_stride, int64_t v_stride, void* k_out,
                                void* v_out, int64_t k_out_stride, int64_t v_out_stride, int64_t out_rows,
                                const float* k_scale, const float* v_scale, const void* loc, bool loc_is_int64,
                                int64_t mult, int64_t offset, int64_t tokens, int64_t row, bool is_bf16,
                                bool enable_pdl, cudaStream_t stream);

}  // namespace kernelkit
