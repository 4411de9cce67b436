// fused_add_rmsnorm followed by per-token fp8 quantization, in one pass over memory:
//   residual <- input + residual                       (in place, input's dtype)
//   y        = rmsnorm(residual) * weight               (never written to memory)
//   s[t]     = absmax(y[t]) * fl32(1/448),  q[t] = e4m3(clamp(y[t] * rcp(s[t])))   (dynamic_fp8.cuh)
// `input` is only read. Two arithmetics (RmsNormQuantArgs::round_norm, a template flag of the kernels):
//  - sgl-kernel's own fused_add_rmsnorm_quant_fp8 (the default): y = (f * rsqrt(...)) * w stays fp32
//    (f = the fp32 sum x + r), and an all-zero row gets s = 0 and q = 0 (its scale_inv is 0 there);
//  - round_norm: y rounded to input's dtype first, exactly what fused_add_rmsnorm writes, then quantized as
//    sgl_per_token_quant_fp8 quantizes it (zero rows by its row-count rule): the unfused pair, bit for bit.
// In both the sum of squares and rsqrt are fused_add_rmsnorm's (below); sgl-kernel's fused kernel sums in
// its own order, so the two agree to an ulp of the rms, not bit for bit.
//
// Bytes: input + residual read, residual + q (1 B/element) + s written, weight from L2: 7 B/element for
// bf16, against 11 for fused_add_rmsnorm (8) followed by sgl_per_token_quant_fp8 (3): at the copy
// ceiling the pair takes 11/7 of the fused op's time (docs/perf-notes.md, Fused add + RMSNorm + fp8 quant).
//
// Bit-exact drop-in for the pair (round_norm): y must be exactly what fused_add_rmsnorm writes, so these kernels
// MIRROR rmsnorm.cuh's rmsnorm_registers / rmsnorm_two_pass (kFused, !kGemma) -- the same thread ->
// vector mapping, the same fp32 expressions in the same order, the same block_sum, and the same launch
// configuration (launch_typed below takes rmsnorm_detail::row_shape, the one function that picks threads
// and vectors per thread for both, and the same vector-width rule; where this kernel runs fewer, wider
// threads, each stands for several of the mirrored block's threads, see V below). A kernel change must be made to both;
// tests/ops/test_fused_add_rmsnorm_quant_fp8.py (test_matches_unfused_pair, at every launch shape) holds
// them together. Only the epilogue differs: y stays in registers, its absmax is one more block
// reduction, then q and s are written instead of y. Wide rows (two-pass kernel) recompute y from the
// rounded residual in a third pass, as rmsnorm_two_pass's second pass does; sgl-kernel's arithmetic
// normalises the fp32 sum there too, so that mode writes the residual only in the last pass and recomputes
// the sum from input and the untouched residual in each pass.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/dtype.h"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/dynamic_fp8.cuh"
#include "kernelkit/families/quant.cuh"
#include "kernelkit/families/rmsnorm.cuh"

