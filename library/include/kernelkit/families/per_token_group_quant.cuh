// Per-token-group 8-bit quantization (DeepSeek-V3's 1 x 128 activation scales), shared by
// sgl_per_token_group_quant_fp8 and sgl_per_token_group_quant_int8, with sgl-kernel's arithmetic (its two
// kernels, v1 and v2, round differently; quant.cuh's sgl:: helpers give each arch's instructions):
//
//   for every row t and every group j of G consecutive elements of the last dim, amax = max(absmax, eps):
//     v1:  s = amax * rcp(qmax);  [ue8m0: s = 2^ceil(log2(s)) by lg2/ex2.approx]   y = rcp(s)
//     v2:  s = amax / qmax (times fl32(1/qmax));  y = rcp(amax) * qmax
//          [ue8m0: s = the power of two >= amax / qmax, exactly from the bits; y = 1 / s]
//     q[t, i] = cvt(min(max(x[t, i] * y, qmin), qmax))    max first: NaN -> qmin
//   cvt: e4m3 round to nearest even (saturating), or int8 truncation toward zero (sgl-kernel's cast;
//   round to nearest even when asked). absmax ignores NaN; an inf makes its group's scale inf and y 0.
//
// Memory-bound: 3 bytes per bf16 element plus 4 per group, read or written once. How:
//  - One pass, everything in registers. A group belongs to kLanes = G / E lanes of a warp, each lane
//    holding E = min(G, 32) elements as E / 8 vectors of 8 (16-byte loads for bf16/fp16); vector k of
//    lane l is at (k * kLanes + l) * 8 in the group, so each load instruction of the group's lanes is
//    contiguous. The group's absmax is a shuffle-xor butterfly over its lanes: no shared memory, no
//    __syncthreads.
//  - E = 32 rather than 8: the per-group work (the scale's IEEE division, its reciprocal, the
//    butterfly, the scale store) is done by every lane of the group, so four times fewer lanes per group
//    is four times less of it: at E = 8 the kernel is issue-bound at large T (docs/perf-notes.md,
//    Per-token-group quant).
//  - x * y is one multiply per element (plus the clamp): the division is per group.
//  - Grid: 2-D like the activations' -- x covers a row's groups (kThreads / kLanes per CTA), y walks
//    rows -- so there is no index division, and the CTA's row is uniform.
//  - Each lane writes its quantized chunks (8 bytes; 16, two vectors paired, where a group has fewer
//    than 4 lanes: whole 32-byte sectors, see the launcher); the group's first lane writes the scale at
//    s[t * s_row_stride + j * s_group_stride], so row-major, column-major and padded (TMA-aligned)
//    scale layouts are one code path.
//  - Rows whose pointer/stride do not allow 16-byte loads (a slice at an odd offset) take the same
//    kernel with scalar loads and byte stores instead of refusing.
//
//  - Two input modes of sgl-kernel's v2 kernel (template flags, instantiated for bf16/fp16 and G = 16..128
//    only, as v2 has them): kFuse quantizes v = T(T(silu(gate)) * up) from rows [gate | up] of 2H (the
//    product rounded to the input type, what v2 quantizes); kMasked walks E experts' M rows each, rows
//    t >= masked_m[e] untouched, and addresses a scale at e * s_expert_stride + t * s_row_stride.
//  - Scales are fp32, or (s_packed) UE8M0 bytes packed four to an int32 as DeepGEMM reads them: group j's
//    byte at byte offset j % 4 of the int32 at s_row + (j / 4) * s_group_stride; the unused bytes of a row's
//    last int32 are zeroed (v2 does; v1 leaves them).
//
// Bytes, bf16, H = 7168, G = 128: T * (7168 * 3 + 56 * 4) = T * 21728 B (docs/perf-notes.md,
// Per-token-group quant).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/dtype.h"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/dynamic_fp8.cuh"
#include "kernelkit/families/quant.cuh"

