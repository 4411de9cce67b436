// DeepSeek-V3 blockwise-scaled fp8 GEMM on CUTLASS 3.x (sm_90a): D[M, N] = sum_kb (A[:, kb] @ B[kb, :]) * sa * sb.
//
// The mainloop is CUTLASS's MainloopSm90TmaGmmaWarpSpecializedBlockwiseFP8 (what sgl-kernel and vLLM run on sm_90):
// per 128-deep K tile, wgmma accumulates A.B into a temporary fp32 fragment, which is then scaled by
// sa[m, kb] * sb[n/128, kb] and added to the real accumulator ("promotion"), so each K block gets its own scales.
// Its mma() is replaced by cutlass_fp8::OverlappedPromotion (cutlass_fp8_promotion.cuh): the same promotions in the
// same order, each one while the next K tile's wgmma runs instead of between them.
// Operands arrive by TMA; sa (1 x 128 groups: 128 scales per 128-row tile and K block) by TMA too, which needs
// its K-block stride to be a multiple of 16 bytes; sb (one scale per 128 x 128 block) by cp.async, any strides.
//
// Scale layouts (cute layouts over the (M or N, K) index space, one scale per (1 or 128) x 128 block):
//   SFA "M-major": ((1, M), (128, K/128)) : ((0, 1), (0, lda_s))  -> scales_a[m, kb] at m + kb * lda_s
//   SFB "K-major": ((128, N/128), (128, K/128)) : ((0, ldb_s), (0, 1)) -> scales_b[kb, nb] at kb + nb * ldb_s
// which are exactly sgl-kernel's tensors: scales_a [M, K/128] with stride(0) == 1 (the column-major layout
// sgl_per_token_group_quant_fp8 writes; lda_s = M or, TMA-aligned, M rounded up to 4) and scales_b [K/128, N/128]
// with stride(0) == 1 (the transposed view of a contiguous [N/128, K/128] weight scale). sgl-kernel copies
// scales_b to N-major on sm_90; here it is read in place.
//
// Only included by CUTLASS translation units (the ops in CMake's cutlass-ops list see the headers).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/detail/blockwise_scale_layout.hpp"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/sm90_visitor_tma_warpspecialized.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/gemm/kernel/tile_scheduler_params.h"
#include "cutlass/numeric_types.h"
#include "kernelkit/families/cutlass_fp8_promotion.cuh"

namespace kernelkit::blockwise_gemm {

constexpr int kScaleBlock = 128;  // K (and N) extent of one scale block: DeepSeek-V3's block size

// Problem description shared by every configuration (plain values; the launcher fills it from the binding).
struct Problem {
  int m, n, k;
  const void* a;
  int64_t lda;  // row stride of A [M, K] (elements = bytes)
  const void* b;
  int64_t ldb;  // column stride of B [K, N] (column-major: B^T [N, K] is row-major)
  void* d;
  int64_t ldd;  // row stride of D [M, N]
  const float* sfa;
  int32_t lda_s;  // K-block stride of the M-major scales_a (a multiple of 4)
  const float* sfb;
  int32_t ldb_s;  // N-block stride of the K-major scales_b
  int sm_count;
  int device;
};

// One kernel configuration: tile, cluster, kernel schedule, tile scheduler, and the mainloop made of the builder's:
// MainloopOf = cutlass_fp8::OverlappedPromotion (the library's: cutlass_fp8_promotion.cuh) or
// cutlass_fp8::BuilderPromotion (CUTLASS's own). OutT: cutlass::bfloat16_t / half_t.
template <typename OutT, typename TileShape, typename ClusterShape, typename KernelSchedule, typename EpilogueSchedule,
          typename TileScheduler, template <class> class MainloopOf = cutlass_fp8::OverlappedPromotion>
struct Gemm {
  using ElementA = cutlass::float_e4m3_t;
  using ElementB = cutlass::float_e4m3_t;
  using ElementD = OutT;
  using LayoutA = cutlass::layout::RowMajor;
  using LayoutB = cutlass::layout::ColumnMajor;
  using LayoutD = cutlass::layout::RowMajor;
  static constexpr int kAlignAB = 16;                                          // 16 bytes: TMA
  static constexpr int kAlignD = 128 / cutlass::sizeof_bits<ElementD>::value;  // 8 bf16/fp16