namespace kernelkit {

struct RmsNormQuantArgs {
  uint8_t* q;
  int64_t q_row_stride;
  float* scales;  // one per row, contiguous
  const void* input;
  int64_t input_row_stride;
  void* residual;
  int64_t residual_row_stride;
  const void* weight;
  int64_t num_rows;
  int64_t hidden;
  float eps;
  bool round_norm;             // y rounded to the input dtype (the unfused pair's numbers), else fp32 (sgl-kernel's)
  bool q_aligned;              // q rows allow VEC-byte stores
  bool zero_scale_gives_zero;  // round_norm: an all-zero row's q as sgl_per_token_quant_fp8 gives it for this many rows
};

namespace rmsnorm_quant_detail {

using rmsnorm_detail::kMaxThreads;
using rmsnorm_detail::kMaxVecsPerThread;
using rmsnorm_detail::max_threads;

// rmsnorm_registers<T, VEC, NV, kFused=true, kGemma=false> with a quantizing epilogue.
// Occupancy: the load, two block reductions and the quantization run in sequence within a CTA, so other
// CTAs on the SM must overlap them. Uncapped, four vectors per thread (h7168 bf16: 224 threads) compile
// to 166 registers, one CTA per SM, and nothing overlaps. Capped at 128 (4 vectors) / 64 (2 vectors, h4096:
// 256 threads; 40 bytes of spill loads, L1 hits) registers, two / four CTAs share an SM (docs/perf-notes.md,
// Fused add + RMSNorm + fp8 quant).
//
// V > 1 ("virtual threads"): each thread does the work of V threads of the shape it mirrors -- thread t
// stands for threads t, t + blockDim, ..., each with NV / V vectors -- and block_sum_virtual reduces
// their V partial sums in the mirrored block's order. Rows of 513..1024 vectors: fused_add_rmsnorm runs
// 2 vectors x up to 512 threads (row_shape); this kernel at that shape needs 64 registers with spills
// and is slower, so it runs 4 vectors x half the threads (V = 2) and keeps the same bits.
//
// bf16 rows of two vectors x <= 256 threads (h2056..h4096) take their own register budget, kBlockBound =
// 256 and kMinBlocksPerSm = 3 (<= 85 registers, 78 used, 3 CTAs per SM): under the 512-thread bound that
// the wider two-vector rows need, ptxas caps them at 64 registers and spills 56 bytes (bf16's
// conversions; fp16 and fp32 fit 64 / 60 without a spill and keep 4 CTAs per SM), and 4 CTAs per SM with
// the spill are slower than 3 without, 5 with more spill far slower (docs/perf-notes.md, Fused add +
// RMSNorm + fp8 quant).
//
// Barriers: two per row, not four. The sum and the max reduce in separate scratch arrays and leave out
// their trailing barriers: a thread writes warp_sums for row r + 1 only after the max barrier of row r,
// which every thread reaches after reading row r's sums, and writes warp_maxes for row r + 1 only after
// row r + 1's sum barrier, which every thread reaches after reading row r's maxima. The two barriers
// left out only guarded scratch reuse, and they cost time where few CTAs share an SM to hide a stall
// (h7168: two; h4096, with four, is unaffected; docs/perf-notes.md, Fused add + RMSNorm + fp8 quant).
template <bool kRoundNorm, typename T, int VEC, int NV, int V = 1, int kBlockBound = max_threads<NV>(),
          int kMinBlocksPerSm = (NV == 1 ? 1 : 2)>
__global__ void __launch_bounds__(kBlockBound, kMinBlocksPerSm) add_rmsnorm_quant_registers(RmsNormQuantArgs a) {
  static_assert(NV % V == 0, "each virtual thread holds NV / V vectors");
  constexpr int kVirtualNV = NV / V;
  __shared__ float warp_sums[32], warp_maxes[32];
  pdl_wait_then_launch_dependents();
  const int num_vecs = static_cast<int>(a.hidden / VEC);
  const int mirrored_threads = static_cast<int>(blockDim.x) * V;
  // Vector i of this thread: virtual thread threadIdx.x + (i / kVirtualNV) * blockDim.x, its vector i % kVirtualNV.
  const auto vec_index = [&](int i) {
    return static_cast<int>(threadIdx.x) + (i / kVirtualNV) * static_cast<int>(blockDim.x) +
           (i % kVirtualNV) * mirrored_threads;
  };
  const T* weight = static_cast<const T*>(a.weight);
  int64_t row = blockIdx.x;  // every CTA owns a row: a do-while issues the first loads before any bounds test
  do {
    const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
    T* res = static_cast<T*>(a.residual) + row * a.residual_row_stride;
    Vec<T, VEC> xv[NV], rv[NV], wv[NV];
#pragma unroll
    for (int i = 0; i < NV; ++i) {  // every load of the row in flight before the first use
      const int v = vec_index(i);
      if (v < num_vecs) {
        xv[i] = Vec<T, VEC>::load(in + v * VEC);
        rv[i] = Vec<T, VEC>::load(res + v * VEC);
        wv[i] = Vec<T, VEC>::load(weight + v * VEC);
      }
    }
    // The fp32 sum f = x + r is normalised, not the rounded residual. rmsnorm_registers keeps f in
    // fp32 registers; here xv and rv stay packed and f is formed again after the reduction (the same
    // fp32 addition of the same operands, so the same bits) -- half the registers for 16-bit types,
    // which room the epilogue needs.
    float sum_sq[V] = {};
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int v = vec_index(i);
      if (v < num_vecs) {
        Vec<T, VEC> sum;
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          float f = to_float(xv[i][j]);
          f += to_float(rv[i][j]);
          sum[j] = from_float<T>(f);
          sum_sq[i / kVirtualNV] += f * f;
        }
        sum.store(res + v * VEC);
      }
    }
    const float scale = rsqrtf(block_sum_virtual<V, false>(sum_sq, warp_sums) / static_cast<float>(a.hidden) + a.eps);
    // Left to itself the compiler sees that f is computed twice and keeps the first copy alive across
    // the reduction (one fp32 register per element: 166 registers at h7168). An empty asm on the packed
    // words makes the second computation real.
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      opaque_words(xv[i]);
      opaque_words(rv[i]);
    }
    uint8_t* q = a.q + row * a.q_row_stride;
    if constexpr (kRoundNorm) {
      // Epilogue: y rounded to T (exactly fused_add_rmsnorm's output), its absmax, then q = y / s.
      Vec<T, VEC> y[NV];
      float m = 0.0f;
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        const int v = vec_index(i);
        if (v < num_vecs) {
#pragma unroll
          for (int j = 0; j < VEC; ++j) {
            float f = to_float(xv[i][j]);
            f += to_float(rv[i][j]);
            y[i][j] = from_float<T>(f * scale * to_float(wv[i][j]));
          }
          m = vec_absmax(m, y[i]);
        }
      }
      quantize_held_vectors<false>(
          y, m, warp_maxes, a.scales + row, num_vecs, vec_index, [&](int v) { return q + v * VEC; }, a.q_aligned,
          a.zero_scale_gives_zero);
    } else {
      // Epilogue, sgl-kernel's arithmetic: y = (f * scale) * w in fp32 (its fast-math products), never rounded.
      // Held as fp32 it would double the registers of 16-bit rows, so it is formed once for the absmax and
      // again (the same bits) for the quantization.
      const auto y_at = [&](int i, int j) {
        float f = to_float(xv[i][j]);
        f += to_float(rv[i][j]);
        return sgl::mul(sgl::mul(f, scale), to_float(wv[i][j]));
      };
      float m = 0.0f;
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        if (vec_index(i) < num_vecs) {
#pragma unroll
          for (int j = 0; j < VEC; ++j) m = fmaxf(m, sgl::abs_ftz(y_at(i, j)));
        }
      }
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        opaque_words(xv[i]);
        opaque_words(rv[i]);
        opaque_words(wv[i]);
      }
      const float s = fp8_scale_from_absmax(block_max<false>(m, warp_maxes));
      if (threadIdx.x == 0) a.scales[row] = s;
      const Fp8MulMinFirst quantize = fp8_quantizer(s, true);  // a zero row: scale_inv 0, q 0
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        const int v = vec_index(i);
        if (v < num_vecs) {
          Vec<float, VEC> y;
#pragma unroll
          for (int j = 0; j < VEC; ++j) y[j] = y_at(i, j);
          store_fp8(q + v * VEC, y, quantize, a.q_aligned);
        }
      }
    }
    row += gridDim.x;
  } while (row < a.num_rows);
}

