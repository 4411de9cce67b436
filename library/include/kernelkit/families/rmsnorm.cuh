// RMSNorm and its fused-residual / Gemma variants:
//   out = x * rsqrt(mean(x^2) + eps) * w            (rmsnorm)
//   w -> (1 + w)                                    (gemma_*)
//   x = input + residual; residual <- x; input <- ... (fused_add_*: in place)
//
// Memory-bound: each row is read once and written once, the weight comes from L2. One CTA per row
// keeps the whole row in registers (16-byte vectors, up to kMaxVecsPerThread per thread), so there
// is no second pass over memory; the sum of squares is one block reduction. The block is sized per
// launch: few rows -> as many threads per row as it takes (latency: every load in flight at once);
// many plain rows of <= 1024 vectors -> two vectors per thread at <= 42 registers (rmsnorm_many_rows);
// many fused or wider rows -> 256 threads with several vectors each (ILP, several CTAs per SM). Rows
// wider than the register budget take a two-pass loop (the second read mostly hits L2).
// Kernels are PDL-aware (see pdl.cuh): with enable_pdl the launch overlaps the previous kernel's tail.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/dtype.h"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/reduce.cuh"
#include "kernelkit/core/vec.cuh"

namespace kernelkit {

struct RmsNormArgs {
  void* out;  // rmsnorm: out; fused_add: input (normalised in place)
  int64_t out_row_stride;
  const void* input;
  int64_t input_row_stride;
  void* residual;  // fused_add only: residual <- input + residual
  int64_t residual_row_stride;
  const void* weight;
  int64_t num_rows;
  int64_t hidden;
  float eps;
};

namespace rmsnorm_detail {

constexpr int kMaxThreads = 1024;
constexpr int kMaxVecsPerThread = 4;

// Register budget: 1024 threads leave 64 registers each, enough for one vector of the row; 2 and 4
// vectors per thread need the 128 / 255 registers of 512- / 256-thread blocks (with 1024 as the
// bound the compiler spills 400+ bytes per thread for 4 vectors; docs/perf-notes.md, RMSNorm family).
template <int NV>
constexpr int max_threads() {
  return NV == 1 ? 1024 : (NV == 2 ? 512 : 256);
}

template <bool kGemma>
__device__ __forceinline__ float weight_factor(float w) {
  return kGemma ? 1.0f + w : w;
}

// The row lives in registers: NV vectors of VEC elements per thread.
// Register caps: 4 vectors x 256 threads at <= 85 registers (3 CTAs per SM), 2 vectors x 512 threads at
// <= 64 (2 CTAs), 1 vector x 1024 threads at 64.
template <typename T, int VEC, int NV, bool kFused, bool kGemma>
__global__ void __launch_bounds__(max_threads<NV>(), NV == 4 ? 3 : (NV == 2 ? 2 : 1)) rmsnorm_registers(RmsNormArgs a) {
  __shared__ float warp_sums[32];
  pdl_wait_then_launch_dependents();
  const int num_vecs = static_cast<int>(a.hidden / VEC);
  const T* weight = static_cast<const T*>(a.weight);
  int64_t row = blockIdx.x;  // every CTA owns a row: a do-while issues the first loads before any bounds test
  do {
    const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
    T* res = kFused ? static_cast<T*>(a.residual) + row * a.residual_row_stride : nullptr;
    Vec<T, VEC> xv[NV], rv[NV], wv[NV];
#pragma unroll
    for (int i = 0; i < NV; ++i) {  // every load of the row in flight before the first use
      const int v = threadIdx.x + i * blockDim.x;
      if (v < num_vecs) {
        xv[i] = Vec<T, VEC>::load(in + v * VEC);
        if constexpr (kFused) rv[i] = Vec<T, VEC>::load(res + v * VEC);
        wv[i] = Vec<T, VEC>::load(weight + v * VEC);
      }
    }
    // The fused sum x + r (fp32) is stored rounded to T now and recomputed from the packed inputs after
    // the reduction (the same fp32 add, so the same bits): holding it in fp32 across the reduction would
    // take 174 registers at 4 vectors per thread (one 256-thread CTA per SM at h8192).
    float sum_sq = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int v = threadIdx.x + i * blockDim.x;
      if (v < num_vecs) {
        Vec<T, VEC> sum;
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          float f = to_float(xv[i][j]);
          if constexpr (kFused) {
            f += to_float(rv[i][j]);
            sum[j] = from_float<T>(f);
          }
          sum_sq += f * f;
        }
        if constexpr (kFused) sum.store(res + v * VEC);
      }
    }
    const float scale = rsqrtf(block_sum(sum_sq, warp_sums) / static_cast<float>(a.hidden) + a.eps);
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      opaque_words(xv[i]);
      if constexpr (kFused) opaque_words(rv[i]);
    }
    T* out = static_cast<T*>(a.out) + row * a.out_row_stride;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int v = threadIdx.x + i * blockDim.x;
      if (v < num_vecs) {
        Vec<T, VEC> y;
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          float xf = to_float(xv[i][j]);
          if constexpr (kFused) xf += to_float(rv[i][j]);
          y[j] = from_float<T>(xf * scale * weight_factor<kGemma>(to_float(wv[i][j])));
        }
        y.store(out + v * VEC);
      }
    }
    row += gridDim.x;
  } while (row < a.num_rows);
}

