// One candidate configuration of fp8_scaled_mm's large-M GEMM, for the device sweep (tools/gemm_sweep.py); a
// measuring instrument, not a library op. build.sh compiles this file once per candidate with -DSWEEP_CONFIG=<n> and
// links the objects into one shared library; each object exports, under plain C names,
//
//   int         sweep_run_<n>(...)          one GEMM on the given stream, with the runtime knobs below;
//   const char* sweep_name_<n>()            the candidate's name (the driver checks it against its own table);
//   int         sweep_fast_accum_<n>()      1 for the FP8FastAccum schedules (less accurate; opt-in only);
//   int         sweep_overlapped_<n>()      1 where the promotion overlaps the next K tile's wgmma (the library's
//                                           mainloop, cutlass_fp8_promotion.cuh): no promotion-interval knob;
//   int         sweep_stages_<n>()          mainloop pipeline stages the builder chose;
//   int         sweep_smem_bytes_<n>()      the kernel's shared memory;
//   int         sweep_kernel_attrs_<n>(int* regs, int* local_bytes)   the compiled kernel's registers per thread and
//                                           local memory (spills), asked of the runtime (needs a GPU);
//   int         sweep_max_active_clusters_<n>(int* clusters)   how many of its clusters fit on the GPU at once.
//
// The kernel is the library's own (kernelkit/families/cutlass_scaled_gemm.cuh: ScaledGemm with the RowColScales
// epilogue, bf16 out); only the configuration (tile, cluster, schedule, and which mainloop: SWEEP_MAINLOOP, the
// library's overlapped promotion unless a candidate names CUTLASS's serial one) and the runtime knobs differ.
// Candidate 0 is what the library dispatches at M > 128, so the sweep reproduces the library's numbers beside the
// others; candidate 8 is the same with CUTLASS's own mainloop, the A/B of the overlap.
#include <cstdint>
#include <type_traits>

#include "kernelkit/families/cutlass_scaled_gemm.cuh"

#ifndef SWEEP_CONFIG
#error "compile with -DSWEEP_CONFIG=<n> (tools/gemm_sweep/build.sh does)"
#endif

