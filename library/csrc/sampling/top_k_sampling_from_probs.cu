// top_k_sampling_from_probs: one token per output row from the row's top-k values (ties at the k-th value kept), in
// proportion to them. The kernel is the row-on-chip family in kernelkit/families/sampling.cuh (one read of the row from
// HBM: radix select of the k-th value, then one scan).
#include "kernelkit/families/sampling.cuh"
#include "kernelkit_ops/sampling/top_k_sampling_from_probs.h"

// Defined by its qualified name: a definition that drifts from its declaration is a compile error, not an overload.
cudaError_t kernelkit::launch_top_k_sampling_from_probs(const float* probs, int64_t row_stride, int64_t num_prob_rows,
                                                        int64_t vocab, int32_t* samples, int64_t num_samples,
                                                        const void* indices, bool indices_int64,
                                                        const int32_t* top_k_arr, int64_t top_k_val, uint64_t seed,
                                                        uint64_t offset, const int64_t* rng_state, bool enable_pdl,
                                                        cudaStream_t stream) {
  using namespace kernelkit::sampling;
  RowParams p{};
  p.in = probs;
  p.in_row_stride = row_stride;
  p.num_in_rows = num_prob_rows;
  p.vocab = vocab;
  p.out = samples;
  p.indices = indices;
  p.indices_int64 = indices_int64;
  p.k_arr = top_k_arr;
  p.k_val = top_k_val;
  p.seed = seed;
  p.offset = offset;
  p.rng_state = rng_state;
  return launch_rows<RowOp::kSampleTopK, float>(p, num_samples, enable_pdl, stream);
}