// Many plain rows of <= 1024 vectors (h8192 bf16): one CTA per row, two vectors per thread (row and
// weight loaded together, Liger's shape), <= 42 registers so 1536 threads share an SM, one barrier.
// The weight is loaded with the row, not after the reduction (which would need only 32 registers and let
// 2048 threads share an SM): after it, it would put an L2 round trip on every row's critical path
// (docs/perf-notes.md, RMSNorm family).
template <typename T, int VEC, bool kGemma>
__global__ void __launch_bounds__(512, 3) rmsnorm_many_rows(RmsNormArgs a) {
  __shared__ float warp_sums[16];
  using V = Vec<T, VEC>;
  pdl_wait_then_launch_dependents();
  const int num_vecs = static_cast<int>(a.hidden / VEC);
  const int64_t row = blockIdx.x;
  const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
  const T* weight = static_cast<const T*>(a.weight);
  const int v0 = threadIdx.x, v1 = threadIdx.x + blockDim.x;
  const bool ok0 = v0 < num_vecs, ok1 = v1 < num_vecs;
  V x0, x1, w0, w1;
  if (ok0) x0 = V::load(in + v0 * VEC);
  if (ok1) x1 = V::load(in + v1 * VEC);
  if (ok0) w0 = V::load(weight + v0 * VEC);
  if (ok1) w1 = V::load(weight + v1 * VEC);
  float sum_sq = 0.0f;
  if (ok0) {
#pragma unroll
    for (int j = 0; j < VEC; ++j) sum_sq += to_float(x0[j]) * to_float(x0[j]);
  }
  if (ok1) {
#pragma unroll
    for (int j = 0; j < VEC; ++j) sum_sq += to_float(x1[j]) * to_float(x1[j]);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum_sq;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += warp_sums[w];
  const float scale = rsqrtf(total / static_cast<float>(a.hidden) + a.eps);
  opaque_words(x0);  // convert x again below rather than keep 16 floats alive across the barrier
  opaque_words(x1);
  T* out = static_cast<T*>(a.out) + row * a.out_row_stride;
  if (ok0) {
    V y;
#pragma unroll
    for (int j = 0; j < VEC; ++j)
      y[j] = from_float<T>(to_float(x0[j]) * scale * weight_factor<kGemma>(to_float(w0[j])));
    y.store(out + v0 * VEC);
  }
  if (ok1) {
    V y;
#pragma unroll
    for (int j = 0; j < VEC; ++j)
      y[j] = from_float<T>(to_float(x1[j]) * scale * weight_factor<kGemma>(to_float(w1[j])));
    y.store(out + v1 * VEC);
  }
}

// Rows too wide for registers: sum of squares in a first pass, normalise in a second.
template <typename T, int VEC, bool kFused, bool kGemma>
__global__ void __launch_bounds__(kMaxThreads) rmsnorm_two_pass(RmsNormArgs a) {
  __shared__ float warp_sums[32];
  pdl_wait_then_launch_dependents();
  const int64_t num_vecs = a.hidden / VEC;
  const T* weight = static_cast<const T*>(a.weight);
  int64_t row = blockIdx.x;  // every CTA owns a row: a do-while issues the first loads before any bounds test
  do {
    const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
    T* res = kFused ? static_cast<T*>(a.residual) + row * a.residual_row_stride : nullptr;
    float sum_sq = 0.0f;
    for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x) {
      auto xv = Vec<T, VEC>::load(in + v * VEC);
      if constexpr (kFused) {
        auto rv = Vec<T, VEC>::load(res + v * VEC);
#pragma unroll
        for (int j = 0; j < VEC; ++j) rv[j] = from_float<T>(to_float(xv[j]) + to_float(rv[j]));
        rv.store(res + v * VEC);  // the second pass reads the sum back from here
        xv = rv;
      }
#pragma unroll
      for (int j = 0; j < VEC; ++j) sum_sq += to_float(xv[j]) * to_float(xv[j]);
    }
    const float scale = rsqrtf(block_sum(sum_sq, warp_sums) / static_cast<float>(a.hidden) + a.eps);
    const T* src = kFused ? res : in;
    T* out = static_cast<T*>(a.out) + row * a.out_row_stride;
    for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x) {
      const auto xv = Vec<T, VEC>::load(src + v * VEC);
      const auto wv = Vec<T, VEC>::load(weight + v * VEC);
      Vec<T, VEC> y;
#pragma unroll
      for (int j = 0; j < VEC; ++j)
        y[j] = from_float<T>(to_float(xv[j]) * scale * weight_factor<kGemma>(to_float(wv[j])));
      y.store(out + v * VEC);
    }
    row += gridDim.x;
  } while (row < a.num_rows);
}

