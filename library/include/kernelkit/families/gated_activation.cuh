// act(x[..., :d]) * x[..., d:] -- the "_and_mul" family shared by SwiGLU/GeGLU MLPs.
//
// Memory-bound: every element is read once and every output written once, so the kernel
// only has to keep HBM busy: 16-byte vector accesses when the shape and pointers allow
// (Vec width picked at launch), fp32 math, one rounding at the store.
// Grid: x covers the d columns of a row, y walks rows (grid-strided past 65535 rows).
// PDL (enable_pdl): the launch overlaps the previous kernel's tail, which matters at small T, where the
// empty-kernel floor (~1.1 µs) is most of a call. One vector of gate and of up per thread: several
// vectors per thread over a flattened rows x vectors index are slower, since the 64-bit index division
// per vector costs more than the extra bytes in flight give (docs/perf-notes.md, Gated activations).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/dtype.h"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"

namespace kernelkit {

template <typename T, int VEC, typename Act>
__global__ void gated_activation_kernel(T* __restrict__ out, const T* __restrict__ input, int64_t num_rows, int64_t d,
                                        int64_t out_row_stride, int64_t input_row_stride) {
  pdl_wait_then_launch_dependents();  // input may be the previous kernel's output
  const int64_t num_vecs = d / VEC;   // VEC divides d: chosen so by pick_vec_width
  int64_t row = blockIdx.y;           // every CTA owns a row: a do-while issues the first loads before any bounds test
  do {
    const T* gate = input + row * input_row_stride;
    const T* up = gate + d;
    T* dst = out + row * out_row_stride;
    for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < num_vecs;
         v += int64_t(gridDim.x) * blockDim.x) {
      const auto g = Vec<T, VEC>::load(gate + v * VEC);
      const auto u = Vec<T, VEC>::load(up + v * VEC);
      Vec<T, VEC> r;
#pragma unroll
      for (int i = 0; i < VEC; ++i) r[i] = from_float<T>(Act{}(to_float(g[i]))*to_float(u[i]));
      r.store(dst + v * VEC);
    }
    row += gridDim.y;
  } while (row < num_rows);
}

// Picks dtype and vector width, sizes the grid, launches on `stream`.
template <typename Act>
cudaError_t launch_gated_activation(void* out, const void* input, int64_t num_rows, int64_t d, int64_t out_row_stride,
                                    int64_t input_row_stride, bool enable_pdl, DType dtype, cudaStream_t stream) {
  if (num_rows == 0 || d == 0) return cudaSuccess;
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int vec = pick_vec_width<T>({out, input}, {d, out_row_stride, input_row_stride});
    return dispatch_vec_width(vec, [&](auto vec_c) {
      constexpr int VEC = decltype(vec_c)::value;
      constexpr int kThreads = 128;
      const int64_t num_vecs = d / VEC;
      const dim3 grid(static_cast<unsigned>(std::min<int64_t>((num_vecs + kThreads - 1) / kThreads, 65535)),
                      static_cast<unsigned>(std::min<int64_t>(num_rows, 65535)));
      return launch_with_pdl(gated_activation_kernel<T, VEC, Act>, grid, dim3(kThreads), 0, stream, enable_pdl,
                             static_cast<T*>(out), static_cast<const T*>(input), num_rows, d, out_row_stride,
                             input_row_stride);
    });
  });
}

}  // namespace kernelkit
