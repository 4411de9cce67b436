// sgl_per_token_quant_fp8: per row t, s[t] = absmax(x[t]) / 448 and q[t] = e4m3(clamp(x[t] * (1 / s[t])))
// as sgl-kernel computes them (dynamic_fp8.cuh has the rule, quant.cuh the arithmetic per arch).
//
// Memory-bound: bytes = T*H*sizeof(x) read + T*H written (fp8) + 4*T (scales) (docs/perf-notes.md,
// Per-token fp8).
//
// One CTA per row, the row in registers (16-byte vectors, NV per thread), so x is read once: load,
// absmax, block max, then quantize from the registers. The block is sized like rmsnorm.cuh's:
//   few rows (T < 2 * SMs): as many threads as the row has vectors (up to 1024): every load in flight
//     at once, one DRAM round trip per row -- latency is what counts there;
//   many rows: <= 128 threads per row with up to 8 vectors each, every instance capped at 64 registers
//     (__launch_bounds__ min blocks), so 8+ rows are in flight per SM and hide each other's reduction.
// Rows too wide for registers (> 16384 bf16 / 8192 fp32 elements, or unaligned rows, which take
// scalar accesses: > 2048 elements) take a two-pass loop; the second read mostly hits L2.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/dtype.h"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/dynamic_fp8.cuh"
#include "kernelkit/families/quant.cuh"
#include "kernelkit_ops/quantization/sgl_per_token_quant_fp8.h"

namespace kernelkit {
namespace {

struct PerTokenArgs {
  uint8_t* q;
  int64_t q_row_stride;
  float* scales;  // one per row, contiguous
  const void* input;
  int64_t input_row_stride;
  int64_t num_rows;
  int64_t hidden;
  bool q_aligned;  // every q row start is VEC-byte aligned: vector stores
  // An all-zero row's q: 0 (true) or +448 (false). sgl-kernel gives 0 from its many-rows kernel (guarded
  // 1 / s) and +448 from its few-rows one (1 / 0 = inf, 0 * inf = NaN -> +448); the launcher picks the
  // same way (kZeroRowGuardRowsPerSm).
  bool zero_scale_gives_zero;
};

// sgl-kernel switches to its guarded many-rows kernel at 16 rows per SM.
constexpr int64_t kZeroRowGuardRowsPerSm = 16;

constexpr int kMaxVecsPerThread = 8;
constexpr int kManyRowsThreads = 128;
constexpr int kTwoPassThreads = 512;

// Register caps: every instance gets at most 64 registers (min blocks x threads = 64K registers).
template <int NV>
constexpr int max_threads() {
  return NV <= 2 ? 1024 : (NV == 4 ? 512 : 256);
}
template <int NV>
constexpr int min_blocks() {
  return 65536 / (64 * max_threads<NV>());
}

template <typename T, int VEC, int NV>
__global__ void __launch_bounds__(max_threads<NV>(), min_blocks<NV>()) per_token_registers(PerTokenArgs a) {
  __shared__ float scratch[32];
  pdl_wait_then_launch_dependents();
  const int num_vecs = static_cast<int>(a.hidden / VEC);
  int64_t row = blockIdx.x;  // every CTA owns a row: a do-while issues the first loads before any bounds test
  do {
    const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
    Vec<T, VEC> xv[NV];
#pragma unroll
    for (int i = 0; i < NV; ++i) {  // every load of the row in flight before the first use
      const int v = threadIdx.x + i * blockDim.x;
      if (v < num_vecs) xv[i] = Vec<T, VEC>::load(in + v * VEC);
    }
    float m = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      if (threadIdx.x + i * blockDim.x < num_vecs) m = vec_absmax(m, xv[i]);
    }
    uint8_t* q = a.q + row * a.q_row_stride;
    quantize_held_vectors(
        xv, m, scratch, a.scales + row, num_vecs, [](int i) { return static_cast<int>(threadIdx.x + i * blockDim.x); },
        [&](int v) { return q + v * VEC; }, a.q_aligned, a.zero_scale_gives_zero);
    row += gridDim.x;
  } while (row < a.num_rows);
}

template <typename T, int VEC>
__global__ void __launch_bounds__(kTwoPassThreads) per_token_two_pass(PerTokenArgs a) {
  __shared__ float scratch[32];
  pdl_wait_then_launch_dependents();
  const int64_t num_vecs = a.hidden / VEC;
  int64_t row = blockIdx.x;  // every CTA owns a row: a do-while issues the first loads before any bounds test
  do {
    const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
    float m = 0.0f;
    for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x) m = vec_absmax(m, Vec<T, VEC>::load(in + v * VEC));
    const float s = fp8_scale_from_absmax(block_max(m, scratch));
    if (threadIdx.x == 0) a.scales[row] = s;
    uint8_t* q = a.q + row * a.q_row_stride;
    const Fp8MulMinFirst quantize = fp8_quantizer(s, a.zero_scale_gives_zero);
    for (int64_t v = threadIdx.x; v < num_vecs; v += blockDim.x) {
      store_fp8(q + v * VEC, Vec<T, VEC>::load(in + v * VEC), quantize, a.q_aligned);
    }
    row += gridDim.x;
  } while (row < a.num_rows);
}

