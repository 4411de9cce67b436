// The scaled GEMM family on CUTLASS 3.x (sm_90a): fp8_scaled_mm, int8_scaled_mm and bmm_fp8 are one kernel shape,
//
//   D[l, m, n] = epilogue(sum_k A[l, m, k] * B[l, n, k])      A row-major (K-major), B column-major (K-major)
//
// with a TMA warp-specialized mainloop (wgmma; the "TN" layout is the only one fp8/int8 wgmma reads from shared
// memory) and an epilogue visitor tree (EVT) that applies the scales on the fp32 accumulators before the output is
// rounded once to bf16/fp16 and stored by TMA. Included only by the GEMM ops' kernel TUs (csrc/gemm/*.cu), which
// CMake compiles with the CUTLASS include path; nothing here reaches the binding or any other op.
//
// What varies per op is small and explicit:
//  * the operand type (float_e4m3_t with fp32 accumulation, int8_t with exact int32 accumulation). For fp8 the
//    schedules below are the non-"FastAccum" ones, so CUTLASS's builder picks its FP8 mainloop that adds the tensor
//    cores' partial sums into a separate fp32 accumulator every 4 MMAs: the tensor cores keep only ~14 bits while
//    accumulating fp8 products, which over K = 28672 would cost the result percent-level error. torch._scaled_mm's
//    default (use_fast_accum=False) does the same. Its mma() is replaced by cutlass_fp8::OverlappedPromotion,
//    which adds the same partial sums in the same order while the next K tile's wgmma runs;
//  * the epilogue: RowColScales (per-token scale_a[m] as a column broadcast, per-channel scale_b[n] and bias[n] as
//    row broadcasts) or TensorScales (two device scalars, read when the kernel starts: CUDA-graph safe);
//  * the tile configuration: the dispatch table in each op's .cu picks one of the Config aliases by M.
// Each instantiation costs tens of seconds of nvcc time, so the configurations are few and shared by name.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/gemm/kernel/tile_scheduler.hpp"
#include "cutlass/numeric_types.h"
#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/families/cutlass_fp8_promotion.cuh"

namespace kernelkit::scaled_gemm {

// ---------------------------------------------------------------------------------------------- configurations

// A CTA tile of TileM x TileN x 128 (128 K-elements = 128 bytes of fp8/int8: one 128-byte swizzle row), ClusterM CTAs
// along M sharing each B tile through TMA multicast, the kernel schedule and its matching epilogue schedule. Every
// configuration runs persistent (one CTA per SM walks the output tiles), so the grid never exceeds the SM count.
template <int TileM, int TileN, int ClusterM, class KernelSchedule_, class EpilogueSchedule_>
struct Config {
  using TileShape = cute::Shape<cute::Int<TileM>, cute::Int<TileN>, cute::_128>;
  using ClusterShape = cute::Shape<cute::Int<ClusterM>, cute::_1, cute::_1>;
  using KernelSchedule = KernelSchedule_;
  using EpilogueSchedule = EpilogueSchedule_;
};

// Small M (decode): 64-row tiles waste no MMA rows on M <= 64, and 64-column tiles give N / 64 CTAs, enough to keep
// every SM streaming B (the whole cost at this size). Ping-pong: one consumer warpgroup's epilogue overlaps the
// other's mainloop when a CTA owns several tiles.
using Pingpong64x64 =
    Config<64, 64, 1, cutlass::gemm::KernelTmaWarpSpecializedPingpong, cutlass::epilogue::TmaWarpSpecialized>;
// Medium M: twice the columns per tile halves the number of times A is read, and M <= 128 still fills a wave.
using Pingpong64x128 =
    Config<64, 128, 1, cutlass::gemm::KernelTmaWarpSpecializedPingpong, cutlass::epilogue::TmaWarpSpecialized>;
// Large M (compute bound): two consumer warpgroups split a 128x128 tile (64 fp32 accumulators each, plus the
// 64 of the fp8 promotion buffer: a 128x128 ping-pong tile would need twice that per thread and spill).
using Cooperative128x128 = Config<128, 128, 1, cutlass::gemm::KernelTmaWarpSpecializedCooperative,
                                  cutlass::epilogue::TmaWarpSpecializedCooperative>;
// The same with clusters of 2 along M: the B tile (the large operand) is loaded once per pair and multicast.
using Cooperative128x128Cluster2 = Config<128, 128, 2, cutlass::gemm::KernelTmaWarpSpecializedCooperative,
                                          cutlass::epilogue::TmaWarpSpecializedCooperative>;

// -------------------------------------------------------------------------------------------------- epilogues

namespace fusion = cutlass::epilogue::fusion;
constexpr auto kRound = cutlass::FloatRoundStyle::round_to_nearest;

// D = round(fma(scale_a[m], acc * scale_b[n], bias[n])), in fp32, rounded once to ElementOut. Without a bias the row
// broadcast reads nothing and supplies 0 (its nullptr default), and fma(x, y, 0) is x * y rounded: one kernel serves
// both calls. Per-token scales are a column vector (stride 1 along M), per-channel ones and the bias a row vector
// (stride 1 along N); neither has a batch stride (these ops are not batched).
struct RowColScaleArgs {
  const float* scales_a;  // [M]
  const float* scales_b;  // [N]
  const void* bias;       // [N] of the output dtype, or nullptr
};

template <class TileShape, class ElementOut>
struct RowColScales {
  using ScaleA = fusion::Sm90ColBroadcast<0, TileShape, float, float, cute::Stride<cute::_1, cute::_0, cute::_0>>;
  using ScaleB = fusion::Sm90RowBroadcast<0, TileShape, float, float, cute::Stride<cute::_0, cute::_1, cute::_0>>;
  using Bias = fusion::Sm90RowBroadcast<0, TileShape, ElementOut, float, cute::Stride<cute::_0, cute::_1, cute::_0>>;
  using AccTimesScaleB =
      fusion::Sm90EVT<fusion::Sm90Compute<cutlass::multiplies, float, float, kRound>, fusion::Sm90AccFetch, ScaleB>;
  using Tree = fusion::Sm90EVT<fusion::Sm90Compute<cutlass::multiply_add, ElementOut, float, kRound>, ScaleA,
                               AccTimesScaleB, Bias>;

