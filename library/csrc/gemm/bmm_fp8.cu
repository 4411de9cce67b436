// bmm_fp8: out[l] = (A[l] @ B[l]) * A_scale * B_scale, batched, a CUTLASS 3.x sm_90a GEMM of the scaled GEMM family
// (kernelkit/families/cutlass_scaled_gemm.cuh: the kernel, its epilogue, the configurations) with the per-tensor
// scales as two device scalars. sgl-kernel runs this through cuBLASLt; here it needs no cuBLAS at build or link time.
// This file holds the op's dispatch table and its launcher.
#include "kernelkit/families/cutlass_scaled_gemm.cuh"
#include "kernelkit_ops/gemm/bmm_fp8.h"

namespace kernelkit {
namespace {

using namespace scaled_gemm;

// The dispatch table, by M. The batched products sglang runs (MLA's absorbed projections: K and N of 128 or 512, one
// batch per head) are small per batch, so the batch supplies the CTAs; 64-row tiles avoid computing padding rows
// for decode (M <= 64), and the 128x128 cooperative tile takes the rest. No clusters: with few tiles per batch along
// M, a cluster of two would mostly pair a tile with an empty one.
template <class Out>
cudaError_t bmm_fp8_table(const Problem& p, const TensorScaleArgs& scales, cudaStream_t stream) {
  using In = cutlass::float_e4m3_t;
  if (p.m <= 64) return run<ScaledGemm<In, Out, Pingpong64x128, TensorScales>>(p, scales, stream);
  return run<ScaledGemm<In, Out, Cooperative128x128, TensorScales>>(p, scales, stream);
}

}  // namespace
}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/gemm/bmm_fp8.h is a
// compile error here, not a second overload.
cudaError_t kernelkit::launch_bmm_fp8(void* out, int64_t out_row_stride, int64_t out_batch_stride, const void* a,
                                      int64_t a_row_stride, int64_t a_batch_stride, const void* b, int64_t b_col_stride,
                                      int64_t b_batch_stride, const float* a_scale, const float* b_scale, int64_t batch,
                                      int64_t m, int64_t n, int64_t k, DType out_dtype, cudaStream_t stream) {
  const scaled_gemm::Problem p{static_cast<int>(m),
                               static_cast<int>(n),
                               static_cast<int>(k),
                               static_cast<int>(batch),
                               a,
                               a_row_stride,
                               a_batch_stride,
                               b,
                               b_col_stride,
                               b_batch_stride,
                               out,
                               out_row_stride,
                               out_batch_stride};
  if (batch == 0 || m == 0 || n == 0) return cudaSuccess;
  if (k == 0) return scaled_gemm::launch_fill_with_bias(p, nullptr, stream);  // an empty sum: zeros
  const scaled_gemm::TensorScaleArgs scales{a_scale, b_scale};
  switch (out_dtype) {
    case DType::kBFloat16: return bmm_fp8_table<cutlass::bfloat16_t>(p, scales, stream);
    case DType::kFloat16: return bmm_fp8_table<cutlass::half_t>(p, scales, stream);
    default: return cudaErrorInvalidValue;
  }
}
