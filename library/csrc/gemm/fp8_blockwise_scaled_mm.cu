// fp8_blockwise_scaled_mm: DeepSeek-V3 blockwise fp8 GEMM, out[M, N] = (A * sa) @ (B * sb) in bf16/fp16, with A
// [M, K] e4m3 in 1 x 128 groups (scales_a [M, K/128]) and B [K, N] e4m3 in 128 x 128 blocks (scales_b
// [K/128, ceil(N/128)]). The GEMM is CUTLASS's sm_90 blockwise-scaled mainloop (families/cutlass_blockwise_gemm.cuh).
//
// Dispatch: one configuration for every shape, 128 x 128 x 128 tiles (the largest whose two fp32 fragments, the
// accumulator and the per-K-block temporary, fit the cooperative schedule's registers), a 1 x 2 cluster (the two
// CTAs of a cluster share A's tile by TMA multicast), cooperative warp specialization (two consumer warp groups on
// one tile, each promoting its previous K block while the tensor cores run the next: the family's
// OverlappedPromotion mainloop), and CUTLASS's stream-K tile scheduler in its heuristic mode, which
//   * runs whole tiles (data-parallel, persistent) when the tiles fill the GPU's waves well: large M;
//   * splits the K loop of the last waves' tiles across SMs otherwise: at decode sizes (M <= 128) a 7168-wide
//     output is 56 tiles for 132 SMs, and only splitting K puts every SM to work streaming the weight.
// Smaller tiles do not help small M here: the 64-row ping-pong schedule has no stream-K, and N tiles below 128 are
// not allowed by the 128-wide weight scale blocks. One instance per output dtype keeps this translation unit's
// compile time down (it is the only CUTLASS configuration compiled here).
//
// Scales whose layout the mainloop cannot read in place (see fp8_blockwise_scales_{a,b}_in_place) are first copied
// by a small kernel into the workspace: M * K/128 + N/128 * K/128 floats, a few microseconds at most.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/families/cutlass_blockwise_gemm.cuh"
#include "kernelkit_ops/gemm/fp8_blockwise_scaled_mm.h"

namespace kernelkit {
namespace {

using namespace cute;

template <typename OutT>
using BlockwiseGemm =
    blockwise_gemm::Gemm<OutT, Shape<_128, _128, _128>, Shape<_1, _2, _1>,
                         cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8BlockScaledAccum,
                         cutlass::epilogue::TmaWarpSpecializedCooperative, cutlass::gemm::StreamKScheduler>;

constexpr size_t kWorkspaceAlign = 256;
constexpr int64_t kBlock = blockwise_gemm::kScaleBlock;

size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

// Where each part of the workspace goes: CUTLASS's part first, then the repacked scales (if any).
struct WorkspacePlan {
  bool repack_a, repack_b;
  int64_t k_blocks, n_blocks, lda_s;  // lda_s: K-block stride of the repacked scales_a (M rounded up to 4)
  size_t cutlass_bytes, sfa_offset, sfb_offset, total;
};

blockwise_gemm::Problem make_problem(const Fp8BlockwiseMmArgs& a, const WorkspacePlan& plan, const float* sfa,
                                     const float* sfb) {
  blockwise_gemm::Problem p;
  p.m = static_cast<int>(a.m);
  p.n = static_cast<int>(a.n);
  p.k = static_cast<int>(a.k);
  // One row (or column) makes its stride meaningless; TMA still wants a 16-byte multiple there.
  p.a = a.mat_a;
  p.lda = a.m == 1 ? a.k : a.lda;
  p.b = a.mat_b;
  p.ldb = a.ldb;
  p.d = a.out;
  p.ldd = a.m == 1 ? align_up(static_cast<size_t>(a.n), 8) : a.ldd;
  p.sfa = sfa;
  p.sfb = sfb;
  if (plan.repack_a || plan.k_blocks == 1) {
    p.lda_s = static_cast<int32_t>(plan.lda_s);
  } else {
    p.lda_s = static_cast<int32_t>(a.sa_stride_k);
  }
  if (plan.repack_b) {
    p.ldb_s = static_cast<int32_t>(plan.k_blocks);
  } else {
    p.ldb_s = plan.n_blocks == 1 ? 0 : static_cast<int32_t>(a.sb_stride_n);
  }
  p.sm_count = sm_count();
  cudaGetDevice(&p.device);
  return p;
}

template <typename Fn>
auto dispatch_out(DType dtype, Fn&& fn) {
  return dtype == DType::kFloat16 ? fn(TypeTag<cutlass::half_t>{}) : fn(TypeTag<cutlass::bfloat16_t>{});
}

WorkspacePlan plan_workspace(const Fp8BlockwiseMmArgs& a) {
  WorkspacePlan plan{};
  plan.k_blocks = a.k / kBlock;
  plan.n_blocks = (a.n + kBlock - 1) / kBlock;
  plan.lda_s = (a.m + 3) / 4 * 4;
  plan.repack_a = !fp8_blockwise_scales_a_in_place(a.scales_a, a.m, plan.k_blocks, a.sa_stride_m, a.sa_stride_k);
  plan.repack_b = !fp8_blockwise_scales_b_in_place(plan.k_blocks, plan.n_blocks, a.sb_stride_k, a.sb_stride_n);
  plan.cutlass_bytes = dispatch_out(a.out_dtype, [&](auto tag) {
    using G = BlockwiseGemm<typename decltype(tag)::type>;
    return G::workspace_size(make_problem(a, plan, a.scales_a, a.scales_b));
  });
  size_t offset = align_up(plan.cutlass_bytes, kWorkspaceAlign);
  plan.sfa_offset = offset;
  if (plan.repack_a) offset += align_up(sizeof(float) * plan.k_blocks * plan.lda_s, kWorkspaceAlign);
  plan.sfb_offset = offset;
  if (plan.repack_b) offset += align_up(sizeof(float) * plan.k_blocks * plan.n_blocks, kWorkspaceAlign);
  plan.total = offset;
  return plan;
}

// Copies scales_a into the M-major layout [K/128][lda_s] and/or scales_b into the K-major layout
// [N/128][K/128] (one grid-stride loop over both); the pad rows of scales_a are never read (TMA stops at M).
__global__ void repack_scales_kernel(float* __restrict__ sfa, const float* __restrict__ scales_a, int64_t sa_stride_m,
                                     int64_t sa_stride_k, int64_t m, int64_t lda_s, float* __restrict__ sfb,
                                     const float* __restrict__ scales_b, int64_t sb_stride_k, int64_t sb_stride_n,
                                     int64_t k_blocks, int64_t n_blocks) {
  const int64_t count_a = sfa != nullptr ? m * k_blocks : 0;
  const int64_t count_b = sfb != nullptr ? n_blocks * k_blocks : 0;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count_a + count_b; i += step) {
    if (i < count_a) {
      const int64_t kb = i / m, row = i - kb * m;  // consecutive threads: consecutive rows of one K block
      sfa[kb * lda_s + row] = scales_a[row * sa_stride_m + kb * sa_stride_k];
    } else {
      const int64_t j = i - count_a;
      const int64_t nb = j / k_blocks, kb = j - nb * k_blocks;
      sfb[nb * k_blocks + kb] = scales_b[kb * sb_stride_k + nb * sb_stride_n];
    }
  }
}

}  // namespace
}  // namespace kernelkit

