// scaled_fp4_quant: NVFP4 quantization of input [rows, cols] (bf16/fp16, cols % 16 == 0).
//
// Per block of 16 values along a row, sgl-kernel's arithmetic (fp4.cuh; tests/ops/quantization/fp4_reference.py):
//   vmax = max |x| (NaN ignored)                  sf  = e4m3_rn_sat(gs * (vmax * rcp(6)))    gs = *global_scale
//   inv  = sf == 0 ? 0 : rcp(sf * rcp(gs))        q_i = e2m1_rn_satfinite(x_i * inv)
// in fp32, rcp = rcp.approx.ftz.f32 (rcp(6) the constant fl32(1/6) it folds to), products IEEE. Writes q two per
// byte (even value in the low nibble) to output [rows, cols/2] and sf into the 128x4-swizzled scale tensor
// [round_up(rows, 128), round_up(cols/16, 4)], whose padding rows and columns are written as 0.
//
// Memory-bound: 2 bytes in per value, 0.5 + 1/16 out. At 3 TB/s an H100 SM has ~30 issue slots per
// value, and below sm_100 the e2m1 rounding is done in integer/float ops (fp4.cuh), so the rest is lean
// (sm_90a SASS of the bf16 kernel: ~18 instructions per value, ~12 of them the rounding and packing):
//  - one thread owns one block of 16 values (two 16-byte loads, one 8-byte store, one scale byte): no
//    shuffle, and the block's scale is computed once;
//  - max |x| on the raw 16-bit bits, 8 values per 3-way integer max (VIMNMX3.U16x2), which also says
//    whether the block holds a NaN;
//  - inv depends only on the scale's 8 bits, so each CTA tabulates it once (256 entries in shared
//    memory) and a block pays two multiplies for its scale instead of also two reciprocals and a multiply;
//  - without NaN (and with a sane global scale) the codes come from |x| * inv and the sign bits are
//    moved over from the input with byte permutes; a block with NaN takes the general per-value path;
//  - threads are [BY rows][BX blocks], BX a power of two (128 for hidden 4096, 64 for 7168: no idle
//    lanes); the grid covers the columns once and, over the rows, exactly one wave of resident CTAs
//    (occupancy x SMs), each looping over an equal share of the rows: no partly filled last wave.
// On sm_100a+ the codes come from cvt.rn.satfinite.e2m1x2.f32, which does sign and NaN itself.
//
// Bytes: 2.5625 * T * H + scales; T <= 128 is launch-bound (docs/perf-notes.md, NVFP4).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#ifdef KERNELKIT_FP4_EMULATION
#include <stdexcept>
#endif

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/fp4.cuh"
#include "kernelkit_ops/quantization/scaled_fp4_quant.h"

