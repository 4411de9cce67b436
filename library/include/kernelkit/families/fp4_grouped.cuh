// NVFP4 of the masked MoE layout: scaled_fp4_grouped_quant and silu_and_mul_scaled_fp4_grouped_quant.
//
// input [l, m, k] (or [l, m, 2k] = [gate | up] with kSiluAndMul): l experts, m rows each, of which only the
// first valid(e) = clamp(mask[e], 0, m) hold tokens. For each of those rows, per block of 16 values:
//   kSiluAndMul: v = T(silu(g) * u), silu(g) = g / (1 + __expf(-g)), in fp32, one rounding to T: what
//                silu_and_mul computes (csrc/activation/silu_and_mul.cu), so the fused op equals
//                scaled_fp4_grouped_quant(silu_and_mul(x)) bit for bit, as in sgl-kernel;
//   then exactly what scaled_fp4_quant does with input_global_scale[e] (fp4.cuh: fp4_scale_e4m3,
//   fp4_inv_scale, e2m1: sgl-kernel's rcp.approx arithmetic), so expert e's rows equal
//   scaled_fp4_quant(input[e], gs[e])'s, as in sgl-kernel.
// Outputs (contiguous): output [l, m, k/2] (two codes per byte, even value low), output_scale [l,
// round_up(m, 128), round_up(k/16, 4)] e4m3, each expert's [round_up(m, 128), round_up(k/16, 4)] slab in
// the 128x4 swizzled layout. Written: the codes and scales of valid rows and the padding scale columns of
// valid rows (as 0). Not written, as in sgl-kernel: rows valid(e) <= r < m and the padding rows; their
// bytes keep what the buffers held.
//
// Work split: the tokens sit in a few experts' leading rows, and where is known only on the device
// (mask), so the grid is sized for all l * m rows but the work is not. Each CTA scans the masks into
// row offsets (shared memory, (l + 1) int64) and its threads walk the valid rows only, numbered across
// experts: rows are dealt to CTAs evenly whatever the distribution over experts (one expert with all
// the tokens keeps every SM busy), and masked rows cost nothing but the scan. Otherwise the thread
// layout is scaled_fp4_quant's: [BY rows][BX blocks], one thread per block of 16 values, one wave of
// CTAs. A block's inv comes from two rcp.approx and a multiply rather than scaled_fp4_quant's per-CTA
// table: the global scale changes with the expert, and the kernel has issue slots to spare.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/fp4.cuh"

