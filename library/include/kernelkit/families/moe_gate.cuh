// MoE gating: per token row of [T, E] router logits, scores -> (optionally grouped) top-k -> weights, as sgl-kernel's
// topk_softmax / topk_sigmoid / moe_fused_gate / kimi_k2_moe_fused_gate compute them (each op's .cu defines a
// policy: how a row's logits become selection keys and output weights, and how a selected weight is finished).
//
// Layout: LANES threads per row (a power of two <= 32, so 32 / LANES rows share a warp), each holding VPL
// consecutive experts in registers (lane l: experts [l * VPL, (l + 1) * VPL)), loaded with 16-byte vectors when the
// row allows it. Keeping a lane's experts consecutive makes "lowest lane" mean "lowest expert index", which is
// the tie rule every upstream kernel uses: among equal keys the lower expert index is selected first. A whole
// warp per row (LANES = 32) is the latency layout (few rows); 8-16 experts per lane and several rows per warp the
// throughput layout (many rows), where the per-round cost is shared by the rows of a warp.
//
// Selection, k rounds: every lane caches its best two (key, weight, expert) among its live experts; a round finds
// the row's best key (one redux.sync max over order-preserving integer keys when a warp is one row, log2(LANES)
// max-shuffles otherwise), a ballot names the lowest lane holding it, and that lane stages (weight, expert) in
// shared memory and updates its cache: its second best moves up, and only a lane that wins twice in a row rescans
// its registers. The round loop is not unrolled: its body is a few dozen instructions, so the kernel stays in the
// instruction cache (a loop unrolled over the 16 possible rounds, each with its own inlined rescan, made kernels of
// 100-200 KB whose instruction fetch dominated at every T). After the rounds, the row's lanes read the staged slots
// back, sum the weights in selection order and write the finished slots.
#pragma once

#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <type_traits>

#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"