// Every TU defines the same names (Config, Gemm, run) for another configuration: internal linkage keeps the eight
// objects of one library apart.
namespace sweep {
namespace {

// A configuration as ScaledGemm reads it (TileShape, ClusterShape, KernelSchedule, EpilogueSchedule), with a cluster
// extent along N too: the library's Config has clusters along M only.
template <int TileM, int TileN, int ClusterM, int ClusterN, class KernelSchedule_, class EpilogueSchedule_>
struct Cfg {
  using TileShape = cute::Shape<cute::Int<TileM>, cute::Int<TileN>, cute::_128>;
  using ClusterShape = cute::Shape<cute::Int<ClusterM>, cute::Int<ClusterN>, cute::_1>;
  using KernelSchedule = KernelSchedule_;
  using EpilogueSchedule = EpilogueSchedule_;
};

using Coop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
using CoopFast = cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum;
using Ping = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
using EpiCoop = cutlass::epilogue::TmaWarpSpecializedCooperative;
using EpiPing = cutlass::epilogue::TmaWarpSpecialized;

// The candidates. The names are the driver's keys (tools/gemm_sweep.py CANDIDATES; a CPU test keeps the two lists
// equal). Each one's comment says what it tests against candidate 0.
#if SWEEP_CONFIG == 0
// The library's large-M configuration (fp8_scaled_mm.cu: Cooperative128x128Cluster2): the baseline.
#define SWEEP_NAME "coop_128x128_c2x1"
using Config = Cfg<128, 128, 2, 1, Coop, EpiCoop>;
#elif SWEEP_CONFIG == 1
// Clusters along N: A is multicast instead of B (at M >= 512 the two operands are comparable in size).
#define SWEEP_NAME "coop_128x128_c1x2"
#define SWEEP_MAINLOOP kernelkit::cutlass_fp8::BuilderPromotion
using Config = Cfg<128, 128, 1, 2, Coop, EpiCoop>;
#elif SWEEP_CONFIG == 2
// Twice the columns per tile: half the shared-memory tile loads per FLOP; 128 accumulators per thread plus as many
// in the fp8 promotion buffer (see build.sh's ptxas report for spills). Candidates 1-5 keep CUTLASS's mainloop (one
// promotion buffer): with the overlap's second buffer the wide tiles would spill more still.
#define SWEEP_NAME "coop_128x256_c1x1"
#define SWEEP_MAINLOOP kernelkit::cutlass_fp8::BuilderPromotion
using Config = Cfg<128, 256, 1, 1, Coop, EpiCoop>;
#elif SWEEP_CONFIG == 3
#define SWEEP_NAME "coop_128x256_c2x1"
#define SWEEP_MAINLOOP kernelkit::cutlass_fp8::BuilderPromotion
using Config = Cfg<128, 256, 2, 1, Coop, EpiCoop>;
#elif SWEEP_CONFIG == 4
// Ping-pong at 64 x 256: one warpgroup's epilogue overlaps the other's mainloop; each warpgroup holds the whole
// 64 x 256 tile (the same accumulator count as 128 x 256 cooperative).
#define SWEEP_NAME "ping_64x256_c1x1"
#define SWEEP_MAINLOOP kernelkit::cutlass_fp8::BuilderPromotion
using Config = Cfg<64, 256, 1, 1, Ping, EpiPing>;
#elif SWEEP_CONFIG == 5
// The transpose of candidate 3: 256-row tiles, A multicast along N.
#define SWEEP_NAME "coop_256x128_c1x2"
#define SWEEP_MAINLOOP kernelkit::cutlass_fp8::BuilderPromotion
using Config = Cfg<256, 128, 1, 2, Coop, EpiCoop>;
#elif SWEEP_CONFIG == 6
// FP8FastAccum (opt-in only: the tensor cores accumulate the whole K without promotion into fp32; sgl-kernel's
// default): the baseline's tile, to measure what the promotion costs.
#define SWEEP_NAME "coop_128x128_c2x1_fast"
using Config = Cfg<128, 128, 2, 1, CoopFast, EpiCoop>;
#elif SWEEP_CONFIG == 7
// FP8FastAccum at 128 x 256 (no promotion buffer: 128 accumulators per thread, no spill pressure).
#define SWEEP_NAME "coop_128x256_c2x1_fast"
using Config = Cfg<128, 256, 2, 1, CoopFast, EpiCoop>;
#elif SWEEP_CONFIG == 8
// Candidate 0 with CUTLASS's own fp8 mainloop (wait for the K tile's wgmma, then promote): the library's kernel
// before the overlapped promotion, and the only one whose promotion interval is a knob.
#define SWEEP_NAME "coop_128x128_c2x1_serial"
#define SWEEP_MAINLOOP kernelkit::cutlass_fp8::BuilderPromotion
using Config = Cfg<128, 128, 2, 1, Coop, EpiCoop>;
#else
#error "unknown SWEEP_CONFIG"
#endif

#ifndef SWEEP_MAINLOOP
#define SWEEP_MAINLOOP kernelkit::cutlass_fp8::OverlappedWherePromoting  // the library's (ScaledGemm's default)
#endif
using Gemm = kernelkit::scaled_gemm::ScaledGemm<cutlass::float_e4m3_t, cutlass::bfloat16_t, Config,
                                                kernelkit::scaled_gemm::RowColScales, SWEEP_MAINLOOP>;

// Codes beyond cudaError_t's (which are >= 0) for what the sweep itself refuses.
enum : int {
  kRefused = -1,         // CUTLASS's can_implement said no
  kNeedsWorkspace = -2,  // the configuration wants a workspace the sweep does not provide
  kBadDtype = -3,        // out dtype other than bf16 (the only one compiled)
  kNoPromotion = -4,     // a promotion interval other than 4 for a kernel without that knob (FastAccum, overlapped)
  kBadKnob = -5,         // swizzle not in {1, 2, 4, 8} or raster not in {0, 1, 2}
};

// Whether the builder chose the fp8 mainloop that promotes the tensor cores' partial sums into fp32 (its dispatch
// policy says so: the library's trait). The argument field alone does not tell: the plain mainloop, which the
// FastAccum schedules get, has an mma_promotion_interval too, and ignores it.
constexpr bool kPromotes = kernelkit::cutlass_fp8::PromotionOf<Gemm::CollectiveMainloop::DispatchPolicy>::kPromotes;
// The overlapped mainloop promotes once per K tile whatever the argument says; CUTLASS's reads the interval.
template <class Mainloop>
struct Overlapped : std::false_type {};
template <class Builder>
struct Overlapped<kernelkit::cutlass_fp8::OverlappedPromotion<Builder>> : std::true_type {};
constexpr bool kOverlapped = Overlapped<Gemm::CollectiveMainloop>::value;

// The family's scaled_gemm::run, plus the knobs it leaves at their defaults: the persistent scheduler's swizzle and
// raster order, and the fp8 mainloop's promotion interval (in MMAs of K = 32: 4 = once per 128-deep k-tile).
int run(const kernelkit::scaled_gemm::Problem& p, const kernelkit::scaled_gemm::RowColScaleArgs& epi, int swizzle,
        int raster, int promotion_interval, cudaStream_t stream) {
  using G = Gemm::Gemm;
  using Kernel = G::GemmKernel;
  using ElementAB = Kernel::ElementA;
  using ElementOut = Kernel::ElementD;
  using RasterOrderOptions = cutlass::gemm::kernel::detail::RasterOrderOptions;

  if (swizzle != 1 && swizzle != 2 && swizzle != 4 && swizzle != 8) return kBadKnob;
  if (raster < 0 || raster > 2) return kBadKnob;

  const Kernel::StrideA stride_a = cute::make_stride(p.lda, cute::Int<1>{}, p.batch_stride_a);
  const Kernel::StrideB stride_b = cute::make_stride(p.ldb, cute::Int<1>{}, p.batch_stride_b);
  const Kernel::StrideD stride_d = cute::make_stride(p.ldd, cute::Int<1>{}, p.batch_stride_d);

  Kernel::MainloopArguments mainloop{static_cast<const ElementAB*>(p.a), stride_a, static_cast<const ElementAB*>(p.b),
                                     stride_b};
  if constexpr (kPromotes && !kOverlapped) {
    mainloop.mma_promotion_interval = static_cast<uint32_t>(promotion_interval);
  } else if (promotion_interval != 4) {
    return kNoPromotion;
  }

  cutlass::KernelHardwareInfo hw_info;
  if (cudaGetDevice(&hw_info.device_id) != cudaSuccess) return static_cast<int>(cudaGetLastError());
  hw_info.sm_count = kernelkit::sm_count();

  G::Arguments args{cutlass::gemm::GemmUniversalMode::kGemm,
                    {p.m, p.n, p.k, 1},
                    mainloop,
                    {Gemm::Epi::arguments(epi), nullptr, stride_d, static_cast<ElementOut*>(p.d), stride_d},
                    hw_info};
  args.scheduler.max_swizzle_size = swizzle;
  args.scheduler.raster_order = raster == 1   ? RasterOrderOptions::AlongM
                                : raster == 2 ? RasterOrderOptions::AlongN
                                              : RasterOrderOptions::Heuristic;

  G gemm;
  if (gemm.can_implement(args) != cutlass::Status::kSuccess) return kRefused;
  if (G::get_workspace_size(args) != 0) return kNeedsWorkspace;
  if (gemm.run(args, nullptr, stream) != cutlass::Status::kSuccess) {
    const cudaError_t err = cudaGetLastError();
    return static_cast<int>(err != cudaSuccess ? err : cudaErrorLaunchFailure);
  }
  return static_cast<int>(cudaSuccess);
}

}  // namespace
}  // namespace sweep

