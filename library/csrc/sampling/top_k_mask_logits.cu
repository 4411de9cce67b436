// top_k_mask_logits: each row's logits >= its k-th largest unchanged, the others -inf.
// The kernel is the row-on-chip family in kernelkit/families/sampling.cuh (one read and one write of the row: radix
// select of the k-th value on chip).
#include "kernelkit/families/sampling.cuh"
#include "kernelkit_ops/sampling/top_k_mask_logits.h"

// Defined by its qualified name: a definition that drifts from its declaration is a compile error, not an overload.
cudaError_t kernelkit::launch_top_k_mask_logits(const void* logits, int64_t row_stride, void* masked_logits,
                                                const int32_t* top_k_arr, int64_t top_k_val, int64_t rows,
                                                int64_t vocab, bool enable_pdl, DType dtype, cudaStream_t stream) {
  using namespace kernelkit::sampling;
  RowParams p{};
  p.in = logits;
  p.in_row_stride = row_stride;
  p.num_in_rows = rows;
  p.vocab = vocab;
  p.out = masked_logits;
  p.k_arr = top_k_arr;
  p.k_val = top_k_val;
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_rows<RowOp::kMaskTopK, T>(p, rows, enable_pdl, stream);
  });
}
