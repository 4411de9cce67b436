// cutlass_scaled_fp4_mm: the NVFP4 GEMM of Blackwell, out[M, N] = alpha * (A . sf_a) @ (B . sf_b)^T in bf16/fp16,
// A [M, K] and B [N, K] e2m1 (two per byte) with one e4m3 scale per 16 values along K in the 128x4 swizzled layout
// (what scaled_fp4_quant writes), alpha = 1 / (global_scale_a * global_scale_b) read on the device.
//
// The GEMM is CUTLASS's sm_100 block-scaled kernel (OpClassBlockScaledTensorOp, nv_float4_t<float_e2m1_t>): TMA
// brings A, B and both scale tiles into shared memory, tcgen05.mma.blockscaled multiplies e2m1 pairs and applies
// the e4m3 scales inside the tensor core (one per 16-deep K slice), accumulating in fp32 in tensor memory; the
// epilogue computes alpha * acc in fp32 and rounds once to the output type (LinearCombination with no C operand).
// Its instructions exist on sm_100a only: CMake compiles this file for sm_100a and nothing else (the
// fp4-cutlass-ops list), and the binding refuses other GPUs before anything here is called.
//
// Dispatch: one configuration for every shape, the one sgl-kernel runs for bf16/fp16 output (the only NVFP4 GEMM
// numbers there are to go by; no Blackwell GPU has measured this file): 256 x 256 x 256 MMA tiles on CTA pairs
// (the 2-SM schedule: each CTA holds 128 rows of A, the pair shares B's 256 columns), a preferred 4 x 4 cluster
// (operand tiles multicast to the four CTAs of a row or column) that falls back to 2 x 1 where the GPU cannot place
// it, and CUTLASS's persistent tile scheduler (cluster launch control). A table per M (smaller N tiles or
// split-K for decode) waits for a Blackwell GPU to choose it by measurement. One instance per output dtype keeps the
// compile time of this translation unit down.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/detail/sm100_blockscaled_layout.hpp"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/numeric_types.h"
#include "kernelkit/core/dispatch.cuh"
#include "kernelkit_ops/gemm/cutlass_scaled_fp4_mm.h"

namespace kernelkit {
namespace {

using namespace cute;

template <typename OutT>
struct Fp4Gemm {
  using ElementAB = cutlass::nv_float4_t<cutlass::float_e2m1_t>;  // e2m1 data with e4m3 (ue4m3) 16-value scales
  using ElementD = OutT;
  using LayoutA = cutlass::layout::RowMajor;     // A [M, K]: K contiguous
  using LayoutB = cutlass::layout::ColumnMajor;  // B [K, N] column-major = the [N, K] weight, K contiguous
  using LayoutD = cutlass::layout::RowMajor;
  static constexpr int kAlignAB = static_cast<int>(kFp4MmKAlign);  // 32 e2m1 = 16 bytes: TMA
  static constexpr int kAlignD = static_cast<int>(kFp4MmOutAlign);
  static_assert(kAlignD * cutlass::sizeof_bits<ElementD>::value == 128, "16-byte rows of out");

  using MmaTileShape = Shape<_256, _256, _256>;
  using ClusterShape = Shape<int, int, _1>;  // chosen at launch: preferred and fallback (hw_info below)

  // D = alpha * acc (alpha through a device pointer), no C: one fp32 multiply, one rounding to OutT.
  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm100, cutlass::arch::OpClassTensorOp, MmaTileShape, ClusterShape, Shape<_128, _64>, float, float,
      void, LayoutD, kAlignD, ElementD, LayoutD, kAlignD, cutlass::epilogue::TmaWarpSpecialized2Sm,
      cutlass::epilogue::fusion::LinearCombination<ElementD, float, void, float>>::CollectiveOp;

  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm100, cutlass::arch::OpClassBlockScaledTensorOp, ElementAB, LayoutA, kAlignAB, ElementAB, LayoutB,
      kAlignAB, float, MmaTileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      cutlass::gemm::KernelTmaWarpSpecialized2SmNvf4Sm100>::CollectiveOp;

  using Kernel =
      cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, CollectiveMainloop, CollectiveEpilogue, void>;
  using Adapter = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
  using ScaleConfig = typename CollectiveMainloop::Sm1xxBlkScaledConfig;

