// top_k_top_p_sampling_from_probs: one token per output row from the top-k values, then the top-p nucleus of them
// (filter_apply_order "top_k_first"), or from the values passing both filters at once ("joint").
// The kernel is the row-on-chip family in kernelkit/families/sampling.cuh (one read of the row from HBM: two radix
// selects, then one scan).
#include "kernelkit/families/sampling.cuh"
#include "kernelkit_ops/sampling/top_k_top_p_sampling_from_probs.h"

// Defined by its qualified name: a definition that drifts from its declaration is a compile error, not an overload.
cudaError_t kernelkit::launch_top_k_top_p_sampling_from_probs(
    const float* probs, int64_t row_stride, int64_t num_prob_rows, int64_t vocab, int32_t* samples, int64_t num_samples,
    const void* indices, bool indices_int64, const int32_t* top_k_arr, int64_t top_k_val, const float* top_p_arr,
    float top_p_val, bool joint, uint64_t seed, uint64_t offset, const int64_t* rng_state, bool enable_pdl,
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
  p.f_arr = top_p_arr;
  p.f_val = top_p_val;
  p.joint = joint;
  p.seed = seed;
  p.offset = offset;
  p.rng_state = rng_state;
  return launch_rows<RowOp::kSampleTopKTopP, float>(p, num_samples, enable_pdl, stream);
}