template <typename T, int VEC>
cudaError_t launch_typed(const PerTokenArgs& a, bool enable_pdl, cudaStream_t stream) {
  const int64_t num_vecs = a.hidden / VEC;
  const bool few_rows = a.num_rows < 2 * static_cast<int64_t>(sm_count());
  const auto cap = [](int nv) -> int64_t {
    return nv == 1 ? max_threads<1>() : nv == 2 ? max_threads<2>() : nv == 4 ? max_threads<4>() : max_threads<8>();
  };
  const auto threads_for = [&](int nv) { return (num_vecs + nv - 1) / nv; };
  const int64_t want = few_rows ? 1024 : kManyRowsThreads;  // threads per row we aim for
  int nv = 1;
  while (nv < kMaxVecsPerThread && threads_for(nv) > std::min<int64_t>(want, cap(nv))) nv *= 2;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(a.num_rows, 1 << 20));
  if (threads_for(nv) > cap(nv)) {
    return launch_with_pdl(per_token_two_pass<T, VEC>, dim3(grid), dim3(kTwoPassThreads), 0, stream, enable_pdl, a);
  }
  const unsigned threads = static_cast<unsigned>(std::max<int64_t>(32, (threads_for(nv) + 31) / 32 * 32));
  switch (nv) {
    case 1: return launch_with_pdl(per_token_registers<T, VEC, 1>, dim3(grid), dim3(threads), 0, stream, enable_pdl, a);
    case 2: return launch_with_pdl(per_token_registers<T, VEC, 2>, dim3(grid), dim3(threads), 0, stream, enable_pdl, a);
    case 4: return launch_with_pdl(per_token_registers<T, VEC, 4>, dim3(grid), dim3(threads), 0, stream, enable_pdl, a);
    default:
      return launch_with_pdl(per_token_registers<T, VEC, 8>, dim3(grid), dim3(threads), 0, stream, enable_pdl, a);
  }
}

}  // namespace

}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/sgl_per_token_quant_fp8.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_sgl_per_token_quant_fp8(void* output_q, int64_t q_row_stride, float* scales,
                                                      const void* input, int64_t input_row_stride, int64_t num_rows,
                                                      int64_t hidden, bool enable_pdl, DType dtype,
                                                      cudaStream_t stream) {
  if (num_rows == 0 || hidden == 0) return cudaSuccess;
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kFull = 16 / sizeof(T);
    PerTokenArgs a{static_cast<uint8_t*>(output_q),
                   q_row_stride,
                   scales,
                   input,
                   input_row_stride,
                   num_rows,
                   hidden,
                   false,
                   num_rows >= kZeroRowGuardRowsPerSm * sm_count()};
    // The vector width follows the input (16-byte loads); q gets VEC-byte stores where its rows allow.
    if (pick_vec_width<T>({input}, {hidden, input_row_stride}) == kFull) {
      a.q_aligned = reinterpret_cast<uintptr_t>(output_q) % kFull == 0 && q_row_stride % kFull == 0;
      return launch_typed<T, kFull>(a, enable_pdl, stream);
    }
    a.q_aligned = true;
    return launch_typed<T, 1>(a, enable_pdl, stream);
  });
}
