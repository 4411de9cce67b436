// MoE gating: per token row of [T, E] router logits, scores -> (optionally grouped) top-k -> weights, as sgl-kernel's
// topk_softmax / topk_sigmoid / moe_fused_gate / kimi_k2_moe_fused_gate compute them (each op's .cu defines a
// policy: how a row's logits become selection keys and output weights, and how the k weights are finished).
//
// Layout: LANES threads per row (a power of two <= 32, so 32 / LANES rows share a warp), each holding VPL
// consecutive experts in registers (lane l: experts [l * VPL, (l + 1) * VPL)), loaded with 16-byte vectors when the
// row allows it. Keeping a lane's experts consecutive makes "lowest lane" mean "lowest expert index", which is
// the tie rule every upstream kernel uses: among equal keys the lower expert index is selected first.
//
// Selection, k rounds: every lane caches its best two (key, weight, expert) among its live experts; a round
// reduces the lanes' best keys with log2(LANES) max-shuffles, a ballot names the lowest lane holding that key, and
// two shuffles broadcast its expert and weight. Only the winner lane updates its cache: its second best moves up,
// and only a lane that wins twice in a row rescans its registers. So a round costs ~log2(LANES) + 3 shuffles and
// no per-element work, where a plain "rescan every lane every round" costs VPL compare/selects per round.
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
template <int LANES>
__device__ __forceinline__ float row_max(float v) {
#pragma unroll
  for (int off = LANES / 2; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off, LANES));
  return v;
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

// A lane's best two live (key, weight, expert) in index order: strictly greater keys replace, so among equal
// keys the lower expert stays first.
template <int VPL>
struct Best2 {
  float k1, k2, w1, w2;
  int e1, e2;
  bool has2;

  __device__ __forceinline__ void scan(const float (&key)[VPL], const float (&wt)[VPL], uint64_t live, int first,
                                       int fallback) {
    k1 = k2 = -INFINITY;
    w1 = w2 = 0.0f;
    e1 = e2 = fallback;  // a row of NaN keys still names an expert inside [0, E)
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      if ((live >> j) & 1u) {
        if (key[j] > k1) {
          k2 = k1, w2 = w1, e2 = e1;
          k1 = key[j], w1 = wt[j], e1 = first + j;
        } else if (key[j] > k2) {
          k2 = key[j], w2 = wt[j], e2 = first + j;
        }
      }
    }
    has2 = true;
  }
};

// The row's topk_routed best (key desc, expert asc) experts among the live ones: their experts and weights in
// selection order, in every lane of the row.
template <int LANES, int VPL>
__device__ __forceinline__ void select_topk(const float (&key)[VPL], const float (&wt)[VPL], uint64_t live, int lane,
                                            int num_experts, int topk_routed, float (&sel_w)[kMaxTopk],
                                            int (&sel_e)[kMaxTopk]) {
  const int first = lane * VPL;
  const int fallback = first < num_experts ? first : num_experts - 1;
  const int base = (threadIdx.x % 32) / LANES * LANES;
  Best2<VPL> b;
  b.scan(key, wt, live, first, fallback);
#pragma unroll
  for (int j = 0; j < kMaxTopk; ++j) {
    if (j >= topk_routed) break;  // uniform over the warp
    const float m = row_max<LANES>(b.k1);
    const unsigned holders = row_ballot<LANES>(b.k1 == m);
    const int winner = holders ? __ffs(holders) - 1 : 0;
    sel_e[j] = __shfl_sync(0xffffffffu, b.e1, base + winner);
    sel_w[j] = __shfl_sync(0xffffffffu, b.w1, base + winner);
    if (lane == winner) {
      if (b.e1 >= first && b.e1 < first + VPL) live &= ~(uint64_t{1} << (b.e1 - first));
      if (b.has2) {
        b.k1 = b.k2, b.w1 = b.w2, b.e1 = b.e2;
        b.has2 = false;
      } else {
        b.scan(key, wt, live, first, fallback);
      }
    }
  }
}

