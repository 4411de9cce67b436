// apply_rope_with_cos_sin_cache_inplace: rotary position embedding (RoPE) of query and key, in place.
//
// For token t with p = positions[t], every head of query and key has its first rotary_dim dims
// rotated by the angles of row p of cos_sin_cache ([cos | sin], rotary_dim/2 floats each):
//   (x1, x2) -> (x1 * cos_i - x2 * sin_i, x2 * cos_i + x1 * sin_i)
// NeoX style pairs dim i with i + rotary_dim/2; GPT-J style (is_neox = false) pairs 2i with 2i+1.
// Dims past rotary_dim are neither read nor written.
//
// Memory-bound: each rotated element is read and written once, and each token's cos/sin row
// (rotary_dim floats) is read once from HBM. How the kernel keeps HBM busy:
//  * One thread per (token, group of HPT heads, chunk of P pairs) -- P = 8 for bf16/fp16: two 16-byte
//    vectors per head, the chunk's x1 and x2 parts --, flattened into one index over 256-thread CTAs.
//    A thread issues its q/k loads first, then its position and cos/sin loads (2 x 32 bytes, L1/L2
//    hits: every head of a token reads the same cache row), rotates and stores. No shared memory and
//    no barrier: ~40 registers, so ~2048 threads per SM hide the latency.
//  * HPT = 1 head per thread up to 4096 tokens (more, smaller threads for small batches), 2 beyond
//    (twice the bytes in flight per thread when the grid is many waves deep).
//  * With 16-byte vectors the q/k loads go to shared memory by cp.async (kStaged): the bytes in flight
//    hold no registers while the position -> cos/sin chain (two dependent loads) runs, and the
//    register cap rises from 1280 to 1536 threads per SM (HPT = 1: 38 registers instead of 48). Four
//    heads per thread staged (62 registers, 128 bytes in flight per thread) is no faster.
// A tile's cos/sin rows staged in shared memory behind a __syncthreads, with 4 heads per thread (~120
// registers, 2 CTAs per SM), leaves too few threads to hide the latency, and a 2-D (token x unit) CTA
// layout with 32-bit index math is slower than this flat one (docs/perf-notes.md, RoPE).
//
// Positions outside [0, max_pos) are never used to index the cache: that token's rows stay as they
// are, and the first such (token, position, max_pos) since the last reset is recorded, with a
// count, in position_errors (int64[4], may be null). The Python wrapper turns it into an error.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernelkit/core/cp_async.cuh"
#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit_ops/rope/apply_rope_with_cos_sin_cache_inplace.h"

