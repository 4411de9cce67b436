// Merging two partial attention states by their log-sum-exp (split-KV decode, prefix + new tokens):
//   m = max(s_a, s_b);  w_a = e(s_a - m) / (e(s_a - m) + e(s_b - m));  w_b likewise
//   v = w_a * v_a + w_b * v_b;   s = log(e(s_a - m) + e(s_b - m)) + m
// in one of two bases, as sgl-kernel has them:
//   * kTwo (merge_state, FlashInfer's MergeState): s are base-2 log-sum-exps, e = exp2, log = log2; the LSEs are
//     used as given, so +inf or two -inf give NaN.
//   * kE (merge_state_v2): natural-log LSEs, e = exp, log = ln; an infinite LSE (either sign) counts as -inf, an
//     empty partial state: its weight is 0. Two empty states give NaN (as upstream: -inf - -inf).
//
// Memory-bound: each thread moves one 16-byte vector of one head (two loads, one store) and reads its row's two
// LSEs (the same 8 bytes for every thread of a row: L1 serves them); the row's first thread writes the merged LSE.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/merge_state_args.h"

namespace kernelkit {

enum class LseBase { kTwo, kE };

namespace merge_state_detail {

constexpr int kThreads = 256;

template <LseBase B>
__device__ __forceinline__ float lse_exp(float x) {
  if constexpr (B == LseBase::kTwo) {
    return exp2f(x);
  } else {
    return expf(x);
  }
}

template <LseBase B>
__device__ __forceinline__ float lse_log(float x) {
  if constexpr (B == LseBase::kTwo) {
    return log2f(x);
  } else {
    return logf(x);
  }
}

// VEC elements per thread; VEC divides head_dim and every v stride, and every v pointer is VEC-aligned.
template <LseBase B, typename T, int VEC>
__global__ void __launch_bounds__(kThreads) merge_state_kernel(MergeStateArgs a) {
  pdl_wait_then_launch_dependents();  // before the first global access; a no-op without PDL
  const int64_t vecs_per_row = a.head_dim / VEC;
  const int64_t total = a.tokens * a.heads * vecs_per_row;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= total) return;
  const int64_t row = i / vecs_per_row;
  const int64_t col = (i - row * vecs_per_row) * VEC;
  const int64_t t = row / a.heads;
  const int64_t h = row - t * a.heads;

  float sa = a.s_a[t * a.s_a_token_stride + h * a.s_a_head_stride];
  float sb = a.s_b[t * a.s_b_token_stride + h * a.s_b_head_stride];
  if constexpr (B == LseBase::kE) {
    sa = isinf(sa) ? -INFINITY : sa;
    sb = isinf(sb) ? -INFINITY : sb;
  }
  const float m = fmaxf(sa, sb);
  const float ea = lse_exp<B>(sa - m);
  const float eb = lse_exp<B>(sb - m);
  const float d = ea + eb;
  const float wa = ea / d;
  const float wb = eb / d;

  const auto va =
      Vec<T, VEC>::load(static_cast<const T*>(a.v_a) + t * a.v_a_token_stride + h * a.v_a_head_stride + col);
  const auto vb =
      Vec<T, VEC>::load(static_cast<const T*>(a.v_b) + t * a.v_b_token_stride + h * a.v_b_head_stride + col);
  Vec<T, VEC> out;
#pragma unroll
  for (int k = 0; k < VEC; ++k) out[k] = from_float<T>(fmaf(to_float(va[k]), wa, to_float(vb[k]) * wb));
  out.store(static_cast<T*>(a.v_merged) + t * a.v_out_token_stride + h * a.v_out_head_stride + col);
  if (a.s_merged != nullptr && col == 0) {
    a.s_merged[t * a.s_out_token_stride + h * a.s_out_head_stride] = lse_log<B>(d) + m;
  }
}

}  // namespace merge_state_detail

// Launches the merge of `a` in base B; T is the CUDA type of the v tensors. Nothing is launched for an empty merge.
template <LseBase B, typename T>
cudaError_t launch_merge_state_family(const MergeStateArgs& a, bool enable_pdl, cudaStream_t stream) {
  if (a.tokens == 0 || a.heads == 0 || a.head_dim == 0) return cudaSuccess;
  const int vec = pick_vec_width<T>({a.v_a, a.v_b, a.v_merged},
                                    {a.head_dim, a.v_a_token_stride, a.v_a_head_stride, a.v_b_token_stride,
                                     a.v_b_head_stride, a.v_out_token_stride, a.v_out_head_stride});
  return dispatch_vec_width(vec, [&](auto vec_c) {
    constexpr int VEC = decltype(vec_c)::value;
    const int64_t total = a.tokens * a.heads * (a.head_dim / VEC);
    const int64_t blocks = (total + merge_state_detail::kThreads - 1) / merge_state_detail::kThreads;
    if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
    return launch_with_pdl(merge_state_detail::merge_state_kernel<B, T, VEC>, dim3(static_cast<unsigned>(blocks)),
                           dim3(merge_state_detail::kThreads), 0, stream, enable_pdl, a);
  });
}

}  // namespace kernelkit