  using ScaleConfig = cutlass::detail::Sm90BlockwiseScaleConfig<1, kScaleBlock, kScaleBlock, cute::GMMA::Major::MN,
                                                                cute::GMMA::Major::K>;
  using LayoutSFA = decltype(ScaleConfig::deduce_layoutSFA());
  using LayoutSFB = decltype(ScaleConfig::deduce_layoutSFB());

  // D = fp32 accumulator converted (round to nearest) to OutT: the scales are applied in the mainloop.
  using EpilogueOp = cutlass::epilogue::fusion::Sm90EVT<cutlass::epilogue::fusion::Sm90AccFetch>;
  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, void, LayoutD, kAlignD, ElementD, LayoutD, kAlignD,
      EpilogueSchedule, EpilogueOp>::CollectiveOp;

  using CollectiveMainloop = MainloopOf<typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, ElementA, cute::tuple<LayoutA, LayoutSFA>, kAlignAB,
      ElementB, cute::tuple<LayoutB, LayoutSFB>, kAlignAB, float, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      KernelSchedule>::CollectiveOp>;

  using Kernel = cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, CollectiveMainloop,
                                                      CollectiveEpilogue, TileScheduler>;
  using Adapter = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  static typename Kernel::Arguments arguments(const Problem& p) {
    using namespace cute;
    using StrideA = typename Kernel::StrideA;
    using StrideB = typename Kernel::StrideB;
    using StrideD = typename Kernel::StrideD;
    const StrideA stride_a = make_stride(p.lda, _1{}, int64_t{0});
    const StrideB stride_b = make_stride(p.ldb, _1{}, int64_t{0});
    const StrideD stride_d = make_stride(p.ldd, _1{}, int64_t{0});
    const int32_t k_blocks = p.k / kScaleBlock;
    const int32_t n_blocks = (p.n + kScaleBlock - 1) / kScaleBlock;
    // One batch: its strides are 0, as CUTLASS's packed strides make them for L == 1.
    const LayoutSFA layout_sfa =
        make_layout(make_shape(make_shape(_1{}, p.m), make_shape(Int<kScaleBlock>{}, k_blocks), 1),
                    make_stride(make_stride(_0{}, _1{}), make_stride(_0{}, p.lda_s), int32_t{0}));
    const LayoutSFB layout_sfb =
        make_layout(make_shape(make_shape(Int<kScaleBlock>{}, n_blocks), make_shape(Int<kScaleBlock>{}, k_blocks), 1),
                    make_stride(make_stride(_0{}, p.ldb_s), make_stride(_0{}, _1{}), int32_t{0}));

    cutlass::KernelHardwareInfo hw_info;
    hw_info.device_id = p.device;
    hw_info.sm_count = p.sm_count;

    typename Kernel::Arguments args{cutlass::gemm::GemmUniversalMode::kGemm,
                                    {p.m, p.n, p.k, 1},
                                    {static_cast<const ElementA*>(p.a), stride_a, static_cast<const ElementB*>(p.b),
                                     stride_b, p.sfa, layout_sfa, p.sfb, layout_sfb},
                                    {{}, nullptr, stride_d, static_cast<ElementD*>(p.d), stride_d},
                                    hw_info,
                                    {}};
    return args;
  }

  static size_t workspace_size(const Problem& p) { return Adapter::get_workspace_size(arguments(p)); }

  // No can_implement call: the binding validates what this kernel needs (16-byte aligned pointers and strides,
  // K % 128 == 0, the scale layouts above) with messages naming the argument. CUTLASS's own check would also
  // refuse M % 4 != 0 (it checks scales_a's M extent against TMA's 16-byte vector, which TMA itself does not need:
  // rows past M are zero-filled), which is the only reason sgl-kernel pads A and scales_a to a multiple of 4 rows.
  static cudaError_t run(const Problem& p, void* workspace, cudaStream_t stream) {
    Adapter gemm;
    cutlass::Status status = gemm.initialize(arguments(p), workspace, stream);
    if (status == cutlass::Status::kSuccess) status = gemm.run(stream);
    if (status == cutlass::Status::kSuccess) return cudaSuccess;
    const cudaError_t err = cudaGetLastError();
    return err != cudaSuccess ? err : cudaErrorLaunchFailure;
  }
};

}  // namespace kernelkit::blockwise_gemm
