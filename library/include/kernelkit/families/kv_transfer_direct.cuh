// The direct kvcacheio transfers: KV pages moved by the copy engine (cudaMemcpyAsync on the current stream), no SM
// involved, as sgl-kernel's `transfer_kv_direct` forms do (there: one tensor copy_ per run and buffer).
//
// The units (token rows, or pages of page_size rows) are grouped into runs where both sides' indices advance by
// their step; a run is one copy per buffer pair: a single memcpy where both sides are dense over the run, else a
// 2-D copy (a run of pages of a page-first pool is strided by the pool's page stride). Fewer, larger copies: a
// contiguous allocation of many pages costs one call instead of one per page.
#pragma once

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {
namespace kv_direct_detail {

// height rows of width bytes, pitches in bytes.
inline cudaError_t copy_rows(char* dst, int64_t dpitch, const char* src, int64_t spitch, int64_t width, int64_t height,
                             cudaMemcpyKind kind, cudaStream_t stream) {
  if (height == 1 || (dpitch == width && spitch == width)) {
    return cudaMemcpyAsync(dst, src, static_cast<size_t>(width * height), kind, stream);
  }
  if (dpitch >= width && spitch >= width && dpitch <= INT_MAX && spitch <= INT_MAX) {
    return cudaMemcpy2DAsync(dst, static_cast<size_t>(dpitch), src, static_cast<size_t>(spitch),
                             static_cast<size_t>(width), static_cast<size_t>(height), kind, stream);
  }
  for (int64_t r = 0; r < height; ++r) {  // pitches a 2-D copy does not take
    const cudaError_t err =
        cudaMemcpyAsync(dst + r * dpitch, src + r * spitch, static_cast<size_t>(width), kind, stream);
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

// Units [first, first + n) of one buffer pair.
inline cudaError_t copy_run(const KvDirectArgs& a, const KvDirectPair& q, int64_t first, int64_t n,
                            cudaStream_t stream) {
  const auto kind = static_cast<cudaMemcpyKind>(q.kind);
  const char* src = q.src + a.src_units[first] * q.src_unit_stride;
  char* dst = q.dst + a.dst_units[first] * q.dst_unit_stride;
  const int64_t src_pitch = a.src_unit_step * q.src_unit_stride, dst_pitch = a.dst_unit_step * q.dst_unit_stride;
  const int64_t unit_bytes = a.rows_per_unit * a.row_bytes;
  const bool dense_units = (a.rows_per_unit == 1 || q.src_row_stride == a.row_bytes) &&
                           (a.rows_per_unit == 1 || q.dst_row_stride == a.row_bytes);
  if (dense_units) return copy_rows(dst, dst_pitch, src, src_pitch, unit_bytes, n, kind, stream);
  for (int64_t u = 0; u < n; ++u) {  // rows of a unit strided on one side: each unit its own 2-D copy
    const cudaError_t err = copy_rows(dst + u * dst_pitch, q.dst_row_stride, src + u * src_pitch, q.src_row_stride,
                                      a.row_bytes, a.rows_per_unit, kind, stream);
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

}  // namespace kv_direct_detail

// Issues the copies of `a` on `stream` (validated by the binding: every unit inside its tensors).
inline cudaError_t launch_kv_direct(const KvDirectArgs& a, cudaStream_t stream) {
  using namespace kv_direct_detail;
  int64_t first = 0;
  while (first < a.num_units) {
    int64_t n = 1;
    while (first + n < a.num_units && a.src_units[first + n] == a.src_units[first + n - 1] + a.src_unit_step &&
           a.dst_units[first + n] == a.dst_units[first + n - 1] + a.dst_unit_step) {
      ++n;
    }
    for (int64_t p = 0; p < a.num_pairs; ++p) {
      const cudaError_t err = copy_run(a, a.pairs[p], first, n, stream);
      if (err != cudaSuccess) return err;
    }
    first += n;
  }
  return cudaSuccess;
}

}  // namespace kernelkit