#define SWEEP_CAT2(a, b) a##b
#define SWEEP_CAT(a, b) SWEEP_CAT2(a, b)
#define SWEEP_EXPORT extern "C" __attribute__((visibility("default")))

// out [m, n] (row stride ldd elements), a [m, k] (row stride lda), b [k, n] column-major (column stride ldb),
// scale_a [m], scale_b [n] fp32, bias [n] of the out dtype or null. out_dtype: 0 = bf16. raster: 0 = heuristic,
// 1 = along M, 2 = along N. Returns 0, a cudaError_t, or one of sweep's negative codes.
SWEEP_EXPORT int SWEEP_CAT(sweep_run_, SWEEP_CONFIG)(void* out, int64_t ldd, const void* a, int64_t lda, const void* b,
                                                     int64_t ldb, const float* scale_a, const float* scale_b,
                                                     const void* bias, int64_t m, int64_t n, int64_t k, int out_dtype,
                                                     int swizzle, int raster, int promotion_interval, void* stream) {
  if (out_dtype != 0) return sweep::kBadDtype;
  if (m == 0 || n == 0 || k == 0) return static_cast<int>(cudaErrorInvalidValue);  // the sweep's shapes never are
  const kernelkit::scaled_gemm::Problem p = kernelkit::scaled_gemm::matrix_problem(out, ldd, a, lda, b, ldb, m, n, k);
  return sweep::run(p, {scale_a, scale_b, bias}, swizzle, raster, promotion_interval,
                    static_cast<cudaStream_t>(stream));
}

