// top_k_renorm_probs: each row's values >= its k-th largest, divided by their sum; the others 0.
// The kernel is the row-on-chip family in kernelkit/families/sampling.cuh (one read and one write of the row: radix
// select of the k-th value on chip).
#include "kernelkit/families/sampling.cuh"
#include "kernelkit_ops/sampling/top_k_renorm_probs.h"

// Defined by its qualified name: a definition that drifts from its declaration is a compile error, not an overload.
cudaError_t kernelkit::launch_top_k_renorm_probs(const float* probs, int64_t row_stride, float* renorm_probs,
                                                 const int32_t* top_k_arr, int64_t top_k_val, int64_t rows,
                                                 int64_t vocab, bool enable_pdl, cudaStream_t stream) {
  using namespace kernelkit::sampling;
  RowParams p{};
  p.in = probs;
  p.in_row_stride = row_stride;
  p.num_in_rows = rows;
  p.vocab = vocab;
  p.out = renorm_probs;
  p.k_arr = top_k_arr;
  p.k_val = top_k_val;
  return launch_rows<RowOp::kRenormTopK, float>(p, rows, enable_pdl, stream);
}