// rmsnorm_two_pass<T, VEC, kFused=true, kGemma=false> with a quantizing epilogue: pass 2 finds
// absmax(y), pass 3 recomputes the same y and quantizes (both re-read residual, mostly from L2).
// !kRoundNorm (sgl-kernel's arithmetic): y comes from the fp32 sum, so every pass re-reads input and the
// residual as it was, and pass 3 writes the rounded sum over it (each element by the thread that read it).
template <bool kRoundNorm, typename T, int VEC>
__global__ void __launch_bounds__(kMaxThreads) add_rmsnorm_quant_two_pass(RmsNormQuantArgs a) {
  __shared__ float warp_sums[32];
  pdl_wait_then_launch_dependents();
  const int64_t num_vecs = a.hidden / VEC;
  const T* weight = static_cast<const T*>(a.weight);
  int64_t row = blockIdx.x;  // every CTA owns a row: a do-while issues the first loads before any bounds test
  do {
    const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
    T* res = static_cast<T*>(a.residual) + row * a.residual_row_stride;
    float sum_sq = 0.0f;
    for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x) {
      auto xv = Vec<T, VEC>::load(in + v * VEC);
      auto rv = Vec<T, VEC>::load(res + v * VEC);
      if constexpr (kRoundNorm) {
#pragma unroll
        for (int j = 0; j < VEC; ++j) rv[j] = from_float<T>(to_float(xv[j]) + to_float(rv[j]));
        rv.store(res + v * VEC);  // the later passes read the sum back from here
        xv = rv;
#pragma unroll
        for (int j = 0; j < VEC; ++j) sum_sq += to_float(xv[j]) * to_float(xv[j]);
      } else {
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const float f = to_float(xv[j]) + to_float(rv[j]);
          sum_sq += f * f;
        }
      }
    }
    const float scale = rsqrtf(block_sum(sum_sq, warp_sums) / static_cast<float>(a.hidden) + a.eps);
    uint8_t* q = a.q + row * a.q_row_stride;
    if constexpr (kRoundNorm) {
      const auto y_at = [&](int64_t v) {
        const auto xv = Vec<T, VEC>::load(res + v * VEC);
        const auto wv = Vec<T, VEC>::load(weight + v * VEC);
        Vec<T, VEC> y;
#pragma unroll
        for (int j = 0; j < VEC; ++j) y[j] = from_float<T>(to_float(xv[j]) * scale * to_float(wv[j]));
        return y;
      };
      float m = 0.0f;
      for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x) m = vec_absmax(m, y_at(v));
      const float s = fp8_scale_from_absmax(block_max(m, warp_sums));
      if (threadIdx.x == 0) a.scales[row] = s;
      const Fp8MulMinFirst quantize = fp8_quantizer(s, a.zero_scale_gives_zero);
      for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x)
        store_fp8(q + v * VEC, y_at(v), quantize, a.q_aligned);
    } else {
      // y (fp32) and the rounded sum of vector v
      const auto y_at = [&](int64_t v, Vec<T, VEC>& sum) {
        const auto xv = Vec<T, VEC>::load(in + v * VEC);
        const auto rv = Vec<T, VEC>::load(res + v * VEC);
        const auto wv = Vec<T, VEC>::load(weight + v * VEC);
        Vec<float, VEC> y;
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const float f = to_float(xv[j]) + to_float(rv[j]);
          sum[j] = from_float<T>(f);
          y[j] = sgl::mul(sgl::mul(f, scale), to_float(wv[j]));
        }
        return y;
      };
      float m = 0.0f;
      Vec<T, VEC> sum;
      for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x) m = vec_absmax(m, y_at(v, sum));
      const float s = fp8_scale_from_absmax(block_max(m, warp_sums));
      if (threadIdx.x == 0) a.scales[row] = s;
      const Fp8MulMinFirst quantize = fp8_quantizer(s, true);  // a zero row: scale_inv 0, q 0
      for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x) {
        store_fp8(q + v * VEC, y_at(v, sum), quantize, a.q_aligned);
        sum.store(res + v * VEC);
      }
    }
    row += gridDim.x;
  } while (row < a.num_rows);
}