SWEEP_EXPORT const char* SWEEP_CAT(sweep_name_, SWEEP_CONFIG)() { return SWEEP_NAME; }

SWEEP_EXPORT int SWEEP_CAT(sweep_fast_accum_, SWEEP_CONFIG)() { return sweep::kPromotes ? 0 : 1; }

SWEEP_EXPORT int SWEEP_CAT(sweep_overlapped_, SWEEP_CONFIG)() { return sweep::kOverlapped ? 1 : 0; }

SWEEP_EXPORT int SWEEP_CAT(sweep_stages_, SWEEP_CONFIG)() {
  return static_cast<int>(sweep::Gemm::CollectiveMainloop::DispatchPolicy::Stages);
}

SWEEP_EXPORT int SWEEP_CAT(sweep_smem_bytes_, SWEEP_CONFIG)() {
  return static_cast<int>(sweep::Gemm::Gemm::GemmKernel::SharedStorageSize);
}

// How many clusters of this kernel (at its shared memory) the GPU holds at once. The persistent grid is sized by the
// SM count (sm_count / cluster size clusters, as in the library); if fewer fit, the rest start only when others have
// finished all their tiles. Needs a GPU.
SWEEP_EXPORT int SWEEP_CAT(sweep_max_active_clusters_, SWEEP_CONFIG)(int* clusters) {
  using Kernel = sweep::Gemm::Gemm::GemmKernel;
  const void* kernel = reinterpret_cast<const void*>(cutlass::device_kernel<Kernel>);
  const int smem = Kernel::SharedStorageSize;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (err != cudaSuccess) return static_cast<int>(err);
  const dim3 cluster(cute::size<0>(Kernel::ClusterShape{}), cute::size<1>(Kernel::ClusterShape{}), 1);
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = cluster.x;
  attr.val.clusterDim.y = cluster.y;
  attr.val.clusterDim.z = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = cluster;
  config.blockDim = dim3(Kernel::MaxThreadsPerBlock, 1, 1);
  config.dynamicSmemBytes = smem;
  config.attrs = &attr;
  config.numAttrs = 1;
  return static_cast<int>(cudaOccupancyMaxActiveClusters(clusters, kernel, &config));
}

SWEEP_EXPORT int SWEEP_CAT(sweep_kernel_attrs_, SWEEP_CONFIG)(int* regs, int* local_bytes) {
  cudaFuncAttributes attrs{};
  const cudaError_t err = cudaFuncGetAttributes(&attrs, cutlass::device_kernel<sweep::Gemm::Gemm::GemmKernel>);
  if (err != cudaSuccess) return static_cast<int>(err);
  *regs = attrs.numRegs;
  *local_bytes = static_cast<int>(attrs.localSizeBytes);
  return 0;
}