  static typename Kernel::Arguments arguments(const ScaledFp4MmArgs& p) {
    const int m = static_cast<int>(p.m), n = static_cast<int>(p.n), k = static_cast<int>(p.k);
    // Strides in elements: a row of packed e2m1 holds two values per byte. One batch (its stride 0).
    const typename Kernel::StrideA stride_a = make_stride(2 * p.lda, _1{}, int64_t{0});
    const typename Kernel::StrideB stride_b = make_stride(2 * p.ldb, _1{}, int64_t{0});
    const typename Kernel::StrideD stride_d = make_stride(p.ldd, _1{}, int64_t{0});
    // The swizzled scale layouts of the padded [round_up(M or N, 128), round_up(K/16, 4)] tensors.
    const auto problem = make_shape(m, n, k, 1);
    using Data = typename ElementAB::DataType;
    using Scale = typename ElementAB::ScaleFactorType;
    typename Kernel::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {m, n, k, 1},
        {static_cast<const Data*>(p.a), stride_a, static_cast<const Data*>(p.b), stride_b,
         static_cast<const Scale*>(p.scale_a), ScaleConfig::tile_atom_to_shape_SFA(problem),
         static_cast<const Scale*>(p.scale_b), ScaleConfig::tile_atom_to_shape_SFB(problem)},
        {{}, nullptr, stride_d, static_cast<ElementD*>(p.out), stride_d}};
    args.epilogue.thread.alpha_ptr = p.alpha;
    cudaGetDevice(&args.hw_info.device_id);
    args.hw_info.sm_count = sm_count();  // the persistent grid is sized by it
    args.hw_info.cluster_shape = dim3(4, 4, 1);
    args.hw_info.cluster_shape_fallback = dim3(2, 1, 1);
    return args;
  }

  static size_t workspace_size(const ScaledFp4MmArgs& p) { return Adapter::get_workspace_size(arguments(p)); }

  // can_implement repeats what the binding checked by argument (alignment, the scale layouts); it is kept as the
  // last guard so that a call the binding let through by mistake is an error, never a wrong result.
  static cudaError_t run(const ScaledFp4MmArgs& p, void* workspace, cudaStream_t stream) {
    const typename Kernel::Arguments args = arguments(p);
    if (Adapter::can_implement(args) != cutlass::Status::kSuccess) return cudaErrorInvalidValue;
    Adapter gemm;
    cutlass::Status status = gemm.initialize(args, workspace, stream);
    if (status == cutlass::Status::kSuccess) status = gemm.run(stream);
    if (status == cutlass::Status::kSuccess) return cudaSuccess;
    const cudaError_t err = cudaGetLastError();
    return err != cudaSuccess ? err : cudaErrorLaunchFailure;
  }
};

template <typename Fn>
auto dispatch_out(DType dtype, Fn&& fn) {
  return dtype == DType::kFloat16 ? fn(TypeTag<cutlass::half_t>{}) : fn(TypeTag<cutlass::bfloat16_t>{});
}

}  // namespace
}  // namespace kernelkit

size_t kernelkit::cutlass_scaled_fp4_mm_workspace_bytes(const ScaledFp4MmArgs& args) {
  if (args.m == 0 || args.n == 0) return 0;
  return dispatch_out(args.out_dtype,
                      [&](auto tag) { return Fp4Gemm<typename decltype(tag)::type>::workspace_size(args); });
}

cudaError_t kernelkit::launch_cutlass_scaled_fp4_mm(const ScaledFp4MmArgs& args, void* workspace,
                                                    size_t workspace_bytes, cudaStream_t stream) {
  if (args.m == 0 || args.n == 0) return cudaSuccess;
  if (args.out_dtype != DType::kBFloat16 && args.out_dtype != DType::kFloat16) return cudaErrorInvalidValue;
  return dispatch_out(args.out_dtype, [&](auto tag) {
    using G = Fp4Gemm<typename decltype(tag)::type>;
    const size_t needed = G::workspace_size(args);
    if (workspace_bytes < needed || (needed > 0 && workspace == nullptr)) return cudaErrorInvalidValue;
    return G::run(args, workspace, stream);
  });
}
