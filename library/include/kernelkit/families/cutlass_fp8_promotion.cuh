// The fp8 mainloops' promotion taken off the tensor cores' critical path (sm_90a): OverlappedPromotion.
//
// Hopper's fp8 wgmma accumulates in a reduced-precision fp32, so CUTLASS's accurate fp8 mainloops sum each 128-deep
// K tile into a temporary fragment and add that into the real fp32 accumulator on the CUDA cores ("promotion"):
//   * MainloopSm90TmaGmmaWarpSpecializedFP8 (fp8_scaled_mm):           accum += partial_t
//   * MainloopSm90TmaGmmaWarpSpecializedBlockwiseFP8 (blockwise GEMM):  accum += partial_t * (sa_t * sb_t)
// Both wait for the tile's wgmma to finish (`wgmma.wait_group 0`) and then promote, and the two consumer warp groups
// of a cooperative tile wait on the same pipeline stage, so they promote at the same moment and the tensor cores idle
// meanwhile: one FADD or FFMA per accumulator per K tile, 64 per thread at 128 x 128, against 4 wgmma of
// 64 x 128 x 32 per warp group: with the serial promotion fp8_scaled_mm runs at ~80% of the fp8 ceiling where
// cuBLASLt, which adds the same partial sums in the same order (bit-identical results), reaches 93-98%, and the
// blockwise GEMM at 76% (measurements: docs/perf-notes.md).
//
// OverlappedPromotion keeps two temporary fragments: K tile t's wgmma is issued into one, and while it runs, tile
// t-1's fragment (finished: `wgmma.wait_group 1`) is promoted from the other. The arithmetic is the builder
// mainloop's, operation for operation and in the same order (one promotion per K tile, t = 0, 1, ...), so the
// results are bit-identical to it; only the schedule changes. The cost is one more fragment: 64 registers per
// thread at 128 x 128 cooperative or 64 x 128 ping-pong (accumulator + two fragments = 192 of the 232 those
// schedules give a consumer warp group).
//
// It derives from the builder's collective and replaces mma() only: the producer side (TMA of A and B, the block
// scales' loads), the shared storage, the pipeline and mma_tail() stay CUTLASS's, and so does its stage accounting:
// mma() releases every stage but the last, which mma_tail() releases. ptxas makes the first K tile of a work tile
// wait for its own wgmma before the loop (message C7517: it cannot follow an in-flight fragment into a loop), so
// one promotion per output tile stays serial, 1/56 of them at K = 7168.
//
// The FP8 mainloop's runtime mma_promotion_interval is not read: promotion is once per K tile (CUTLASS's default, 4
// MMAs of K = 32), the interval at which our results equal torch._scaled_mm's bit for bit.
#pragma once

#include <type_traits>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/gemm/collective/collective_mma.hpp"
#include "cutlass/gemm/dispatch_policy.hpp"

namespace kernelkit::cutlass_fp8 {

// Which builder mainloops promote (and so gain from the overlap), and which of them scale per K block.
template <class Policy>
struct PromotionOf {
  static constexpr bool kPromotes = false, kBlockScaled = false;
};
template <int Stages, class ClusterShape, class KernelSchedule>
struct PromotionOf<cutlass::gemm::MainloopSm90TmaGmmaWarpSpecializedFP8<Stages, ClusterShape, KernelSchedule>> {
  static constexpr bool kPromotes = true, kBlockScaled = false;
};
template <int Stages, class ClusterShape, class KernelSchedule>
struct PromotionOf<
    cutlass::gemm::MainloopSm90TmaGmmaWarpSpecializedBlockwiseFP8<Stages, ClusterShape, KernelSchedule>> {
  static constexpr bool kPromotes = true, kBlockScaled = true;
};

template <class BuilderMainloop>
struct OverlappedPromotion : BuilderMainloop {
  using Base = BuilderMainloop;
  using typename Base::MainloopPipeline;
  using typename Base::Params;
  using typename Base::PipelineState;
  using typename Base::SmemLayoutA;
  using typename Base::SmemLayoutB;
  using typename Base::TensorStorage;
  using typename Base::TiledMma;
  using typename Base::TileShape;
  using Promotion = PromotionOf<typename Base::DispatchPolicy>;
  static_assert(Promotion::kPromotes, "OverlappedPromotion replaces the promoting fp8 mainloops' mma() only");