namespace kernelkit::moe_gate {

constexpr int kThreads = 128;  // per CTA: 128 / LANES rows
constexpr int kMaxTopk = 16;   // output slots per row (routed + shared)
// Staged slots per row in shared memory, padded by one word so the rows of a warp (one lane each when LANES = 1)
// write and read their slot j in different banks.
constexpr int kSlotStride = kMaxTopk + 1;
// Up to this many rows a warp per row (the latency layout); past it the throughput layout (general_layout).
constexpr int64_t kLatencyRows = 1024;

struct GateArgs {
  const void* input;  // [T, E] rows, last dim contiguous
  int64_t input_row_stride;
  const void* bias;  // [E] contiguous, or nullptr
  float* weights;    // [T, topk]
  int64_t weights_row_stride;
  int32_t* ids;  // [T, topk]
  int64_t ids_row_stride;
  int64_t num_rows;
  int num_experts;
  int topk;         // output slots per row
  int topk_routed;  // slots filled by selection (topk minus fused shared experts)
  bool input_vec;   // input rows may be read with the layout's vector width
  bool bias_vec;    // bias may be read with the layout's vector width
  bool renormalize;
  float softcap;                 // topk_softmax: tanh soft-capping (0: off)
  int num_groups;                // moe_fused_gate
  int topk_group;                // moe_fused_gate
  double routed_scaling_factor;  // moe_fused_gate / kimi
  bool scale_output;             // apply_routed_scaling_factor_on_output
};

template <typename T>
__device__ __forceinline__ float round_to(float x) {
  return to_float<T>(from_float<T>(x));
}

// Max / sum over the LANES threads of a row (xor butterflies stay inside aligned groups of LANES lanes).
// An unsigned integer whose order is the float order of f (f not NaN); -0 and +0 map to the same key, as they
// compare equal.
__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t b = __float_as_uint(f + 0.0f);  // -0 + 0 = +0
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float from_order_key(uint32_t u) {
  return __uint_as_float((u & 0x80000000u) ? (u & 0x7fffffffu) : ~u);
}

// The max over the warp: one redux.sync on sm_80+, a shuffle butterfly before.
__device__ __forceinline__ uint32_t warp_max_u32(uint32_t v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return __reduce_max_sync(0xffffffffu, v);
#else
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v = max(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
#endif
}

// The lanes below this one in the warp, as a bit mask.
__device__ __forceinline__ unsigned lanemask_lt() {
  unsigned m;
  asm("mov.u32 %0, %%lanemask_lt;" : "=r"(m));
  return m;
}

// fmaxf over the LANES threads of a row (NaN ignored unless every value is NaN). A warp-wide row takes one
// redux.sync over order-preserving keys (NaN as the lowest key) instead of five dependent shuffles.
template <int LANES>
__device__ __forceinline__ float row_max(float v) {
  if constexpr (LANES == 32) {
    return from_order_key(warp_max_u32(v != v ? 0u : order_key(v)));
  } else {
#pragma unroll
    for (int off = LANES / 2; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off, LANES));
    return v;
  }
}
template <int LANES>
__device__ __forceinline__ float row_sum(float v) {
#pragma unroll
  for (int off = LANES / 2; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off, LANES);
  return v;
}

// The lanes of this thread's row for which `pred` holds, as bits 0..LANES-1.
template <int LANES>
__device__ __forceinline__ unsigned row_ballot(bool pred) {
  const unsigned all = __ballot_sync(0xffffffffu, pred);
  if constexpr (LANES == 32) {
    return all;
  } else {
    const int base = (threadIdx.x % 32) / LANES * LANES;
    return (all >> base) & ((1u << LANES) - 1u);
  }
}

// This lane's VPL consecutive elements of a row as floats; experts >= E read as 0 (they are never live).
template <typename T, int VPL>
__device__ __forceinline__ void load_lane(float (&x)[VPL], const T* row, int lane, int num_experts, bool vec) {
  constexpr int kW = VPL < int(16 / sizeof(T)) ? VPL : int(16 / sizeof(T));
  const int base = lane * VPL;
  if (vec) {
    Vec<T, kW> v[VPL / kW];
#pragma unroll
    for (int i = 0; i < VPL / kW; ++i) {  // every load in flight before the first use
      if (base + i * kW < num_experts) v[i] = Vec<T, kW>::load(row + base + i * kW);
    }
#pragma unroll
    for (int i = 0; i < VPL / kW; ++i) {
#pragma unroll
      for (int j = 0; j < kW; ++j) x[i * kW + j] = base + i * kW < num_experts ? to_float(v[i][j]) : 0.0f;
    }
  } else {
#pragma unroll
    for (int j = 0; j < VPL; ++j) x[j] = base + j < num_experts ? to_float(row[base + j]) : 0.0f;
  }
}

// The vector width load_lane uses for T and VPL (what a launcher checks alignment against).
template <typename T>
constexpr int vector_width(int vpl) {
  return vpl < int(16 / sizeof(T)) ? vpl : int(16 / sizeof(T));
}

// Whether rows of `num_experts` elements at `ptr` with `row_stride` can be read in vectors of `width` elements.
inline bool vectors_fit(const void* ptr, int64_t row_stride, int num_experts, int width, int elem_bytes) {
  return num_experts % width == 0 && row_stride % width == 0 &&
         reinterpret_cast<uintptr_t>(ptr) % static_cast<uintptr_t>(width * elem_bytes) == 0;
}

// A lane's live experts, bit j for expert lane * VPL + j.
template <int VPL>
using LiveMask = std::conditional_t<(VPL > 32), uint64_t, uint32_t>;

// Experts of this lane that exist (bit j: expert lane * VPL + j < E).
template <int VPL>
__device__ __forceinline__ LiveMask<VPL> existing_experts(int lane, int num_experts) {
  using M = LiveMask<VPL>;
  const int n = num_experts - lane * VPL;
  if (n >= VPL) return static_cast<M>(~M{0} >> (8 * sizeof(M) - VPL));
  return n <= 0 ? M{0} : static_cast<M>((M{1} << n) - 1);
}

// A lane's best two live (key, weight, expert) in index order: strictly greater keys replace, so among equal
// keys the lower expert stays first (and NaN keys are never picked).
template <int VPL>
struct Best2 {
  float k1, k2, w1, w2;
  int e1, e2;
  bool has2;

