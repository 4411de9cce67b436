// top_p_renorm_probs: each row's top-p nucleus divided by its sum; the others 0.
// The kernel is the row-on-chip family in kernelkit/families/sampling.cuh (one read and one write of the row: radix
// select of the nucleus level by mass on chip).
#include "kernelkit/families/sampling.cuh"
#include "kernelkit_ops/sampling/top_p_renorm_probs.h"

// Defined by its qualified name: a definition that drifts from its declaration is a compile error, not an overload.
cudaError_t kernelkit::launch_top_p_renorm_probs(const float* probs, int64_t row_stride, float* renorm_probs,
                                                 const float* top_p_arr, float top_p_val, int64_t rows, int64_t vocab,
                                                 bool enable_pdl, cudaStream_t stream) {
  using namespace kernelkit::sampling;
  RowParams p{};
  p.in = probs;
  p.in_row_stride = row_stride;
  p.num_in_rows = rows;
  p.vocab = vocab;
  p.out = renorm_probs;
  p.f_arr = top_p_arr;
  p.f_val = top_p_val;
  return launch_rows<RowOp::kRenormTopP, float>(p, rows, enable_pdl, stream);
}