  template <class FrgTensorC>
  CUTLASS_DEVICE void mma(MainloopPipeline pipeline, PipelineState smem_pipe_read, FrgTensorC& accum, int k_tile_count,
                          int thread_idx, TensorStorage& shared_tensors, Params const& /*mainloop_params*/) {
    using namespace cute;
    static_assert(is_rmem<FrgTensorC>::value, "the accumulator lives in registers");

    // This warp group's slice of the tiled MMA (wgmma is issued per warp group) over the operand stages.
    Tensor sA = make_tensor(make_smem_ptr(shared_tensors.smem_A.data()), SmemLayoutA{});  // (BLK_M, BLK_K, PIPE)
    Tensor sB = make_tensor(make_smem_ptr(shared_tensors.smem_B.data()), SmemLayoutB{});  // (BLK_N, BLK_K, PIPE)
    constexpr int kWarpGroups = size(TiledMma{}) / cutlass::NumThreadsPerWarpGroup;
    const int warp_group = __shfl_sync(0xffffffff, thread_idx / cutlass::NumThreadsPerWarpGroup, 0);
    TiledMma tiled_mma;
    auto group_mma =
        tiled_mma.get_slice(make_layout(Int<kWarpGroups>{}, Int<cutlass::NumThreadsPerWarpGroup>{})(warp_group));
    Tensor tCrA = group_mma.make_fragment_A(group_mma.partition_A(sA));  // (MMA, MMA_M, MMA_K, PIPE) descriptors
    Tensor tCrB = group_mma.make_fragment_B(group_mma.partition_B(sB));  // (MMA, MMA_N, MMA_K, PIPE) descriptors
    CUTE_STATIC_ASSERT_V(size<1>(tCrA) == size<1>(accum));               // M
    CUTE_STATIC_ASSERT_V(size<1>(tCrB) == size<2>(accum));               // N
    clear(accum);
    if (k_tile_count <= 0) return;  // an empty K range (the schedulers give none today): nothing to wait for

    if constexpr (Promotion::kBlockScaled) {
      using ElementBlockScale = typename Base::ElementBlockScale;
      using SmemLayoutSFA = typename Base::SmemLayoutSFA;
      using SmemLayoutSFB = typename Base::SmemLayoutSFB;
      // One promotion per K tile (sa and sb change every 128 of K) and one weight scale per tile along N (the tile's
      // N extent is the weight's scale block): what the blockwise family's configurations have.
      static_assert(Base::ScalePromotionInterval == size<2>(TileShape{}) / tile_size<2>(TiledMma{}),
                    "one promotion per K tile only");
      static_assert(Base::ScaleNsPerTile == 1, "one weight scale per tile along N only");
      // Each stage's scales as (BLK_M, BLK_N, (BLK_K, PIPE)) tensors that broadcast sa along N and sb along M (zero
      // strides), so that they partition like the accumulator.
      Tensor sSFA = make_tensor(
          make_smem_ptr(shared_tensors.smem_SFA.data()),
          make_layout(make_shape(get<0>(shape(SmemLayoutSFA{})), get<1>(TileShape{}),
                                 make_shape(get<1>(shape(SmemLayoutSFA{})), get<2>(shape(SmemLayoutSFA{})))),
                      make_stride(get<0>(stride(SmemLayoutSFA{})), _0{},
                                  make_stride(get<1>(stride(SmemLayoutSFA{})), get<2>(stride(SmemLayoutSFA{}))))));
      Tensor sSFB = make_tensor(
          make_smem_ptr(shared_tensors.smem_SFB.data()),
          make_layout(make_shape(get<0>(TileShape{}), get<0>(shape(SmemLayoutSFB{})),
                                 make_shape(get<1>(shape(SmemLayoutSFB{})), get<2>(shape(SmemLayoutSFB{})))),
                      make_stride(_0{}, get<0>(stride(SmemLayoutSFB{})),
                                  make_stride(get<1>(stride(SmemLayoutSFB{})), get<2>(stride(SmemLayoutSFB{}))))));
      Tensor tCsSFA = tiled_mma.get_slice(thread_idx).partition_C(sSFA);  // (MMA, MMA_M, MMA_N, (MMA_K, PIPE))
      Tensor tCsSFB = tiled_mma.get_slice(thread_idx).partition_C(sSFB);
      // The combined scale sa * sb that goes with each in-flight fragment (the accumulator's shape; its zero strides
      // keep one register per distinct row).
      Tensor scale0 = make_tensor_like<ElementBlockScale>(tCsSFA(_, _, _, _0{}));
      Tensor scale1 = make_tensor_like<ElementBlockScale>(tCsSFA(_, _, _, _0{}));
      auto read_scales = [&](auto& scale, int stage) {
        copy(tCsSFA(_, _, _, make_coord(_0{}, stage)), scale);
        const ElementBlockScale scale_b = tCsSFB(_0{}, _0{}, _0{}, make_coord(_0{}, stage));
        CUTLASS_PRAGMA_UNROLL
        for (int i = 0; i < size(filter_zeros(scale)); ++i) filter_zeros(scale)(i) *= scale_b;
      };
      auto promote = [&](auto const& partial, auto const& scale) {
        CUTLASS_PRAGMA_UNROLL
        for (int i = 0; i < size(accum); ++i) accum(i) += partial(i) * scale(i);
      };
      k_tiles(pipeline, smem_pipe_read, accum, k_tile_count, tiled_mma, tCrA, tCrB, scale0, scale1, read_scales,
              promote);
    } else {
      struct NoScale {};
      NoScale scale0, scale1;
      auto read_scales = [](NoScale&, int) {};
      auto promote = [&](auto const& partial, NoScale const&) {
        CUTLASS_PRAGMA_UNROLL
        for (int i = 0; i < size(accum); ++i) accum(i) += partial(i);
      };
      k_tiles(pipeline, smem_pipe_read, accum, k_tile_count, tiled_mma, tCrA, tCrB, scale0, scale1, read_scales,
              promote);
    }
    warpgroup_fence_operand(accum);
  }