  using Params = RowColScaleArgs;

  // Arguments of a tree node: its children's, in order, then its own operation's (empty for Sm90Compute).
  static typename Tree::Arguments arguments(const Params& p) {
    return {{p.scales_a},                              // ScaleA
            {{}, {p.scales_b}, {}},                    // AccFetch, ScaleB, multiplies
            {static_cast<const ElementOut*>(p.bias)},  // Bias (nullptr: 0)
            {}};                                       // multiply_add
  }
};

// D = round((scale_a * scale_b) * acc): per-tensor scales, two 1-element fp32 tensors on the GPU. The scalar node
// multiplies its two pointers' values (its reduction over broadcasts) once per CTA, at kernel start, so a captured
// CUDA graph reads the scales' current values at every replay.
struct TensorScaleArgs {
  const float* scale_a;  // one value
  const float* scale_b;  // one value
};

template <class TileShape, class ElementOut>
struct TensorScales {
  using Scales = fusion::Sm90ScalarBroadcast<float, cute::Stride<cute::_0, cute::_0, cute::_0>, 2>;
  using Tree = fusion::Sm90EVT<fusion::Sm90Compute<cutlass::multiplies, ElementOut, float, kRound>, Scales,
                               fusion::Sm90AccFetch>;

  using Params = TensorScaleArgs;

  static typename Tree::Arguments arguments(const Params& p) {
    return {{{1.0f, 1.0f}, {p.scale_a, p.scale_b}, {}},  // Scales: the pointers' product (the values are the fallback)
            {},                                          // AccFetch
            {}};                                         // multiplies
  }
};

// --------------------------------------------------------------------------------------------------- the kernel

// ElementAB: cutlass::float_e4m3_t (accumulating in float) or int8_t (int32). ElementOut: cutlass::bfloat16_t or
// cutlass::half_t. Epilogue: RowColScales or TensorScales. MainloopOf: what becomes of the builder's mainloop; by
// default the fp8 one promotes while the next K tile's wgmma runs (cutlass_fp8_promotion.cuh; bit-identical sums).
template <class ElementAB, class ElementOut, class Cfg, template <class, class> class Epilogue,
          template <class> class MainloopOf = cutlass_fp8::OverlappedWherePromoting>
struct ScaledGemm {
  using ElementAcc = cute::conditional_t<cute::is_same_v<ElementAB, int8_t>, int32_t, float>;
  using Epi = Epilogue<typename Cfg::TileShape, ElementOut>;
  // 16 bytes: what TMA needs of every row (the binding checks strides and addresses against the same numbers).
  static constexpr int kAlignAB = 16 / sizeof(ElementAB);
  static constexpr int kAlignOut = 16 / sizeof(ElementOut);

  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, typename Cfg::TileShape, typename Cfg::ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, ElementAcc, float,  //
      void, cutlass::layout::RowMajor, kAlignOut,                          // no source C: nothing to read
      ElementOut, cutlass::layout::RowMajor, kAlignOut,                    // D, row-major
      typename Cfg::EpilogueSchedule, typename Epi::Tree>::CollectiveOp;

  using CollectiveMainloop = MainloopOf<typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp,  //
      ElementAB, cutlass::layout::RowMajor, kAlignAB,       // A [M, K], K contiguous
      ElementAB, cutlass::layout::ColumnMajor, kAlignAB,    // B [K, N], K contiguous
      ElementAcc, typename Cfg::TileShape, typename Cfg::ClusterShape,
      // As many pipeline stages as shared memory holds next to the epilogue's buffers.
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      typename Cfg::KernelSchedule>::CollectiveOp>;