namespace kernelkit {
namespace {

constexpr int kThreads = 256;
// Tokens from which a thread takes two heads instead of one.
constexpr int64_t kTwoHeadsFromTokens = 4096;

struct RopeParams {
  void* query;
  void* key;
  const void* positions;
  const float* cos_sin_cache;
  long long* errors;  // [count, token, position, max_pos] or null
  int64_t num_tokens;
  int64_t max_pos;
  int64_t q_token_stride, q_head_stride, k_token_stride, k_head_stride, cache_row_stride;
  bool cache_vec4;             // cos/sin loadable as float4
  int num_q_heads, num_heads;  // query heads come first, then key heads
  int rotary_dim;
  int chunks;       // chunks of P pairs per head: rotary_dim / 2 / P
  int head_groups;  // groups of HPT heads: ceil(num_heads / HPT)
  int64_t units;    // threads in all: num_tokens * head_groups * chunks
  bool index32;     // units fits 32-bit index math
};

template <typename T>
__device__ __forceinline__ T* head_ptr(const RopeParams& p, int64_t t, int h) {
  return h < p.num_q_heads ? static_cast<T*>(p.query) + t * p.q_token_stride + h * p.q_head_stride
                           : static_cast<T*>(p.key) + t * p.k_token_stride + (h - p.num_q_heads) * p.k_head_stride;
}

// Offsets (elements, within a head) of the two P-element vectors that hold chunk c's pairs.
// NeoX: x1 = [cP, cP + P), x2 = the same in the second half. GPT-J: 2P consecutive elements.
template <int P, bool kNeox>
__device__ __forceinline__ void chunk_offsets(int c, int half, int& a, int& b) {
  if constexpr (kNeox) {
    a = c * P;
    b = half + c * P;
  } else {
    a = 2 * c * P;
    b = 2 * c * P + P;
  }
}

// Element j of pair side `second` (x1 or x2) of a chunk held in vectors a, b.
template <typename V, int P, bool kNeox>
__device__ __forceinline__ float pair_elem(const V& a, const V& b, int j, bool second) {
  if constexpr (kNeox) {
    return to_float(second ? b[j] : a[j]);
  } else {
    const int e = 2 * j + (second ? 1 : 0);  // compile-time after unrolling
    return to_float(e < P ? a[e] : b[e - P]);
  }
}

template <typename T, int P, bool kNeox>
__device__ __forceinline__ void set_pair(Vec<T, P>& a, Vec<T, P>& b, int j, float o1, float o2) {
  if constexpr (kNeox) {
    a[j] = from_float<T>(o1);
    b[j] = from_float<T>(o2);
  } else {
    const int e = 2 * j;
    (e < P ? a[e] : b[e - P]) = from_float<T>(o1);
    (e + 1 < P ? a[e + 1] : b[e + 1 - P]) = from_float<T>(o2);
  }
}

template <typename T, typename Pos, int P, bool kNeox, int HPT, bool kStaged>
__global__ void __launch_bounds__(kThreads, kStaged ? (HPT == 1 ? 6 : 4) : 1) rope_kernel(const RopeParams p) {
  using V = Vec<T, P>;
  __shared__ V stage[kStaged ? 2 * HPT * kThreads : 1];
  const int64_t u = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (u >= p.units) return;
  // u -> (token, head group, chunk). 64-bit division is a ~70-instruction routine on the path to every
  // thread's first load, and at T = 2048 it, not HBM, would be what the kernel waits for; 32-bit when the
  // index fits (below ~13M tokens for 40 heads; docs/perf-notes.md, RoPE).
  int c, group;
  int64_t t;
  if (p.index32) {
    const uint32_t u32 = static_cast<uint32_t>(u), rest = u32 / static_cast<uint32_t>(p.chunks);
    c = static_cast<int>(u32 - rest * static_cast<uint32_t>(p.chunks));
    group = static_cast<int>(rest % static_cast<uint32_t>(p.head_groups));
    t = rest / static_cast<uint32_t>(p.head_groups);
  } else {
    const int64_t rest = u / p.chunks;
    c = static_cast<int>(u - rest * p.chunks);
    group = static_cast<int>(rest % p.head_groups);
    t = rest / p.head_groups;
  }
  const int half = p.rotary_dim / 2;
  int off_a, off_b;
  chunk_offsets<P, kNeox>(c, half, off_a, off_b);

  V a[HPT], b[HPT];
#pragma unroll
  for (int k = 0; k < HPT; ++k) {  // q/k loads in flight first (rows of a bad position are only read)
    const int h = group * HPT + k;
    if (h < p.num_heads) {
      const T* x = head_ptr<T>(p, t, h);
      if constexpr (kStaged) {
        cp_async_16(&stage[(2 * k) * kThreads + threadIdx.x], x + off_a);
        cp_async_16(&stage[(2 * k + 1) * kThreads + threadIdx.x], x + off_b);
      } else {
        a[k] = V::load(x + off_a);
        b[k] = V::load(x + off_b);
      }
    }
  }
  const int64_t pos = static_cast<int64_t>(__ldg(static_cast<const Pos*>(p.positions) + t));
  if (static_cast<uint64_t>(pos) >= static_cast<uint64_t>(p.max_pos)) {
    // Never used as an index. The first bad token since the last reset is kept; later ones only count.
    if (group == 0 && c == 0 && p.errors != nullptr &&
        atomicAdd(reinterpret_cast<unsigned long long*>(&p.errors[0]), 1ull) == 0ull) {
      p.errors[1] = t;
      p.errors[2] = pos;
      p.errors[3] = p.max_pos;
    }
    if constexpr (kStaged) cp_async_wait_all();
    return;
  }
  const float* row = p.cos_sin_cache + pos * p.cache_row_stride + c * P;
  float cs[P], sn[P];
  if (P % 4 == 0 && p.cache_vec4) {  // the cache rows and both halves are 16-byte aligned
#pragma unroll
    for (int j = 0; j < P; j += 4) {
      const float4 cv = __ldg(reinterpret_cast<const float4*>(row + j));
      const float4 sv = __ldg(reinterpret_cast<const float4*>(row + half + j));
      cs[j] = cv.x, cs[j + 1] = cv.y, cs[j + 2] = cv.z, cs[j + 3] = cv.w;
      sn[j] = sv.x, sn[j + 1] = sv.y, sn[j + 2] = sv.z, sn[j + 3] = sv.w;
    }
  } else {
#pragma unroll
    for (int j = 0; j < P; ++j) {
      cs[j] = __ldg(row + j);
      sn[j] = __ldg(row + half + j);
    }
  }
  if constexpr (kStaged) cp_async_wait_all();  // each thread reads back only its own slots: no barrier
#pragma unroll
  for (int k = 0; k < HPT; ++k) {  // rotate in fp32, round once, store
    const int h = group * HPT + k;
    if (h < p.num_heads) {
      if constexpr (kStaged) {
        a[k] = stage[(2 * k) * kThreads + threadIdx.x];
        b[k] = stage[(2 * k + 1) * kThreads + threadIdx.x];
      }
      V ra, rb;
#pragma unroll
      for (int j = 0; j < P; ++j) {
        const float x1 = pair_elem<V, P, kNeox>(a[k], b[k], j, false);
        const float x2 = pair_elem<V, P, kNeox>(a[k], b[k], j, true);
        set_pair<T, P, kNeox>(ra, rb, j, x1 * cs[j] - x2 * sn[j], x2 * cs[j] + x1 * sn[j]);
      }
      T* x = head_ptr<T>(p, t, h);
      ra.store(x + off_a);
      rb.store(x + off_b);
    }
  }
}

}  // namespace

}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/rope/apply_rope_with_cos_sin_cache_inplace.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_apply_rope_with_cos_sin_cache_inplace(
    void* query, void* key, const void* positions, const float* cos_sin_cache, int64_t* position_errors,
    int64_t num_tokens, int64_t num_q_heads, int64_t num_k_heads, int64_t rotary_dim, int64_t q_token_stride,
    int64_t q_head_stride, int64_t k_token_stride, int64_t k_head_stride, int64_t cache_row_stride, int64_t max_pos,
    bool positions_int64, bool is_neox, DType dtype, cudaStream_t stream) {
  const int64_t num_heads = num_q_heads + num_k_heads;
  if (num_tokens == 0 || num_heads == 0) return cudaSuccess;
  // The binding checks these with messages; here they only guard the index types.
  if (rotary_dim <= 0 || rotary_dim % 2 != 0 || rotary_dim > 2048 || num_heads > (int64_t{1} << 30) ||
      num_tokens > INT32_MAX) {
    return cudaErrorInvalidValue;
  }
  const int half = static_cast<int>(rotary_dim / 2);
  return dispatch_dtypes<DType::kBFloat16, DType::kFloat16>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // 16-byte vectors when every head's chunk starts 16-byte aligned; narrower otherwise.
    const int vec =
        pick_vec_width<T>({query, key}, {int64_t{half}, q_token_stride, q_head_stride, k_token_stride, k_head_stride});
    return dispatch_vec_width(vec, [&](auto vec_c) {
      constexpr int P = decltype(vec_c)::value;
      RopeParams p{};
      p.query = query;
      p.key = key;
      p.positions = positions;
      p.cos_sin_cache = cos_sin_cache;
      p.errors = reinterpret_cast<long long*>(position_errors);
      p.num_tokens = num_tokens;
      p.max_pos = max_pos;
      p.q_token_stride = q_token_stride;
      p.q_head_stride = q_head_stride;
      p.k_token_stride = k_token_stride;
      p.k_head_stride = k_head_stride;
      p.cache_row_stride = cache_row_stride;
      p.num_q_heads = static_cast<int>(num_q_heads);
      p.num_heads = static_cast<int>(num_heads);
      p.rotary_dim = static_cast<int>(rotary_dim);
      p.chunks = half / P;  // <= 1024: rotary_dim <= 2048
      p.cache_vec4 = reinterpret_cast<uintptr_t>(cos_sin_cache) % 16 == 0 && cache_row_stride % 4 == 0 && half % 4 == 0;
      auto go = [&](auto hpt_c) {
        constexpr int HPT = decltype(hpt_c)::value;
        constexpr bool kStaged = sizeof(T) * P == 16;  // cp.async moves 16 bytes
        p.head_groups = static_cast<int>((num_heads + HPT - 1) / HPT);
        p.units = num_tokens * p.head_groups * p.chunks;  // < 2^62: tokens < 2^31, heads <= 2^30, chunks <= 1024
        p.index32 = p.units <= int64_t(UINT32_MAX);
        const int64_t ctas = (p.units + kThreads - 1) / kThreads;
        if (ctas > INT32_MAX) return cudaErrorInvalidValue;
        const dim3 grid(static_cast<unsigned>(ctas)), block(kThreads);
        if (positions_int64) {
          if (is_neox)
            rope_kernel<T, int64_t, P, true, HPT, kStaged><<<grid, block, 0, stream>>>(p);
          else
            rope_kernel<T, int64_t, P, false, HPT, kStaged><<<grid, block, 0, stream>>>(p);
        } else {
          if (is_neox)
            rope_kernel<T, int32_t, P, true, HPT, kStaged><<<grid, block, 0, stream>>>(p);
          else
            rope_kernel<T, int32_t, P, false, HPT, kStaged><<<grid, block, 0, stream>>>(p);
        }
        return cudaGetLastError();
      };
      if (num_tokens >= kTwoHeadsFromTokens) return go(std::integral_constant<int, 2>{});
      return go(std::integral_constant<int, 1>{});
    });
  });
}