 private:
  // The K loop: issue tile t into one fragment, then promote tile t-1 from the other while t runs.
  template <class FrgTensorC, class FragA, class FragB, class Scale, class ReadScales, class Promote>
  CUTLASS_DEVICE static void k_tiles(MainloopPipeline& pipeline, PipelineState smem_pipe_read, FrgTensorC& accum,
                                     int k_tile_count, TiledMma& tiled_mma, FragA const& tCrA, FragB const& tCrB,
                                     Scale& scale0, Scale& scale1, ReadScales&& read_scales, Promote&& promote) {
    using namespace cute;
    Tensor partial0 = make_fragment_like(accum);
    Tensor partial1 = make_fragment_like(accum);

    // Waits for the stage at smem_pipe_read, reads its scales, and issues its wgmma into `partial` (not waited for).
    auto issue = [&](auto& partial, Scale& scale) {
      pipeline.consumer_wait(smem_pipe_read);
      const int stage = smem_pipe_read.index();
      read_scales(scale, stage);
      tiled_mma.accumulate_ = GMMA::ScaleOut::Zero;  // each K tile starts its own partial sum
      warpgroup_fence_operand(partial);
      warpgroup_arrive();
      CUTLASS_PRAGMA_UNROLL
      for (int k_block = 0; k_block < size<2>(tCrA); ++k_block) {
        cute::gemm(tiled_mma, tCrA(_, _, k_block, stage), tCrB(_, _, k_block, stage), partial);
        tiled_mma.accumulate_ = GMMA::ScaleOut::One;
      }
      warpgroup_commit_batch();
      warpgroup_fence_operand(partial);
      ++smem_pipe_read;
    };
    // The previous tile's wgmma is done once at most one batch (the one just issued) is outstanding: its stage goes
    // back to the producer, and its fragment into the accumulator while the new one runs.
    PipelineState smem_pipe_release = smem_pipe_read;
    auto retire_previous = [&](auto& partial, Scale const& scale) {
      warpgroup_wait<1>();
      warpgroup_fence_operand(partial);
      pipeline.consumer_release(smem_pipe_release);
      ++smem_pipe_release;
      promote(partial, scale);
    };
    auto retire_last = [&](auto& partial, Scale const& scale) {
      warpgroup_wait<0>();
      warpgroup_fence_operand(partial);
      promote(partial, scale);  // its stage is released by mma_tail()
    };

    issue(partial0, scale0);
    int remaining = k_tile_count - 1;
    CUTLASS_PRAGMA_NO_UNROLL
    for (; remaining >= 2; remaining -= 2) {  // two tiles per trip: the fragments' roles are fixed at compile time
      issue(partial1, scale1);
      retire_previous(partial0, scale0);
      issue(partial0, scale0);
      retire_previous(partial1, scale1);
    }
    if (remaining == 1) {
      issue(partial1, scale1);
      retire_previous(partial0, scale0);
      retire_last(partial1, scale1);
    } else {
      retire_last(partial0, scale0);
    }
  }
};

// OverlappedPromotion for the mainloops that promote (the builder's fp8 ones), the builder's own otherwise (int8:
// exact int32 accumulation, nothing to promote). Naming OverlappedPromotion<M> here does not instantiate it.
template <class BuilderMainloop>
using OverlappedWherePromoting = std::conditional_t<PromotionOf<typename BuilderMainloop::DispatchPolicy>::kPromotes,
                                                    OverlappedPromotion<BuilderMainloop>, BuilderMainloop>;

// The builder's mainloop as it is: the baseline an A/B (tools/gemm_sweep) compares the overlap against.
template <class BuilderMainloop>
using BuilderPromotion = BuilderMainloop;

}  // namespace kernelkit::cutlass_fp8