  using Kernel = cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, CollectiveMainloop,
                                                      CollectiveEpilogue, cutlass::gemm::PersistentScheduler>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
};

// One problem in elements: sizes, base pointers, the stride between rows (A, D) or columns (B), and between batches.
// The binding has checked what TMA needs: 16-byte aligned bases and strides, K a multiple of 16 elements, N of 8.
struct Problem {
  int m, n, k, batch;
  const void* a;
  int64_t lda, batch_stride_a;
  const void* b;
  int64_t ldb, batch_stride_b;
  void* d;
  int64_t ldd, batch_stride_d;
};

// A single (unbatched) GEMM: the batch stride is the natural one, which TMA needs to be a 16-byte multiple too.
inline Problem matrix_problem(void* d, int64_t ldd, const void* a, int64_t lda, const void* b, int64_t ldb, int64_t m,
                              int64_t n, int64_t k) {
  return Problem{static_cast<int>(m),
                 static_cast<int>(n),
                 static_cast<int>(k),
                 1,
                 a,
                 lda,
                 lda * m,
                 b,
                 ldb,
                 ldb * n,
                 d,
                 ldd,
                 ldd * m};
}

// Launches one configuration on `stream`. No workspace: the persistent scheduler and these epilogues need none (a
// configuration that did would be refused here, not handed an unowned buffer). Errors come back as cudaError_t; the
// binding's checks are meant to make CUTLASS's own refusal (can_implement) unreachable.
template <class GemmT>
cudaError_t run(const Problem& p, const typename GemmT::Epi::Params& epi, cudaStream_t stream) {
  using Gemm = typename GemmT::Gemm;
  using Kernel = typename Gemm::GemmKernel;
  using ElementAB = typename Kernel::ElementA;
  using ElementOut = typename Kernel::ElementD;

  const typename Kernel::StrideA stride_a = cute::make_stride(p.lda, cute::Int<1>{}, p.batch_stride_a);
  const typename Kernel::StrideB stride_b = cute::make_stride(p.ldb, cute::Int<1>{}, p.batch_stride_b);
  const typename Kernel::StrideD stride_d = cute::make_stride(p.ldd, cute::Int<1>{}, p.batch_stride_d);

  cutlass::KernelHardwareInfo hw_info;
  if (cudaGetDevice(&hw_info.device_id) != cudaSuccess) return cudaGetLastError();
  hw_info.sm_count = sm_count();  // the persistent grid is sized by it

  typename Gemm::Arguments args{
      p.batch > 1 ? cutlass::gemm::GemmUniversalMode::kBatched : cutlass::gemm::GemmUniversalMode::kGemm,
      {p.m, p.n, p.k, p.batch},
      {static_cast<const ElementAB*>(p.a), stride_a, static_cast<const ElementAB*>(p.b), stride_b},
      {GemmT::Epi::arguments(epi), nullptr, stride_d, static_cast<ElementOut*>(p.d), stride_d},
      hw_info};

  Gemm gemm;
  if (gemm.can_implement(args) != cutlass::Status::kSuccess) return cudaErrorInvalidValue;
  if (Gemm::get_workspace_size(args) != 0) return cudaErrorInvalidValue;
  // run() encodes the three TMA descriptors (host-side), sets the kernel's shared-memory size and launches.
  if (gemm.run(args, nullptr, stream) != cutlass::Status::kSuccess) {
    const cudaError_t err = cudaGetLastError();
    return err != cudaSuccess ? err : cudaErrorLaunchFailure;
  }
  return cudaSuccess;
}

// --------------------------------------------------------------------------------------------------- K == 0

// An empty sum: D = bias (or 0) broadcast over the rows of every batch. TMA cannot describe a K of 0, so this plain
// kernel stands in. The values are copied as 16-bit patterns (bias has D's dtype; +0 is 0x0000 in bf16 and fp16).
// A template (Bits = uint16_t) so that the three TUs including this header share one definition.
template <typename Bits>
__global__ void fill_with_bias(Bits* __restrict__ d, int64_t ldd, int64_t batch_stride_d, const Bits* __restrict__ bias,
                               int64_t m, int64_t n, int64_t batch) {
  const int64_t total = batch * m * n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t col = i % n, row = (i / n) % m, l = i / (n * m);
    d[l * batch_stride_d + row * ldd + col] = bias != nullptr ? bias[col] : Bits{0};
  }
}

inline cudaError_t launch_fill_with_bias(const Problem& p, const void* bias, cudaStream_t stream) {
  const int64_t total = int64_t{p.batch} * p.m * p.n;
  if (total == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  fill_with_bias<uint16_t><<<static_cast<unsigned>(blocks < 4096 ? blocks : 4096), kThreads, 0, stream>>>(
      static_cast<uint16_t*>(p.d), p.ldd, p.batch_stride_d, static_cast<const uint16_t*>(bias), p.m, p.n, p.batch);
  return cudaGetLastError();
}

}  // namespace kernelkit::scaled_gemm
