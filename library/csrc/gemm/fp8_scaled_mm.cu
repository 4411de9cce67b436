// fp8_scaled_mm: out = (mat_a @ mat_b) * scales_a[:, None] * scales_b[None, :] (+ bias), a CUTLASS 3.x sm_90a GEMM of
// the scaled GEMM family (kernelkit/families/cutlass_scaled_gemm.cuh: the kernel, its epilogue, the configurations).
// This file holds the op's dispatch table and its launcher.
#include "kernelkit/families/cutlass_scaled_gemm.cuh"
#include "kernelkit_ops/gemm/fp8_scaled_mm.h"

namespace kernelkit {
namespace {

using namespace scaled_gemm;

// The dispatch table, by M (tokens); every entry is persistent, so large N only adds waves. Decode (M <= 64) is a
// stream over B: 64x64 tiles give the most CTAs (N / 64) to stream it. Up to M = 128, 64x128 tiles read A half as
// often and still fill a wave for N >= 8192. Beyond, the compute-bound 128x128 cooperative tile, in clusters of two
// along M that share (multicast) each B tile.
template <class Out>
cudaError_t fp8_scaled_mm_table(const Problem& p, const RowColScaleArgs& scales, cudaStream_t stream) {
  using In = cutlass::float_e4m3_t;
  if (p.m <= 64) return run<ScaledGemm<In, Out, Pingpong64x64, RowColScales>>(p, scales, stream);
  if (p.m <= 128) return run<ScaledGemm<In, Out, Pingpong64x128, RowColScales>>(p, scales, stream);
  return run<ScaledGemm<In, Out, Cooperative128x128Cluster2, RowColScales>>(p, scales, stream);
}

}  // namespace
}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/gemm/fp8_scaled_mm.h is
// a compile error here, not a second overload.
cudaError_t kernelkit::launch_fp8_scaled_mm(void* out, int64_t out_row_stride, const void* mat_a, int64_t a_row_stride,
                                            const void* mat_b, int64_t b_col_stride, const float* scales_a,
                                            const float* scales_b, const void* bias, int64_t m, int64_t n, int64_t k,
                                            DType out_dtype, cudaStream_t stream) {
  const scaled_gemm::Problem p =
      scaled_gemm::matrix_problem(out, out_row_stride, mat_a, a_row_stride, mat_b, b_col_stride, m, n, k);
  if (m == 0 || n == 0) return cudaSuccess;
  if (k == 0) return scaled_gemm::launch_fill_with_bias(p, bias, stream);  // an empty sum
  const scaled_gemm::RowColScaleArgs scales{scales_a, scales_b, bias};
  switch (out_dtype) {
    case DType::kBFloat16: return fp8_scaled_mm_table<cutlass::bfloat16_t>(p, scales, stream);
    case DType::kFloat16: return fp8_scaled_mm_table<cutlass::half_t>(p, scales, stream);
    default: return cudaErrorInvalidValue;
  }
}