namespace kernelkit {
namespace fp4_grouped {

constexpr int kThreads = 256;
// The row offsets of every expert sit in shared memory: 8 bytes each, 32 KiB at this many experts.
constexpr int64_t kMaxExperts = 4096;

struct Args {
  uint2* out;      // [experts, rows, blocks]: 16 codes per 8 bytes
  uint8_t* scale;  // [experts, padded_rows, 4 * block_tiles] bytes, each expert's slab swizzled
  const void* input;
  int64_t in_expert_stride;   // elements
  int64_t in_row_stride;      // elements
  int64_t up_offset;          // elements from a gate value to its up value (kSiluAndMul)
  const float* global_scale;  // [experts]
  const int32_t* mask;        // [experts]
  int experts;
  int64_t rows;         // m: rows per expert
  int64_t padded_rows;  // round_up(m, 128)
  int blocks;           // k / 16: one per thread
  int block_tiles;      // round_up(blocks, 4) / 4
};

__host__ __device__ __forceinline__ int64_t valid_rows(int32_t mask, int64_t rows) {
  return mask <= 0 ? 0 : std::min<int64_t>(mask, rows);
}

// silu(g) as silu_and_mul computes it: g / (1 + __expf(-g)), i.e. ex2.approx.f32(g * -log2(e)), an IEEE add
// and an IEEE division. The CPU emulation (tests only) has no ex2.approx: it takes exp2 in double, rounded
// to float, and its reference does the same.
__host__ __device__ __forceinline__ float silu(float g) {
#ifdef __CUDA_ARCH__
  const float e = __expf(-g);
#else
  const float e = static_cast<float>(std::exp2(static_cast<double>(g * -1.44269502162933349609375f)));
#endif
  return fp4_detail::div_rn(g, fp4_detail::add_rn(1.0f, e));
}

// The 16 values of one block, as the raw bits of T: loaded, or (kSiluAndMul) T(silu(gate) * up).
template <typename T, int LV, bool kSiluAndMul>
__host__ __device__ __forceinline__ void block_values(const Args& a, const T* p, uint32_t (&r)[8]) {
  fp4_load16<T, LV>(p, r);
  if constexpr (kSiluAndMul) {
    using B = Fp4Bits16<T>;
    uint32_t up[8];
    fp4_load16<T, LV>(p + a.up_offset, up);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float lo = fp4_detail::mul_rn(silu(B::to_float(r[i] & 0xffffu)), B::to_float(up[i] & 0xffffu));
      const float hi = fp4_detail::mul_rn(silu(B::to_float(r[i] >> 16)), B::to_float(up[i] >> 16));
      r[i] = B::from_float(lo) | B::from_float(hi) << 16;
    }
  }
}

// Block `block` of row `row` (< valid_rows) of expert e: values, codes, scale, and the row's padding
// scale columns when it is the row's last block.
template <typename T, int LV, bool kSiluAndMul>
__host__ __device__ __forceinline__ void quantize_block(const Args& a, int e, int64_t row, int block, float gs) {
  const T* p = static_cast<const T*>(a.input) + e * a.in_expert_stride + row * a.in_row_stride +
               static_cast<int64_t>(block) * kFp4BlockSize;
  uint32_t r[8];
  block_values<T, LV, kSiluAndMul>(a, p, r);
  uint32_t words[2];
  const uint8_t sf = fp4_quantize16<T>(r, gs, [gs](uint8_t bits) { return fp4_inv_scale(bits, gs); }, words);
  a.out[(e * a.rows + row) * a.blocks + block] = make_uint2(words[0], words[1]);
  uint8_t* slab = a.scale + e * a.padded_rows * (4 * a.block_tiles);
  slab[fp4_scale_offset(row, block, a.block_tiles)] = sf;
  if (block == a.blocks - 1) {
    for (int k = a.blocks; k < 4 * a.block_tiles; ++k) slab[fp4_scale_offset(row, k, a.block_tiles)] = 0;
  }
}

// Where one thread works: its block column, and its share of the valid rows (numbered across experts).
struct Lane {
  int block;
  int64_t first, step;
};

__host__ __device__ __forceinline__ Lane lane_of(dim3 block_idx, dim3 thread_idx, dim3 block_dim, dim3 grid_dim) {
  Lane lane;
  lane.block = static_cast<int>(block_idx.x * block_dim.x + thread_idx.x);
  lane.first = static_cast<int64_t>(block_idx.y) * block_dim.y + thread_idx.y;
  lane.step = static_cast<int64_t>(grid_dim.y) * block_dim.y;
  return lane;
}

// One thread's work, `row_start[e]` the number of valid rows of the experts before e (e <= experts). The
// kernel and the CPU emulation run this same code.
template <typename T, int LV, bool kSiluAndMul>
__host__ __device__ __forceinline__ void run_lane(const Args& a, const Lane& lane, const long long* row_start) {
  const long long total = row_start[a.experts];
  int e = -1;
  float gs = 0.0f;
  for (long long i = lane.first; i < total; i += lane.step) {
    const int before = e;
    if (e < 0) e = 0;
    while (i >= row_start[e + 1]) ++e;  // ends: i < total = row_start[experts]
    if (e != before) gs = a.global_scale[e];
    quantize_block<T, LV, kSiluAndMul>(a, e, i - row_start[e], lane.block, gs);
  }
}

template <typename T, int LV, bool kSiluAndMul>
__global__ void __launch_bounds__(kThreads) grouped_fp4_quant_kernel(Args a) {
  extern __shared__ long long row_start[];  // [experts + 1]
  __shared__ long long warp_sums[kThreads / 32];
  pdl_wait_then_launch_dependents();  // the input, scales and mask may be the previous kernel's output

  // row_start: exclusive prefix sums of the valid rows, kThreads experts at a time.
  const int tid = static_cast<int>(threadIdx.y * blockDim.x + threadIdx.x);
  const int lane_id = tid & 31, warp = tid >> 5;
  if (tid == 0) row_start[0] = 0;
  long long carry = 0;
  for (int base = 0; base < a.experts; base += kThreads) {
    const int e = base + tid;
    long long v = e < a.experts ? valid_rows(a.mask[e], a.rows) : 0;
#pragma unroll
    for (int d = 1; d < 32; d *= 2) {
      const long long n = __shfl_up_sync(0xffffffffu, v, d);
      if (lane_id >= d) v += n;
    }
    if (lane_id == 31) warp_sums[warp] = v;
    __syncthreads();
    long long before = carry, chunk = 0;
#pragma unroll
    for (int w = 0; w < kThreads / 32; ++w) {
      before += w < warp ? warp_sums[w] : 0;
      chunk += warp_sums[w];
    }
    if (e < a.experts) row_start[e + 1] = before + v;
    carry += chunk;
    __syncthreads();  // warp_sums is reused by the next chunk; row_start is complete after the last
  }

  const Lane lane = lane_of(blockIdx, threadIdx, blockDim, gridDim);
  if (lane.block >= a.blocks) return;
  run_lane<T, LV, kSiluAndMul>(a, lane, row_start);
}

// [BY rows][BX blocks], BX * BY = 256, as scaled_fp4_quant: BX a power of two up to 128 dividing the blocks
// of a row when one of 32 or more does, else the smallest power of two covering them. The grid covers the
// columns once and, over the rows, as many CTAs as fit on the GPU at once (`capacity`), but not more than
// l * m rows could use.
inline void launch_shape(const Args& a, int64_t capacity, dim3& grid, dim3& threads) {
  int bx = 128;
  while (bx > 32 && a.blocks % bx != 0) bx /= 2;
  if (a.blocks < bx) {
    bx = 1;
    while (bx < a.blocks) bx *= 2;
  }
  const int by = kThreads / bx;
  const int64_t grid_x = (a.blocks + bx - 1) / bx;
  const int64_t row_chunks = (a.experts * a.rows + by - 1) / by;
  const int64_t grid_y = std::min<int64_t>({std::max<int64_t>(1, capacity / grid_x), row_chunks, 65535});
  grid = dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y));
  threads = dim3(static_cast<unsigned>(bx), static_cast<unsigned>(by));
}