// The launch shape of rmsnorm_detail::launch_typed (rmsnorm_detail::row_shape): the same threads and
// vectors per row, so the same fp32 reduction order as fused_add_rmsnorm (see the top of the file).
template <bool R, typename T, int VEC>
cudaError_t launch_typed(const RmsNormQuantArgs& a, bool enable_pdl, int num_sms, cudaStream_t stream) {
  const rmsnorm_detail::RowShape shape = rmsnorm_detail::row_shape(a.num_rows, a.hidden / VEC, num_sms);
  const unsigned grid = shape.grid, threads = shape.threads;
  if (shape.two_pass) {
    return launch_with_pdl(add_rmsnorm_quant_two_pass<R, T, VEC>, dim3(grid), dim3(kMaxThreads), 0, stream, enable_pdl,
                           a);
  }
  if (shape.nv == 2 && !shape.few_rows && threads > 256 && threads % 64 == 0) {  // see V above
    return launch_with_pdl(add_rmsnorm_quant_registers<R, T, VEC, 4, 2>, dim3(grid), dim3(threads / 2), 0, stream,
                           enable_pdl, a);
  }
  switch (shape.nv) {
    case 1:
      return launch_with_pdl(add_rmsnorm_quant_registers<R, T, VEC, 1>, dim3(grid), dim3(threads), 0, stream,
                             enable_pdl, a);
    case 2:
      if constexpr (std::is_same_v<T, __nv_bfloat16>) {  // see the bf16 register budget above
        if (threads <= 256) {
          return launch_with_pdl(add_rmsnorm_quant_registers<R, T, VEC, 2, 1, 256, 3>, dim3(grid), dim3(threads), 0,
                                 stream, enable_pdl, a);
        }
      }
      return launch_with_pdl(add_rmsnorm_quant_registers<R, T, VEC, 2>, dim3(grid), dim3(threads), 0, stream,
                             enable_pdl, a);
    default:
      return launch_with_pdl(add_rmsnorm_quant_registers<R, T, VEC, 4>, dim3(grid), dim3(threads), 0, stream,
                             enable_pdl, a);
  }
}

}  // namespace rmsnorm_quant_detail