size_t kernelkit::fp8_blockwise_scaled_mm_workspace_bytes(const Fp8BlockwiseMmArgs& args) {
  if (args.m == 0) return 0;
  return plan_workspace(args).total;
}

cudaError_t kernelkit::launch_fp8_blockwise_scaled_mm(const Fp8BlockwiseMmArgs& args, void* workspace,
                                                      size_t workspace_bytes, cudaStream_t stream) {
  if (args.m == 0) return cudaSuccess;
  if (args.out_dtype != DType::kBFloat16 && args.out_dtype != DType::kFloat16) return cudaErrorInvalidValue;
  const WorkspacePlan plan = plan_workspace(args);
  if (workspace_bytes < plan.total || (plan.total > 0 && workspace == nullptr)) return cudaErrorInvalidValue;
  char* ws = static_cast<char*>(workspace);
  const float* sfa = args.scales_a;
  const float* sfb = args.scales_b;
  if (plan.repack_a || plan.repack_b) {
    float* sfa_dst = plan.repack_a ? reinterpret_cast<float*>(ws + plan.sfa_offset) : nullptr;
    float* sfb_dst = plan.repack_b ? reinterpret_cast<float*>(ws + plan.sfb_offset) : nullptr;
    const int64_t count =
        (plan.repack_a ? args.m * plan.k_blocks : 0) + (plan.repack_b ? plan.n_blocks * plan.k_blocks : 0);
    constexpr int kThreads = 256;
    const int blocks = static_cast<int>(std::min<int64_t>((count + kThreads - 1) / kThreads, 4 * sm_count()));
    repack_scales_kernel<<<blocks, kThreads, 0, stream>>>(sfa_dst, args.scales_a, args.sa_stride_m, args.sa_stride_k,
                                                          args.m, plan.lda_s, sfb_dst, args.scales_b, args.sb_stride_k,
                                                          args.sb_stride_n, plan.k_blocks, plan.n_blocks);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    if (sfa_dst != nullptr) sfa = sfa_dst;
    if (sfb_dst != nullptr) sfb = sfb_dst;
  }
  return dispatch_out(args.out_dtype, [&](auto tag) {
    using G = BlockwiseGemm<typename decltype(tag)::type>;
    return G::run(make_problem(args, plan, sfa, sfb), plan.cutlass_bytes > 0 ? workspace : nullptr, stream);
  });
}