inline Args make_args(void* output, void* output_scale, const void* input, int64_t input_expert_stride,
                      int64_t input_row_stride, int64_t up_offset, int64_t experts, int64_t rows, int64_t cols,
                      const float* global_scale, const int32_t* mask) {
  Args a;
  a.out = static_cast<uint2*>(output);
  a.scale = static_cast<uint8_t*>(output_scale);
  a.input = input;
  a.in_expert_stride = input_expert_stride;
  a.in_row_stride = input_row_stride;
  a.up_offset = up_offset;
  a.global_scale = global_scale;
  a.mask = mask;
  a.experts = static_cast<int>(experts);
  a.rows = rows;
  a.padded_rows = (rows + 127) / 128 * 128;
  a.blocks = static_cast<int>(cols / kFp4BlockSize);
  a.block_tiles = (a.blocks + 3) / 4;
  return a;
}

// Elements per load: 8 (16 bytes) when the pointer, the strides and the gate-to-up distance allow it.
template <typename T>
int load_width(const Args& a) {
  return pick_vec_width<T>({a.input}, {a.in_expert_stride, a.in_row_stride, a.up_offset, kFp4BlockSize});
}

// CTAs of one kernel instance an SM holds at once (asked once per instance; the row offsets' shared memory is
// left out: at a few hundred experts it does not limit occupancy, and a larger grid only queues).
template <typename T, int LV, bool kSiluAndMul>
int ctas_per_sm() {
  static const int n = [] {
    int blocks = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, grouped_fp4_quant_kernel<T, LV, kSiluAndMul>, kThreads,
                                                      0) != cudaSuccess ||
        blocks <= 0) {
      cudaGetLastError();  // clear it: the launch reports real errors
      return 4;
    }
    return blocks;
  }();
  return n;
}