inline cudaError_t launch_add_rmsnorm_quant(RmsNormQuantArgs a, bool enable_pdl, DType dtype, cudaStream_t stream) {
  if (a.num_rows == 0 || a.hidden == 0) return cudaSuccess;
  const int num_sms = sm_count();
  a.zero_scale_gives_zero = a.num_rows >= 16 * int64_t(num_sms);  // sgl_per_token_quant_fp8's switch
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kFull = 16 / static_cast<int>(sizeof(T));
    // fused_add_rmsnorm's rule (its out is input): full 16-byte vectors when input, residual, weight and
    // their strides allow them, scalars otherwise. q does not take part (it would change the vector width,
    // and with it the summation order); q_aligned picks its store width instead.
    const bool aligned =
        pick_vec_width<T>({a.input, a.input, a.residual, a.weight},
                          {a.hidden, a.input_row_stride, a.input_row_stride, a.residual_row_stride}) == kFull;
    if (aligned) {
      a.q_aligned = reinterpret_cast<uintptr_t>(a.q) % kFull == 0 && a.q_row_stride % kFull == 0;
      return a.round_norm ? rmsnorm_quant_detail::launch_typed<true, T, kFull>(a, enable_pdl, num_sms, stream)
                          : rmsnorm_quant_detail::launch_typed<false, T, kFull>(a, enable_pdl, num_sms, stream);
    }
    a.q_aligned = true;
    return a.round_norm ? rmsnorm_quant_detail::launch_typed<true, T, 1>(a, enable_pdl, num_sms, stream)
                        : rmsnorm_quant_detail::launch_typed<false, T, 1>(a, enable_pdl, num_sms, stream);
  });
}

}  // namespace kernelkit