namespace kernelkit {
namespace {

constexpr int kThreads = 256;  // also the size of the inv table: one entry per thread

struct Fp4QuantArgs {
  uint2* out;      // [rows, blocks]: 16 codes per 8 bytes
  uint8_t* scale;  // swizzled e4m3, [padded_rows, 4 * block_tiles] bytes
  const void* input;
  int64_t in_row_stride;  // elements
  int64_t rows;
  int64_t padded_rows;  // round_up(rows, 128)
  int blocks;           // cols / 16: one per thread
  int block_tiles;      // round_up(blocks, 4) / 4
  const float* global_scale;
};

// Where one thread works: its block column and its rows. The kernel and the CPU emulation in the tests
// (KERNELKIT_FP4_EMULATION) run this same code.
struct Fp4Lane {
  int block;
  int64_t first_row, row_step;
};

__host__ __device__ __forceinline__ Fp4Lane fp4_lane(dim3 block_idx, dim3 thread_idx, dim3 block_dim, dim3 grid_dim) {
  Fp4Lane lane;
  lane.block = static_cast<int>(block_idx.x * block_dim.x + thread_idx.x);
  lane.first_row = static_cast<int64_t>(block_idx.y) * block_dim.y + thread_idx.y;
  lane.row_step = static_cast<int64_t>(grid_dim.y) * block_dim.y;
  return lane;
}

// One block of `row` (a real row: row < rows, lane.block < blocks): load, scale, codes, stores; plus the
// row's padding scale columns when it is the row's last block. `inv_of` maps a scale's bits to its inv.
template <typename T, int LV>
__host__ __device__ __forceinline__ void quantize_block(const Fp4QuantArgs& a, const Fp4Lane& lane, int64_t row,
                                                        float gs, const float* inv_of) {
  uint32_t r[8];
  fp4_load16<T, LV>(
      static_cast<const T*>(a.input) + row * a.in_row_stride + static_cast<int64_t>(lane.block) * kFp4BlockSize, r);
  uint32_t words[2];
  const uint8_t sf = fp4_quantize16<T>(r, gs, [inv_of](uint8_t bits) { return inv_of[bits]; }, words);
  a.out[row * a.blocks + lane.block] = make_uint2(words[0], words[1]);
  a.scale[fp4_scale_offset(row, lane.block, a.block_tiles)] = sf;
  if (lane.block == a.blocks - 1) {
    for (int k = a.blocks; k < 4 * a.block_tiles; ++k) a.scale[fp4_scale_offset(row, k, a.block_tiles)] = 0;
  }
}

// A padding row (rows <= row < padded_rows): its scales are 0.
__host__ __device__ __forceinline__ void zero_block(const Fp4QuantArgs& a, const Fp4Lane& lane, int64_t row) {
  a.scale[fp4_scale_offset(row, lane.block, a.block_tiles)] = 0;
  if (lane.block == a.blocks - 1) {
    for (int k = a.blocks; k < 4 * a.block_tiles; ++k) a.scale[fp4_scale_offset(row, k, a.block_tiles)] = 0;
  }
}

template <typename T, int LV>
__global__ void __launch_bounds__(kThreads) scaled_fp4_quant_kernel(Fp4QuantArgs a) {
  __shared__ float inv_of[256];
  pdl_wait_then_launch_dependents();  // input and the global scale may be the previous kernel's output
  const float gs = *a.global_scale;
  inv_of[threadIdx.y * blockDim.x + threadIdx.x] =
      fp4_inv_scale(static_cast<uint8_t>(threadIdx.y * blockDim.x + threadIdx.x), gs);
  __syncthreads();
  const Fp4Lane lane = fp4_lane(blockIdx, threadIdx, blockDim, gridDim);
  if (lane.block >= a.blocks) return;
  int64_t row = lane.first_row;
  for (; row < a.rows; row += lane.row_step) quantize_block<T, LV>(a, lane, row, gs, inv_of);
  for (; row < a.padded_rows; row += lane.row_step) zero_block(a, lane, row);
}

// [BY rows][BX blocks], BX * BY = 256: BX a power of two up to 128 that divides the blocks of a row when
// one of 32 or more does (no idle lanes), else the smallest power of two covering them. The grid covers
// the columns once and, over the rows, as many CTAs as can be resident at once (`capacity`), each
// running the same number of row chunks: one wave, so no tail of a last, partly filled wave (at T = 2048,
// H = 4096 there are ~1.5 waves of work: quantized into 2 waves, a quarter of the time would be lost).
void launch_shape(const Fp4QuantArgs& a, int64_t capacity, dim3& grid, dim3& threads) {
  int bx = 128;
  while (bx > 32 && a.blocks % bx != 0) bx /= 2;
  if (a.blocks < bx) {
    bx = 1;
    while (bx < a.blocks) bx *= 2;
  }
  const int by = kThreads / bx;
  const int64_t grid_x = (a.blocks + bx - 1) / bx;
  const int64_t row_chunks = (a.padded_rows + by - 1) / by;
  const int64_t max_grid_y = std::max<int64_t>(1, capacity / grid_x);
  const int64_t chunks_per_cta = (row_chunks + max_grid_y - 1) / max_grid_y;
  const int64_t grid_y = std::min<int64_t>((row_chunks + chunks_per_cta - 1) / chunks_per_cta, 65535);
  grid = dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y));
  threads = dim3(static_cast<unsigned>(bx), static_cast<unsigned>(by));
}

Fp4QuantArgs make_args(void* output, void* output_scale, const void* input, int64_t input_row_stride, int64_t rows,
                       int64_t cols, const float* global_scale) {
  Fp4QuantArgs a;
  a.out = static_cast<uint2*>(output);
  a.scale = static_cast<uint8_t*>(output_scale);
  a.input = input;
  a.in_row_stride = input_row_stride;
  a.rows = rows;
  a.padded_rows = (rows + 127) / 128 * 128;
  a.blocks = static_cast<int>(cols / kFp4BlockSize);
  a.block_tiles = (a.blocks + 3) / 4;
  a.global_scale = global_scale;
  return a;
}