// The launcher both ops share: input rows of `cols` values (kSiluAndMul: gate values, their up values
// `cols` elements further), outputs contiguous.
template <bool kSiluAndMul>
cudaError_t launch(void* output, void* output_scale, const void* input, int64_t input_expert_stride,
                   int64_t input_row_stride, int64_t experts, int64_t rows, int64_t cols, const float* global_scale,
                   const int32_t* mask, bool enable_pdl, DType dtype, cudaStream_t stream) {
  if (experts == 0 || rows == 0 || cols == 0) return cudaSuccess;
  if (cols % kFp4BlockSize != 0 || cols / kFp4BlockSize > INT32_MAX || experts > kMaxExperts) {
    return cudaErrorInvalidValue;
  }
  const Args a = make_args(output, output_scale, input, input_expert_stride, input_row_stride, kSiluAndMul ? cols : 0,
                           experts, rows, cols, global_scale, mask);
  const size_t smem = static_cast<size_t>(experts + 1) * sizeof(long long);
  return dispatch_dtypes<DType::kBFloat16, DType::kFloat16>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_vec_width(load_width<T>(a), [&](auto vec_c) {
      constexpr int LV = decltype(vec_c)::value;
      dim3 grid, threads;
      launch_shape(a, static_cast<int64_t>(sm_count()) * ctas_per_sm<T, LV, kSiluAndMul>(), grid, threads);
      return launch_with_pdl(grouped_fp4_quant_kernel<T, LV, kSiluAndMul>, grid, threads, smem, stream, enable_pdl, a);
    });
  });
}

#ifdef KERNELKIT_FP4_EMULATION
// The kernel on the CPU, for the tests on machines without a GPU: the same launch shape, lanes, row walk,
// loads, values, scales, codes and stores, one thread after the other (host pointers). `capacity` (CTAs
// resident at once) picks the launch shape.
template <bool kSiluAndMul>
void emulate(void* output, void* output_scale, const void* input, int64_t input_expert_stride, int64_t input_row_stride,
             int64_t experts, int64_t rows, int64_t cols, const float* global_scale, const int32_t* mask, bool is_bf16,
             int capacity) {
  if (experts == 0 || rows == 0 || cols == 0) return;
  const Args a = make_args(output, output_scale, input, input_expert_stride, input_row_stride, kSiluAndMul ? cols : 0,
                           experts, rows, cols, global_scale, mask);
  std::vector<long long> row_start(experts + 1, 0);
  for (int64_t e = 0; e < experts; ++e) row_start[e + 1] = row_start[e] + valid_rows(mask[e], rows);
  dim3 grid, threads;
  launch_shape(a, capacity, grid, threads);
  const auto run = [&](auto tag, auto vec_c) {
    using T = typename decltype(tag)::type;
    constexpr int LV = decltype(vec_c)::value;
    for (unsigned by = 0; by < grid.y; ++by) {
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        for (unsigned ty = 0; ty < threads.y; ++ty) {
          for (unsigned tx = 0; tx < threads.x; ++tx) {
            const Lane lane = lane_of(dim3(bx, by), dim3(tx, ty), threads, grid);
            if (lane.block < a.blocks) run_lane<T, LV, kSiluAndMul>(a, lane, row_start.data());
          }
        }
      }
    }
    return cudaSuccess;
  };
  const auto by_width = [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_vec_width(load_width<T>(a), [&](auto vec_c) { return run(tag, vec_c); });
  };
  if (is_bf16) {
    by_width(TypeTag<__nv_bfloat16>{});
  } else {
    by_width(TypeTag<__half>{});
  }
}
#endif

}  // namespace fp4_grouped
}  // namespace kernelkit
