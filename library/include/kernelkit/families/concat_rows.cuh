// Concatenating two row tensors along the last dimension, out[t, h] = x[t, h] ++ y[t, h], as a byte copy (any dtype,
// bit for bit). y's head stride may be 0: MLA's k_rope row is shared by every head.
//
// Memory-bound, one pass: a block row (threadIdx.y) serves one (token, head) row, its lanes moving the x words then
// the y words in the widest word (16 bytes, narrower only where a size, stride or pointer is not 16-byte aligned),
// so each output row is written as one coalesced run. Rows are strided freely.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "kernelkit/core/pdl.cuh"
#include "kernelkit/families/concat_rows_args.h"

namespace kernelkit {
namespace concat_rows_detail {

template <typename W>
__global__ void concat_rows_kernel(ConcatRowsArgs a) {
  pdl_wait_then_launch_dependents();  // before the first global access; a no-op without PDL
  constexpr int64_t kW = sizeof(W);
  const int64_t wx = a.x_bytes / kW, words = wx + a.y_bytes / kW;
  const int64_t rows = a.tokens * a.heads;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t t = r / a.heads, h = r - t * a.heads;
    char* out = static_cast<char*>(a.out) + t * a.out_token_stride + h * a.out_head_stride;
    const char* x = static_cast<const char*>(a.x) + t * a.x_token_stride + h * a.x_head_stride;
    const char* y = static_cast<const char*>(a.y) + t * a.y_token_stride + h * a.y_head_stride;
    for (int64_t w = threadIdx.x; w < words; w += blockDim.x) {
      const char* src = w < wx ? x + w * kW : y + (w - wx) * kW;
      *reinterpret_cast<W*>(out + w * kW) = *reinterpret_cast<const W*>(src);
    }
  }
}

inline int word_bytes(std::initializer_list<const void*> ptrs, std::initializer_list<int64_t> sizes) {
  for (int bytes = 16; bytes > 1; bytes /= 2) {
    bool ok = true;
    for (const void* p : ptrs) ok = ok && reinterpret_cast<uintptr_t>(p) % bytes == 0;
    for (int64_t s : sizes) ok = ok && s % bytes == 0;
    if (ok) return bytes;
  }
  return 1;
}

template <typename W>
cudaError_t launch_words(const ConcatRowsArgs& a, bool enable_pdl, cudaStream_t stream) {
  const int64_t words = (a.x_bytes + a.y_bytes) / static_cast<int64_t>(sizeof(W));
  int bx = 32;  // a warp or more per row, up to 512 threads looping over longer rows
  while (bx < words && bx < 512) bx *= 2;
  const int by = std::max(1, 256 / bx);
  const int64_t blocks = std::min<int64_t>((a.tokens * a.heads + by - 1) / by, int64_t{1} << 30);
  return launch_with_pdl(concat_rows_kernel<W>, dim3(static_cast<unsigned>(blocks)), dim3(bx, by), 0, stream,
                         enable_pdl, a);
}

}  // namespace concat_rows_detail

// Launches the concatenation `a`; nothing for an empty one.
inline cudaError_t launch_concat_rows(const ConcatRowsArgs& a, bool enable_pdl, cudaStream_t stream) {
  using namespace concat_rows_detail;
  if (a.tokens == 0 || a.heads == 0 || a.x_bytes + a.y_bytes == 0) return cudaSuccess;
  switch (word_bytes({a.out, a.x, a.y}, {a.x_bytes, a.y_bytes, a.out_token_stride, a.out_head_stride, a.x_token_stride,
                                         a.x_head_stride, a.y_token_stride, a.y_head_stride})) {
    case 16: return launch_words<uint4>(a, enable_pdl, stream);
    case 8: return launch_words<uint2>(a, enable_pdl, stream);
    case 4: return launch_words<uint32_t>(a, enable_pdl, stream);
    case 2: return launch_words<uint16_t>(a, enable_pdl, stream);
    default: return launch_words<uint8_t>(a, enable_pdl, stream);
  }
}

}  // namespace kernelkit