// Elements per load: 8 (16 bytes) when the rows allow it.
template <typename T>
int load_width(const void* input, int64_t cols, int64_t input_row_stride) {
  return pick_vec_width<T>({input}, {cols, input_row_stride});
}

// CTAs of `kernel` (256 threads) one SM holds at once (registers decide: 5 at 48 per thread), asked once
// per kernel instance.
template <typename Kernel>
int ctas_per_sm(Kernel kernel) {
  static const int n = [kernel] {
    int blocks = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kThreads, 0) != cudaSuccess || blocks <= 0) {
      cudaGetLastError();  // clear it: the launch reports real errors
      return 4;
    }
    return blocks;
  }();
  return n;
}

}  // namespace

}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/scaled_fp4_quant.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_scaled_fp4_quant(void* output, void* output_scale, const void* input,
                                               int64_t input_row_stride, int64_t rows, int64_t cols,
                                               const float* global_scale, bool enable_pdl, DType dtype,
                                               cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (cols % kFp4BlockSize != 0 || cols / kFp4BlockSize > INT32_MAX) return cudaErrorInvalidValue;
  const Fp4QuantArgs a = make_args(output, output_scale, input, input_row_stride, rows, cols, global_scale);
  return dispatch_dtypes<DType::kBFloat16, DType::kFloat16>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_vec_width(load_width<T>(input, cols, input_row_stride), [&](auto vec_c) {
      constexpr int LV = decltype(vec_c)::value;
      dim3 grid, threads;
      launch_shape(a, static_cast<int64_t>(sm_count()) * ctas_per_sm(scaled_fp4_quant_kernel<T, LV>), grid, threads);
      return launch_with_pdl(scaled_fp4_quant_kernel<T, LV>, grid, threads, 0, stream, enable_pdl, a);
    });
  });
}

namespace kernelkit {

#ifdef KERNELKIT_FP4_EMULATION
// The kernel on the CPU, for the tests on machines without a GPU: the same launch shape, lanes, table,
// loads, scales, codes and stores, one thread after the other. `capacity` (CTAs
// resident at once; 660 on the H100: 132 SMs x 5) picks the launch shape. Host pointers; the global
// scale is a host float.
void emulate_scaled_fp4_quant(void* output, void* output_scale, const void* input, int64_t input_row_stride,
                              int64_t rows, int64_t cols, const float* global_scale, bool is_bf16, int capacity) {
  if (rows == 0 || cols == 0) return;
  const Fp4QuantArgs a = make_args(output, output_scale, input, input_row_stride, rows, cols, global_scale);
  dim3 grid, threads;
  launch_shape(a, capacity, grid, threads);
  if (threads.x * threads.y != kThreads) throw std::runtime_error("the inv table needs one entry per thread");
  const float gs = *global_scale;
  float inv_of[256];
  for (int i = 0; i < 256; ++i) inv_of[i] = fp4_inv_scale(static_cast<uint8_t>(i), gs);
  const auto run = [&](auto tag, auto vec_c) {
    using T = typename decltype(tag)::type;
    constexpr int LV = decltype(vec_c)::value;
    for (unsigned by = 0; by < grid.y; ++by) {
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        for (unsigned ty = 0; ty < threads.y; ++ty) {
          for (unsigned tx = 0; tx < threads.x; ++tx) {
            const Fp4Lane lane = fp4_lane(dim3(bx, by), dim3(tx, ty), threads, grid);
            if (lane.block >= a.blocks) continue;
            int64_t row = lane.first_row;
            for (; row < a.rows; row += lane.row_step) quantize_block<T, LV>(a, lane, row, gs, inv_of);
            for (; row < a.padded_rows; row += lane.row_step) zero_block(a, lane, row);
          }
        }
      }
    }
    return cudaSuccess;
  };
  const auto by_width = [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_vec_width(load_width<T>(input, cols, input_row_stride),
                              [&](auto vec_c) { return run(tag, vec_c); });
  };
  if (is_bf16) {
    by_width(TypeTag<__nv_bfloat16>{});
  } else {
    by_width(TypeTag<__half>{});
  }
}
#endif

}  // namespace kernelkit