// Experts of this lane that exist (bit j: expert lane * VPL + j < E).
template <int VPL>
__device__ __forceinline__ uint64_t existing_experts(int lane, int num_experts) {
  const int n = num_experts - lane * VPL;
  if (n >= VPL) return VPL == 64 ? ~uint64_t{0} : (uint64_t{1} << VPL) - 1;
  return n <= 0 ? 0 : (uint64_t{1} << n) - 1;
}

// One kernel for every gate: Policy::scores fills the keys and weights of this lane's experts (and may clear
// live bits, e.g. of groups it drops); selection is shared; Policy::finish turns the selected weights into the
// output slots.
template <class Policy, typename T, int LANES, int VPL>
__global__ void __launch_bounds__(kThreads) gate_kernel(GateArgs a) {
  constexpr int kRowsPerCta = kThreads / LANES;
  const int lane = threadIdx.x % LANES;
  const int64_t my_row = static_cast<int64_t>(blockIdx.x) * kRowsPerCta + threadIdx.x / LANES;
  const bool active = my_row < a.num_rows;
  // A row past the end shadows the last row, so every lane of the warp takes part in the shuffles.
  const int64_t row = active ? my_row : a.num_rows - 1;
  pdl_wait_then_launch_dependents();

  float x[VPL];
  load_lane<T, VPL>(x, static_cast<const T*>(a.input) + row * a.input_row_stride, lane, a.num_experts, a.input_vec);
  uint64_t live = existing_experts<VPL>(lane, a.num_experts);
  float key[VPL], wt[VPL];
  Policy::template scores<T, LANES, VPL>(a, lane, x, live, key, wt);

  float sel_w[kMaxTopk];
  int sel_e[kMaxTopk];
  select_topk<LANES, VPL>(key, wt, live, lane, a.num_experts, a.topk_routed, sel_w, sel_e);
  Policy::finish(a, sel_w, sel_e);

  if (!active) return;
  float* w_out = a.weights + row * a.weights_row_stride;
  int32_t* e_out = a.ids + row * a.ids_row_stride;
#pragma unroll
  for (int j = 0; j < kMaxTopk; ++j) {  // slot j is written by lane j % LANES
    if (j < a.topk && j % LANES == lane) {
      w_out[j] = sel_w[j];
      e_out[j] = sel_e[j];
    }
  }
}

// Runs f(integral_constant<LANES>, integral_constant<VPL>) for the layouts an op instantiates.
#define KK_MOE_LAYOUT(L, V)                                                           \
  if (lanes == (L) && vpl == (V)) {                                                   \
    return f(std::integral_constant<int, (L)>{}, std::integral_constant<int, (V)>{}); \
  }

// topk_softmax / topk_sigmoid: ~16 experts per lane (a balance of per-row shuffles and per-lane registers),
// fewer lanes for small E, more experts per lane past 512.
inline bool general_layout(int num_experts, int& lanes, int& vpl) {
  if (num_experts <= 8) {
    lanes = 1, vpl = 8;
  } else if (num_experts <= 16) {
    lanes = 1, vpl = 16;
  } else if (num_experts <= 512) {
    vpl = 16;
    lanes = 2;
    while (lanes * 16 < num_experts) lanes *= 2;
  } else if (num_experts <= 1024) {
    lanes = 32, vpl = 32;
  } else if (num_experts <= 2048) {
    lanes = 32, vpl = 64;
  } else {
    return false;
  }
  return true;
}

template <class F>
cudaError_t dispatch_general_layout(int lanes, int vpl, F&& f) {
  KK_MOE_LAYOUT(1, 8)
  KK_MOE_LAYOUT(1, 16)
  KK_MOE_LAYOUT(2, 16)
  KK_MOE_LAYOUT(4, 16)
  KK_MOE_LAYOUT(8, 16)
  KK_MOE_LAYOUT(16, 16)
  KK_MOE_LAYOUT(32, 16)
  KK_MOE_LAYOUT(32, 32)
  KK_MOE_LAYOUT(32, 64)
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