// The launch shape of the one-CTA-per-row kernels, shared with rmsnorm_quant.cuh (whose fused op must
// reduce in the same order as fused_add_rmsnorm to give bit-identical results):
// few rows -> spread each row over as many threads as it has vectors (latency); many rows -> 256
// threads per row and more vectors each (bytes in flight come from the many CTAs), except rows of
// 513..1024 vectors (bf16 h5120..h8192), which take 2 vectors x up to 512 threads (Liger's shape at
// h8192): 4 vectors x 256 threads (80 registers, 3 CTAs per SM) is slower there (docs/perf-notes.md,
// RMSNorm family).
struct RowShape {
  int64_t num_vecs;
  bool few_rows;
  int nv;            // vectors per thread: 1, 2 or 4
  bool two_pass;     // the row does not fit in registers
  unsigned threads;  // block size of the register kernels
  unsigned grid;     // one CTA per row, capped (kernels stride past it)
};

inline RowShape row_shape(int64_t num_rows, int64_t num_vecs, int num_sms) {
  RowShape r{};
  r.num_vecs = num_vecs;
  r.few_rows = num_rows < 2 * static_cast<int64_t>(num_sms);
  const auto cap = [](int nv) -> int64_t {
    return nv == 1 ? max_threads<1>() : (nv == 2 ? max_threads<2>() : max_threads<4>());
  };
  const auto threads_for = [&](int nv) { return (num_vecs + nv - 1) / nv; };
  const int64_t many_rows_threads = num_vecs > 512 && num_vecs <= 1024 ? max_threads<2>() : 256;
  r.nv = 1;
  while (r.nv < kMaxVecsPerThread && threads_for(r.nv) > (r.few_rows ? cap(r.nv) : many_rows_threads)) r.nv *= 2;
  const int64_t threads_needed = threads_for(r.nv);
  r.two_pass = threads_needed > cap(r.nv);
  r.threads = static_cast<unsigned>(std::max<int64_t>(32, (threads_needed + 31) / 32 * 32));
  r.grid = static_cast<unsigned>(std::min<int64_t>(num_rows, 1 << 20));
  return r;
}

template <typename T, int VEC, bool kFused, bool kGemma>
cudaError_t launch_typed(const RmsNormArgs& a, bool enable_pdl, int num_sms, cudaStream_t stream) {
  const RowShape shape = row_shape(a.num_rows, a.hidden / VEC, num_sms);
  const int64_t num_vecs = shape.num_vecs;
  const bool few_rows = shape.few_rows;
  const int nv = shape.nv;
  const unsigned grid = shape.grid, threads = shape.threads;
  if (shape.two_pass) {
    return launch_with_pdl(rmsnorm_two_pass<T, VEC, kFused, kGemma>, dim3(grid), dim3(kMaxThreads), 0, stream,
                           enable_pdl, a);
  }
  if constexpr (!kFused) {
    if (!few_rows && num_vecs <= 1024 && a.num_rows < (int64_t(1) << 31)) {
      const unsigned many_threads = static_cast<unsigned>(std::max<int64_t>(32, ((num_vecs + 1) / 2 + 31) / 32 * 32));
      return launch_with_pdl(rmsnorm_many_rows<T, VEC, kGemma>, dim3(static_cast<unsigned>(a.num_rows)),
                             dim3(many_threads), 0, stream, enable_pdl, a);
    }
  }
  switch (nv) {
    case 1:
      return launch_with_pdl(rmsnorm_registers<T, VEC, 1, kFused, kGemma>, dim3(grid), dim3(threads), 0, stream,
                             enable_pdl, a);
    case 2:
      return launch_with_pdl(rmsnorm_registers<T, VEC, 2, kFused, kGemma>, dim3(grid), dim3(threads), 0, stream,
                             enable_pdl, a);
    default:
      return launch_with_pdl(rmsnorm_registers<T, VEC, 4, kFused, kGemma>, dim3(grid), dim3(threads), 0, stream,
                             enable_pdl, a);
  }
}

}  // namespace rmsnorm_detail

template <bool kFused, bool kGemma>
cudaError_t launch_rmsnorm_family(const RmsNormArgs& a, bool enable_pdl, DType dtype, cudaStream_t stream) {
  if (a.num_rows == 0 || a.hidden == 0) return cudaSuccess;
  const int num_sms = sm_count();
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Full 16-byte vectors, or scalars when the shape or a pointer does not allow them.
    const int full = 16 / static_cast<int>(sizeof(T));
    const bool aligned =
        pick_vec_width<T>({a.out, a.input, a.residual, a.weight},
                          {a.hidden, a.out_row_stride, a.input_row_stride, a.residual_row_stride}) == full;
    if (aligned) return rmsnorm_detail::launch_typed<T, 16 / sizeof(T), kFused, kGemma>(a, enable_pdl, num_sms, stream);
    return rmsnorm_detail::launch_typed<T, 1, kFused, kGemma>(a, enable_pdl, num_sms, stream);
  });
}

}  // namespace kernelkit