namespace kernelkit {

enum class GroupQuantKind { kFp8E4m3, kInt8 };

struct GroupQuantArgs {
  const void* input;
  int64_t input_row_stride;  // elements (kFuse: rows of 2 * hidden, gate then up)
  uint8_t* output_q;         // e4m3 or int8 bits
  int64_t q_row_stride;      // elements (= bytes)
  float* output_s;
  int64_t s_row_stride;    // elements (int32 words when s_packed); any strides (row-major, column-major, padded)
  int64_t s_group_stride;  // per group, or (s_packed) per int32 of four groups
  int64_t num_rows;
  int64_t groups_per_row;  // hidden / group_size
  float eps;               // > 0: the floor of absmax, so a zero group gets s = eps / qmax
  float qmin, qmax;
  bool scale_ue8m0;
  bool v2;                            // sgl-kernel's v2 arithmetic (the caller checked its preconditions), else v1
  bool int8_round_nearest;            // int8: round half to even instead of sgl-kernel's truncation
  bool s_packed = false;              // UE8M0 bytes into int32 words (needs scale_ue8m0)
  bool fuse = false;                  // input rows [gate | up]: quantize T(T(silu(gate)) * up)
  const int32_t* masked_m = nullptr;  // [E]: rows of expert e to process; rows are E x rows_per_expert
  int64_t rows_per_expert = 0;
  int64_t s_expert_stride = 0;  // elements (int32 words when s_packed)
};

namespace group_quant_detail {

constexpr int kThreads = 128;
constexpr int kElems = 8;  // per vector: 16 bytes of bf16/fp16 in, 8 bytes out

// The group sizes with a kernel: a power of two from 8 to 256.
constexpr bool supported_group_size(int64_t g) {
  return g == 8 || g == 16 || g == 32 || g == 64 || g == 128 || g == 256;
}

// 8 elements, kept in the input type (packed: 4 registers for bf16/fp16, not 8 fp32) until quantized.
template <typename T, bool kVector>
__device__ __forceinline__ Vec<T, kElems> load8(const T* p) {
  Vec<T, kElems> x;
  if constexpr (kVector) {
    constexpr int VEC = 16 / sizeof(T);
#pragma unroll
    for (int v = 0; v < kElems / VEC; ++v) reinterpret_cast<Vec<T, VEC>*>(&x)[v] = Vec<T, VEC>::load(p + v * VEC);
  } else {
#pragma unroll
    for (int i = 0; i < kElems; ++i) x[i] = p[i];
  }
  return x;
}

// x -> the clamped value that becomes its 8-bit code: min(max(x * y, qmin), qmax).
struct GroupScaler {
  float y, qmin, qmax;
  __device__ __forceinline__ float operator()(float x) const { return fminf(fmaxf(sgl::mul(x, y), qmin), qmax); }
};

// The group's scale (what output_s holds) and its multiplier, from its absmax (see the top of the file).
template <GroupQuantKind K>
__device__ __forceinline__ float group_scale(const GroupQuantArgs& a, float absmax, float& y) {
  const float amax = fmaxf(absmax, a.eps);
  constexpr int kQmax = K == GroupQuantKind::kFp8E4m3 ? 448 : 127;
  if (a.v2) {
    if (a.scale_ue8m0) {
      const float s = pow2_ceil(sgl::div_by<kQmax>(amax));
      y = __frcp_rn(s);  // exact: s is a power of two
      return s;
    }
    y = sgl::mul(sgl::rcp(amax), a.qmax);
    return sgl::div_by<kQmax>(amax);
  }
  float s = sgl::div(amax, a.qmax);
  if (a.scale_ue8m0) s = sgl::pow2_ceil_by_log2(s);
  y = sgl::rcp(s);
  return s;
}

// The group's scale s into output_s: fp32 at s_row + col * s_group_stride, or (s_packed) its UE8M0 byte -- the
// exponent bits of the power of two s, so the byte always names the scale the values were divided by -- at byte
// col % 4 of int32 word s_row + col / 4 * s_group_stride, the unused bytes of the row's last word zeroed.
__device__ __forceinline__ void store_group_scale(const GroupQuantArgs& a, int64_t s_row, int64_t col, float s) {
  if (!a.s_packed) {
    a.output_s[s_row + col * a.s_group_stride] = s;
    return;
  }
  uint8_t* word = reinterpret_cast<uint8_t*>(a.output_s + s_row + (col / 4) * a.s_group_stride);
  word[col % 4] = static_cast<uint8_t>(__float_as_uint(s) >> 23);
  if (col == a.groups_per_row - 1) {
    for (int p = static_cast<int>(col % 4) + 1; p < 4; ++p) word[p] = 0;
  }
}

// v = T(T(silu(g)) * u) elementwise: sgl-kernel v2's fused SiLU-and-mul, the product rounded once to T.
template <typename T>
__device__ __forceinline__ Vec<T, kElems> silu_mul(const Vec<T, kElems>& g, const Vec<T, kElems>& u) {
  Vec<T, kElems> v;
#pragma unroll
  for (int i = 0; i < kElems; ++i) v[i] = __hmul(from_float<T>(sgl::silu(to_float(g[i]))), u[i]);
  return v;
}

// Four values -> four 8-bit codes.
template <GroupQuantKind K, typename T>
__device__ __forceinline__ uint32_t quantize4(const T* x, const GroupScaler& scale, bool int8_round_nearest) {
  float q[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) q[i] = scale(to_float(x[i]));
  if constexpr (K == GroupQuantKind::kFp8E4m3) {
    return uint32_t(float2_to_e4m3x2(q[0], q[1])) | (uint32_t(float2_to_e4m3x2(q[2], q[3])) << 16);
  } else {
    return int8_round_nearest ? float4_to_int8x4_sat<true>(q) : float4_to_int8x4_sat<false>(q);
  }
}

template <typename T, int G, int E, GroupQuantKind K, bool kVector, bool kPairStores = false, bool kFuse = false,
          bool kMasked = false>
__global__ void __launch_bounds__(kThreads) per_token_group_quant_kernel(GroupQuantArgs a) {
  constexpr int kLanes = G / E;      // lanes per group
  constexpr int kVecs = E / kElems;  // vectors per lane
  static_assert(!kPairStores || (kVector && kVecs % 2 == 0), "pairs of vectors, 16-byte stores");
  constexpr int kGroupsPerCta = kThreads / kLanes;
  static_assert(kLanes >= 1 && kLanes <= 32 && (kLanes & (kLanes - 1)) == 0 && E % kElems == 0, "G / E lanes");
  const int li = threadIdx.x % kLanes;
  // Element offset in the group of vector k of lane li. Plain: (k * kLanes + li) * 8, so each load
  // instruction of the group's lanes is contiguous. Paired: vectors 2j and 2j + 1 of a lane adjacent,
  // so the lane stores their 16 quantized bytes at once and the group's lanes write whole 32-byte sectors.
  auto offset_of = [&](int k) {
    return kPairStores ? ((k / 2 * kLanes + li) * 2 + k % 2) * kElems : (k * kLanes + li) * kElems;
  };
  // The butterfly stays inside the group's lanes, and only they need to be converged: a group past the
  // row's end leaves the loop together with its lanes.
  const unsigned mask = kLanes == 32 ? 0xffffffffu : ((1u << kLanes) - 1u) << (threadIdx.x % 32 / kLanes * kLanes);
  pdl_wait_then_launch_dependents();  // input may be the previous kernel's output
  int64_t row = blockIdx.y;           // every CTA owns a row: a do-while issues the first loads before any bounds test
  do {
    int64_t s_row = row * a.s_row_stride;
    bool live = true;
    if constexpr (kMasked) {  // row = expert e's token t; only the first masked_m[e] tokens (at most M) are live
      const int64_t e = row / a.rows_per_expert, t = row - e * a.rows_per_expert;
      live = t < static_cast<int64_t>(a.masked_m[e]);
      s_row = e * a.s_expert_stride + t * a.s_row_stride;
    }
    const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
    uint8_t* qrow = a.output_q + row * a.q_row_stride;
    for (int64_t col = int64_t(blockIdx.x) * kGroupsPerCta + threadIdx.x / kLanes; live && col < a.groups_per_row;
         col += int64_t(gridDim.x) * kGroupsPerCta) {
      Vec<T, kElems> x[kVecs];
#pragma unroll
      for (int k = 0; k < kVecs; ++k) x[k] = load8<T, kVector>(in + col * G + offset_of(k));
      if constexpr (kFuse) {  // x holds the gates; the ups are hidden = groups_per_row * G elements on
        const T* up = in + a.groups_per_row * G;
#pragma unroll
        for (int k = 0; k < kVecs; ++k) x[k] = silu_mul(x[k], load8<T, kVector>(up + col * G + offset_of(k)));
      }
      float m = 0.0f;
#pragma unroll
      for (int k = 0; k < kVecs; ++k) m = vec_absmax(m, x[k]);  // NaN skipped
#pragma unroll
      for (int offset = kLanes / 2; offset > 0; offset /= 2) m = fmaxf(m, __shfl_xor_sync(mask, m, offset));
      float y;
      const float s = group_scale<K>(a, m, y);
      const GroupScaler scale{y, a.qmin, a.qmax};
      if constexpr (kPairStores) {
#pragma unroll
        for (int k = 0; k < kVecs; k += 2) {
          const uint4 v = make_uint4(quantize4<K>(&x[k][0], scale, a.int8_round_nearest),
                                     quantize4<K>(&x[k][4], scale, a.int8_round_nearest),
                                     quantize4<K>(&x[k + 1][0], scale, a.int8_round_nearest),
                                     quantize4<K>(&x[k + 1][4], scale, a.int8_round_nearest));
          *reinterpret_cast<uint4*>(qrow + col * G + offset_of(k)) = v;
        }
      } else {
#pragma unroll
        for (int k = 0; k < kVecs; ++k) {
          const uint32_t lo4 = quantize4<K>(&x[k][0], scale, a.int8_round_nearest);
          const uint32_t hi4 = quantize4<K>(&x[k][4], scale, a.int8_round_nearest);
          uint8_t* q = qrow + col * G + offset_of(k);
          if constexpr (kVector) {
            *reinterpret_cast<uint2*>(q) = make_uint2(lo4, hi4);
          } else {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              q[i] = static_cast<uint8_t>(lo4 >> (8 * i));
              q[4 + i] = static_cast<uint8_t>(hi4 >> (8 * i));
            }
          }
        }
      }
      if (li == 0) store_group_scale(a, s_row, col, s);
    }
    row += gridDim.y;
  } while (row < a.num_rows);
}

}  // namespace group_quant_detail