  __device__ __forceinline__ void scan(const float (&key)[VPL], const float (&wt)[VPL], LiveMask<VPL> live, int first,
                                       int fallback) {
    k1 = k2 = -INFINITY;
    w1 = w2 = 0.0f;
    e1 = e2 = fallback;  // a row of NaN keys still names an expert inside [0, E)
#pragma unroll
    for (int j = 0; j < VPL; ++j) {  // selects, not branches: the same result as the nested ifs it replaces
      const bool is_live = (live >> j) & 1u;
      const bool gt1 = is_live && key[j] > k1;
      const bool gt2 = is_live && !gt1 && key[j] > k2;
      k2 = gt1 ? k1 : (gt2 ? key[j] : k2);
      w2 = gt1 ? w1 : (gt2 ? wt[j] : w2);
      e2 = gt1 ? e1 : (gt2 ? first + j : e2);
      k1 = gt1 ? key[j] : k1;
      w1 = gt1 ? wt[j] : w1;
      e1 = gt1 ? first + j : e1;
    }
    has2 = true;
  }
};

// The row's topk_routed best (key desc, expert asc) experts among the live ones: round j stages the winner's
// weight and expert in slot_w[j] / slot_e[j] (this row's shared-memory slots; the caller syncs the warp).
template <int LANES, int VPL>
__device__ __forceinline__ void select_topk(const float (&key)[VPL], const float (&wt)[VPL], LiveMask<VPL> live,
                                            int lane, int num_experts, int topk_routed, float* slot_w, int* slot_e) {
  const int first = lane * VPL;
  const int fallback = first < num_experts ? first : num_experts - 1;
  Best2<VPL> b;
  b.scan(key, wt, live, first, fallback);
#pragma unroll 1
  for (int j = 0; j < topk_routed; ++j) {  // the same trip count in every lane of the warp
    bool win;
    if constexpr (LANES == 1) {
      win = true;
    } else if constexpr (LANES == 32) {
      const uint32_t u = order_key(b.k1);  // k1 is never NaN
      const bool hold = u == warp_max_u32(u);
      win = hold && (__ballot_sync(0xffffffffu, hold) & lanemask_lt()) == 0;
    } else {
      const float m = row_max<LANES>(b.k1);
      const unsigned holders = row_ballot<LANES>(b.k1 == m);
      win = lane == (holders ? __ffs(holders) - 1 : 0);
    }
    if (win) {
      slot_w[j] = b.w1;
      slot_e[j] = b.e1;
      if (b.e1 >= first && b.e1 < first + VPL) live &= ~(LiveMask<VPL>{1} << (b.e1 - first));
      if (b.has2) {
        b.k1 = b.k2, b.w1 = b.w2, b.e1 = b.e2;
        b.has2 = false;
      } else {
        b.scan(key, wt, live, first, fallback);
      }
    }
  }
}

// One kernel for every gate: Policy::scores fills the keys and weights of this lane's experts (and may clear
// live bits, e.g. of groups it drops); selection is shared; Policy::finish turns a staged slot into its output,
// given the fp32 sum of the routed weights in selection order.
template <class Policy, typename T, int LANES, int VPL>
__global__ void __launch_bounds__(kThreads) gate_kernel(GateArgs a) {
  constexpr int kRowsPerCta = kThreads / LANES;
  __shared__ float staged_w[kRowsPerCta * kSlotStride];
  __shared__ int staged_e[kRowsPerCta * kSlotStride];
  const int lane = threadIdx.x % LANES;
  const int local_row = threadIdx.x / LANES;
  const int64_t cta_first_row = static_cast<int64_t>(blockIdx.x) * kRowsPerCta;
  const int64_t my_row = cta_first_row + local_row;
  const bool active = my_row < a.num_rows;
  // A row past the end shadows the last row, so every lane of a warp with some real row takes part in the
  // shuffles; a warp with none has nothing to do (its rows are its own: LANES <= 32).
  const int64_t row = active ? my_row : a.num_rows - 1;
  pdl_wait_then_launch_dependents();
  if (cta_first_row + static_cast<int64_t>(threadIdx.x / 32) * (32 / LANES) >= a.num_rows) return;

  float x[VPL];
  load_lane<T, VPL>(x, static_cast<const T*>(a.input) + row * a.input_row_stride, lane, a.num_experts, a.input_vec);
  LiveMask<VPL> live = existing_experts<VPL>(lane, a.num_experts);
  float key[VPL], wt[VPL];
  Policy::template scores<T, LANES, VPL>(a, lane, x, live, key, wt);

  float* slot_w = staged_w + local_row * kSlotStride;
  int* slot_e = staged_e + local_row * kSlotStride;
  select_topk<LANES, VPL>(key, wt, live, lane, a.num_experts, a.topk_routed, slot_w, slot_e);
  __syncwarp();
  float sum = 0.0f;  // in selection order, as upstream adds them
#pragma unroll
  for (int j = 0; j < kMaxTopk; ++j) {
    if (j < a.topk_routed) sum += slot_w[j];
  }

  if (!active) return;
  float* w_out = a.weights + row * a.weights_row_stride;
  int32_t* e_out = a.ids + row * a.ids_row_stride;
#pragma unroll 1
  for (int j = lane; j < a.topk; j += LANES) {
    float w = 0.0f;
    int e = 0;
    if (j < a.topk_routed) w = slot_w[j], e = slot_e[j];
    Policy::finish(a, j, sum, w, e);
    w_out[j] = w;
    e_out[j] = e;
  }
}

// Runs f(integral_constant<LANES>, integral_constant<VPL>) for the layouts an op instantiates.
#define KK_MOE_LAYOUT(L, V)                                                           \
  if (lanes == (L) && vpl == (V)) {                                                   \
    return f(std::integral_constant<int, (L)>{}, std::integral_constant<int, (V)>{}); \
  }

// topk_softmax / topk_sigmoid. Up to kLatencyRows rows (and for every E > 256): a warp per row, E / 32 experts per
// lane (rounded up to a power of two), so a round is one redux.sync. More rows: 8 experts per lane (16 from
// E > 64) and several rows per warp, so a round's shuffles and ballot serve several rows at once; per row, the
// instructions go down with the lanes per row, and a rescan (~10 instructions per expert of a lane, executed by
// the warp when any of its rows needs one) gets likelier with fewer experts per lane: 16 lanes of 16 for E = 256.
inline bool general_layout(int num_experts, int64_t num_rows, int& lanes, int& vpl) {
  if (num_experts < 1 || num_experts > 2048) return false;
  if (num_experts > 256 || num_rows <= kLatencyRows) {
    lanes = 32, vpl = 1;
    while (lanes * vpl < num_experts) vpl *= 2;
  } else {
    lanes = 1, vpl = num_experts > 64 ? 16 : 8;
    while (lanes * vpl < num_experts) lanes *= 2;
  }
  return true;
}

template <class F>
cudaError_t dispatch_general_layout(int lanes, int vpl, F&& f) {
  KK_MOE_LAYOUT(32, 1)
  KK_MOE_LAYOUT(32, 2)
  KK_MOE_LAYOUT(32, 4)
  KK_MOE_LAYOUT(32, 8)
  KK_MOE_LAYOUT(32, 16)
  KK_MOE_LAYOUT(32, 32)
  KK_MOE_LAYOUT(32, 64)
  KK_MOE_LAYOUT(1, 8)
  KK_MOE_LAYOUT(2, 8)
  KK_MOE_LAYOUT(4, 8)
  KK_MOE_LAYOUT(8, 8)
  KK_MOE_LAYOUT(8, 16)
  KK_MOE_LAYOUT(16, 16)
  return cudaErrorInvalidValue;
}

template <class Policy, typename T, int LANES, int VPL>
cudaError_t launch_gate(const GateArgs& a, bool enable_pdl, cudaStream_t stream) {
  constexpr int kRowsPerCta = kThreads / LANES;
  const int64_t blocks = (a.num_rows + kRowsPerCta - 1) / kRowsPerCta;
  return launch_with_pdl(gate_kernel<Policy, T, LANES, VPL>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0,
                         stream, enable_pdl, a);
}

}  // namespace kernelkit::moe_gate
