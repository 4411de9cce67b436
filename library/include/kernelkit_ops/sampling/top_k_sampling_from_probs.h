// The launcher of top_k_sampling_from_probs: defined by its kernel (csrc/sampling/top_k_sampling_from_probs.cu), called
// by its binding (csrc/sampling/top_k_sampling_from_probs.cc). Both include this header, so a signature that drifts
// fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

// top_k_sampling_from_probs: samples[i] ~ probs[indices[i]] restricted to its top-k values (ties at the
// k-th value kept), thresholds per input row; (seed, offset) or rng_state[0..1] key the Philox draws.
cudaError_t launch_top_k_sampling_from_probs(const float* probs, int64_t row_stride, int64_t num_prob_rows,
                                             int64_t vocab, int32_t* samples, int64_t num_samples, const void* indices,
                                             bool indices_int64, const int32_t* top_k_arr, int64_t top_k_val,
                                             uint64_t seed, uint64_t offset, const int64_t* rng_state, bool enable_pdl,
                                             cudaStream_t stream);

}  // namespace kernelkit
