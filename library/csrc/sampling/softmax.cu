// softmax: probs = softmax(logits / temperature) per row, in fp32 (FlashInfer's online safe softmax).
// The kernel is the row-on-chip family in kernelkit/families/sampling.cuh (one read and one write of the row: max, sum
// of exponentials and the write all from the on-chip copy).
#include "kernelkit/families/sampling.cuh"
#include "kernelkit_ops/sampling/softmax.h"

// Defined by its qualified name: a definition that drifts from its declaration is a compile error, not an overload.
cudaError_t kernelkit::launch_softmax(const void* logits, int64_t row_stride, float* probs,
                                      const float* temperature_arr, float temperature_val, int64_t rows, int64_t vocab,
                                      bool enable_pdl, DType dtype, cudaStream_t stream) {
  using namespace kernelkit::sampling;
  RowParams p{};
  p.in = logits;
  p.in_row_stride = row_stride;
  p.num_in_rows = rows;
  p.vocab = vocab;
  p.out = probs;
  p.f_arr = temperature_arr;
  p.f_val = temperature_val;
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_rows<RowOp::kSoftmax, T>(p, rows, enable_pdl, stream);
  });
}