// Picks the instance (dtype, group size, elements per lane, vector or scalar access) and sizes the grid.
template <GroupQuantKind K>
cudaError_t launch_per_token_group_quant(const GroupQuantArgs& a, int64_t group_size, bool enable_pdl, DType dtype,
                                         cudaStream_t stream) {
  using namespace group_quant_detail;
  if (a.num_rows == 0 || a.groups_per_row == 0) return cudaSuccess;
  if (!supported_group_size(group_size) || !(a.eps > 0.0f) || !(a.qmax > 0.0f)) return cudaErrorInvalidValue;
  if (a.masked_m != nullptr && a.rows_per_expert <= 0) return cudaErrorInvalidValue;
  if (a.s_packed && !a.scale_ue8m0) return cudaErrorInvalidValue;
  return dispatch_float_dtype(dtype, [&](auto tag) -> cudaError_t {
    using T = typename decltype(tag)::type;
    // 16-byte loads and 8-byte stores need every row start aligned; otherwise scalar accesses.
    const bool vector = reinterpret_cast<uintptr_t>(a.input) % 16 == 0 &&
                        (a.input_row_stride * static_cast<int64_t>(sizeof(T))) % 16 == 0 &&
                        reinterpret_cast<uintptr_t>(a.output_q) % 8 == 0 && a.q_row_stride % 8 == 0;
    // E = 32 needs a quarter of the lanes of E = 8: below about one full machine of lanes (T = 128, or
    // bf16 [2048, 4096]) the extra parallelism of E = 8 wins; above it E = 32's lighter per-group work
    // does (docs/perf-notes.md, Per-token-group quant).
    const bool narrow = a.num_rows * a.groups_per_row * (group_size / 32) < int64_t(sm_count()) * 2048 && !a.fuse &&
                        a.masked_m == nullptr;
    // Paired 16-byte stores where a group's lanes would otherwise write part of a 32-byte sector per
    // store (fewer than 4 lanes of 8 bytes: G = 64 with E = 32, G = 32, G = 16) and q's rows allow them.
    // G = 128 (4 lanes) writes whole sectors already and keeps 8-byte stores (docs/perf-notes.md,
    // Per-token-group quant).
    const bool pair = vector && reinterpret_cast<uintptr_t>(a.output_q) % 16 == 0 && a.q_row_stride % 16 == 0;
    auto go = [&](auto g_c, auto e_c) -> cudaError_t {
      constexpr int G = decltype(g_c)::value, E = decltype(e_c)::value;
      constexpr int64_t kGroupsPerCta = kThreads / (G / E);
      const dim3 grid(
          static_cast<unsigned>(std::min<int64_t>((a.groups_per_row + kGroupsPerCta - 1) / kGroupsPerCta, INT32_MAX)),
          static_cast<unsigned>(std::min<int64_t>(a.num_rows, 65535)));
      // The fused and masked modes: v2's calls only (bf16/fp16, G = 16..128), 16-byte rows (the binding
      // checks both), the wide lane shape.
      constexpr bool kModes = !std::is_same_v<T, float> && G >= 16 && G <= 128 && E == (G < 32 ? G : 32);
      if (a.fuse || a.masked_m != nullptr) {
        if constexpr (kModes) {
          auto modes = [&](auto pair_c) -> cudaError_t {
            constexpr bool P = decltype(pair_c)::value;
            if (a.fuse && a.masked_m != nullptr)
              return launch_with_pdl(per_token_group_quant_kernel<T, G, E, K, true, P, true, true>, grid,
                                     dim3(kThreads), 0, stream, enable_pdl, a);
            if (a.fuse)
              return launch_with_pdl(per_token_group_quant_kernel<T, G, E, K, true, P, true, false>, grid,
                                     dim3(kThreads), 0, stream, enable_pdl, a);
            return launch_with_pdl(per_token_group_quant_kernel<T, G, E, K, true, P, false, true>, grid, dim3(kThreads),
                                   0, stream, enable_pdl, a);
          };
          if (!vector) return cudaErrorInvalidValue;
          if constexpr (E / kElems % 2 == 0 && G / E < 4) {
            if (pair) return modes(std::true_type{});
          }
          return modes(std::false_type{});
        } else {
          return cudaErrorInvalidValue;
        }
      }
      if constexpr (E / kElems % 2 == 0 && G / E < 4) {
        if (pair)
          return launch_with_pdl(per_token_group_quant_kernel<T, G, E, K, true, true>, grid, dim3(kThreads), 0, stream,
                                 enable_pdl, a);
      }
      return vector ? launch_with_pdl(per_token_group_quant_kernel<T, G, E, K, true>, grid, dim3(kThreads), 0, stream,
                                      enable_pdl, a)
                    : launch_with_pdl(per_token_group_quant_kernel<T, G, E, K, false>, grid, dim3(kThreads), 0, stream,
                                      enable_pdl, a);
    };
    using I16 = std::integral_constant<int, 16>;
    using I32 = std::integral_constant<int, 32>;
    using I8 = std::integral_constant<int, 8>;
    switch (group_size) {
      case 8: return go(I8{}, I8{});
      case 16: return go(I16{}, I16{});
      case 32: return go(I32{}, I32{});
      case 64:
        return narrow ? go(std::integral_constant<int, 64>{}, I8{}) : go(std::integral_constant<int, 64>{}, I32{});
      case 128:
        return narrow ? go(std::integral_constant<int, 128>{}, I8{}) : go(std::integral_constant<int, 128>{}, I32{});
      case 256: return go(std::integral_constant<int, 256>{}, I32{});
    }
    return cudaErrorInvalidValue;
  });
}

}  // namespace kernelkit
