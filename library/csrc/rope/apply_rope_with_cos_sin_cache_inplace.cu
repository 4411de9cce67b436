// apply_rope_with_cos_sin_cache_inplace: rotary position embedding (RoPE) of query and key, in place, and
// optionally the KV-cache store of the rotated key and the value (sgl-kernel's fused_set_kv_buffer_arg).
//
// For token t with p = positions[t], every head of query and key has its first rotary_dim dims
// rotated by the angles of row p of cos_sin_cache ([cos | sin], rotary_dim/2 floats each):
//   (x1, x2) -> (x1 * cos_i - x2 * sin_i, x2 * cos_i + x1 * sin_i)
// NeoX style pairs dim i with i + rotary_dim/2; GPT-J style (is_neox = false) pairs 2i with 2i+1.
// Dims past rotary_dim are neither read nor written (without the store).
// With the store, every key head is also written whole to k_buffer[cache_loc[t]] (its rotated dims as
// stored into key, bit for bit, the rest copied) and value's head to v_buffer[cache_loc[t]].
//
// Memory-bound: each rotated element is read and written once, and each token's cos/sin row
// (rotary_dim floats) is read once from HBM. How the kernel keeps HBM busy:
//  * One thread per (token, group of HPT heads, chunk of P pairs) -- P = 8 for bf16/fp16: two 16-byte
//    vectors per head, the chunk's x1 and x2 parts --, flattened into one index. A thread issues its
//    position load first (the position -> cos/sin chain is the longest), then its q/k loads, then the
//    cos/sin loads (2 x 32 bytes, L1/L2 hits: every head of a token reads the same cache row), rotates and
//    stores. No shared memory exchange and no barrier: ~40 registers, so ~2048 threads per SM hide the latency.
//  * The store adds no pass: a key thread holds its rotated vectors in registers and writes them twice
//    (key and k_buffer), and copies value's two vectors at the same offsets (they cover the head when
//    rotary_dim == head_size; the dims past rotary_dim are copied by a short loop).
//  * HPT = 1 head per thread up to 4096 tokens (more, smaller threads for small batches), 2 beyond
//    (twice the bytes in flight per thread when the grid is many waves deep); with the store always 1 (a key
//    thread already moves k and v).
//  * With 16-byte vectors the q/k (and value) loads go to shared memory by cp.async (kStaged): the bytes in
//    flight hold no registers while the position -> cos/sin chain (two dependent loads) runs, and the
//    register cap rises from 1280 to 1536 threads per SM (HPT = 1: 38 registers instead of 48). Four
//    heads per thread staged (62 registers, 128 bytes in flight per thread) is no faster.
//  * The flat index splits into (token, head group, chunk) by multiply-shift (FastDiv) before the first load:
//    two 32-bit divisions by runtime divisors are ~40 dependent instructions ahead of every load.
//  * Grids of fewer than ~2 CTAs of 256 per SM take 64-thread CTAs (T <= ~200 at 40 heads x 128): the same
//    threads spread over 4x more SMs, so no SM holds twice the bytes of most others (160 CTAs of 256 on 132
//    SMs at T = 128: 28 SMs did two) and T = 1 spreads over 5 SMs instead of 2.
//  * Programmatic dependent launch (enable_pdl): the index math runs before griddepcontrol.wait, every
//    global read after it.
// A tile's cos/sin rows staged in shared memory behind a __syncthreads, with 4 heads per thread (~120
// registers, 2 CTAs per SM), leaves too few threads to hide the latency, and a 2-D (token x unit) CTA
// layout with 32-bit index math is slower than this flat one (docs/perf-notes.md, RoPE).
//
// Positions outside [0, max_pos) are never used to index the cache: that token's rows stay as they
// are (and nothing of it is stored), and the first such (token, position, max_pos) since the last reset is
// recorded, with a count, in errors[kRopeBadPositions..] (may be null). A cache_loc outside [0, num_slots)
// is never written through: that token is rotated but not stored, and recorded in errors[kRopeBadCacheLocs..].
// The Python wrapper turns both into an error.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernelkit/core/cp_async.cuh"
#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit_ops/rope/apply_rope_with_cos_sin_cache_inplace.h"

namespace kernelkit {
namespace {

constexpr int kMaxThreads = 256;
// Grids of fewer threads than this (about 2 CTAs of 256 per SM of an H100) take kSmallCta-thread CTAs.
constexpr int64_t kSmallGridThreads = int64_t{kMaxThreads} * 264;
constexpr int kSmallCta = 64;
// Tokens from which a thread takes two heads instead of one.
constexpr int64_t kTwoHeadsFromTokens = 4096;

// n / d for any 32-bit n by a multiply-high, an add and a shift (Granlund & Montgomery, round-up variant
// with an N+1-bit sum): m = floor(2^32 (2^l - d) / d) + 1 with l = ceil(log2 d) fits 32 bits for d < 2^31.
struct FastDiv {
  uint32_t mul = 1, shift = 0;  // d = 1
  FastDiv() = default;
  explicit FastDiv(uint32_t d) {
    while ((uint64_t{1} << shift) < d) ++shift;
    mul = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const {
    return static_cast<uint32_t>((uint64_t{__umulhi(n, mul)} + n) >> shift);
  }
};

struct RopeParams {
  void* query;
  void* key;
  const void* positions;
  const float* cos_sin_cache;
  long long* errors;  // kRopeErrorFields: bad positions, then bad cache_locs; or null
  const void* value;  // the store (kStore instances only)
  void* k_buffer;
  void* v_buffer;
  const long long* cache_loc;
  int64_t num_tokens;
  int64_t max_pos;
  int64_t num_slots;
  int64_t q_token_stride, q_head_stride, k_token_stride, k_head_stride, cache_row_stride;
  int64_t v_token_stride, v_head_stride, kb_slot_stride, kb_head_stride, vb_slot_stride, vb_head_stride;
  bool cache_vec4;             // cos/sin loadable as float4
  int num_q_heads, num_heads;  // query heads come first, then key heads
  int rotary_dim;
  int chunks;       // chunks of P pairs per head: rotary_dim / 2 / P
  int tail_vecs;    // P-element vectors of a head past rotary_dim, copied by the store
  int head_groups;  // groups of HPT heads: ceil(num_heads / HPT)
  int64_t units;    // threads in all: num_tokens * head_groups * chunks
  bool index32;     // units fits 32-bit index math
  FastDiv div_chunks, div_groups;
};

template <typename T>
__device__ __forceinline__ T* head_ptr(const RopeParams& p, int64_t t, int h) {
  return h < p.num_q_heads ? static_cast<T*>(p.query) + t * p.q_token_stride + h * p.q_head_stride
                           : static_cast<T*>(p.key) + t * p.k_token_stride + (h - p.num_q_heads) * p.k_head_stride;
}

template <typename T>
__device__ __forceinline__ const T* value_ptr(const RopeParams& p, int64_t t, int kv_head) {
  return static_cast<const T*>(p.value) + t * p.v_token_stride + kv_head * p.v_head_stride;
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

// Keeps the first bad (token, value, bound) since the last reset at record[1..3]; later ones only count.
__device__ __forceinline__ void record_error(long long* record, int64_t t, int64_t value, int64_t bound) {
  if (atomicAdd(reinterpret_cast<unsigned long long*>(&record[0]), 1ull) == 0ull) {
    record[1] = t;
    record[2] = value;
    record[3] = bound;
  }
}

template <typename T, typename Pos, int P, bool kNeox, int HPT, bool kStaged, bool kStore>
__global__ void __launch_bounds__(kMaxThreads, kStaged ? (HPT == 1 ? 6 : 4) : 1) rope_kernel(const RopeParams p) {
  using V = Vec<T, P>;
  // Per head a thread stages x1 and x2 and, when storing, value's two vectors at the same offsets.
  constexpr int kSlots = kStore ? 4 : 2;
  __shared__ V stage[kStaged ? kSlots * HPT * kMaxThreads : 1];
  const int64_t u = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (u >= p.units) return;
  // u -> (token, head group, chunk). 64-bit division is a ~70-instruction routine and 32-bit division by a
  // runtime divisor ~20, all on the path to every thread's first load; multiply-shift when the index fits
  // 32 bits (below ~13M tokens for 40 heads; docs/perf-notes.md, RoPE).
  int c, group;
  int64_t t;
  if (p.index32) {
    const uint32_t u32 = static_cast<uint32_t>(u), rest = p.div_chunks.div(u32);
    c = static_cast<int>(u32 - rest * static_cast<uint32_t>(p.chunks));
    const uint32_t t32 = p.div_groups.div(rest);
    group = static_cast<int>(rest - t32 * static_cast<uint32_t>(p.head_groups));
    t = t32;
  } else {
    const int64_t rest = u / p.chunks;
    c = static_cast<int>(u - rest * p.chunks);
    group = static_cast<int>(rest % p.head_groups);
    t = rest / p.head_groups;
  }
  const int half = p.rotary_dim / 2;
  int off_a, off_b;
  chunk_offsets<P, kNeox>(c, half, off_a, off_b);
  // Everything above is parameter arithmetic; every input below may be the previous kernel's output.
  pdl_wait_then_launch_dependents();

  // The position -> cos/sin chain is the critical path: its load goes first.
  const int64_t pos = static_cast<int64_t>(__ldg(static_cast<const Pos*>(p.positions) + t));
  // Only threads holding key heads store (the last group of query heads may hold the first key heads).
  const bool stores = kStore && (group + 1) * HPT > p.num_q_heads;
  long long loc = 0;
  if (stores) loc = __ldg(p.cache_loc + t);

  V a[HPT], b[HPT], va[HPT], vb[HPT];  // va, vb: value's vectors (unstaged stores only)
#pragma unroll
  for (int k = 0; k < HPT; ++k) {  // q/k (and v) loads in flight (rows of a bad position are only read)
    const int h = group * HPT + k;
    if (h < p.num_heads) {
      const T* x = head_ptr<T>(p, t, h);
      if constexpr (kStaged) {
        cp_async_16(&stage[(kSlots * k) * kMaxThreads + threadIdx.x], x + off_a);
        cp_async_16(&stage[(kSlots * k + 1) * kMaxThreads + threadIdx.x], x + off_b);
      } else {
        a[k] = V::load(x + off_a);
        b[k] = V::load(x + off_b);
      }
      if constexpr (kStore) {
        if (h >= p.num_q_heads) {
          const T* v = value_ptr<T>(p, t, h - p.num_q_heads);
          if constexpr (kStaged) {
            cp_async_16(&stage[(kSlots * k + 2) * kMaxThreads + threadIdx.x], v + off_a);
            cp_async_16(&stage[(kSlots * k + 3) * kMaxThreads + threadIdx.x], v + off_b);
          } else {
            va[k] = V::load(v + off_a);
            vb[k] = V::load(v + off_b);
          }
        }
      }
    }
  }
  if (static_cast<uint64_t>(pos) >= static_cast<uint64_t>(p.max_pos)) {
    // Never used as an index; the token is neither rotated nor stored. One thread per token records it.
    if (group == 0 && c == 0 && p.errors != nullptr) record_error(p.errors + kRopeBadPositions, t, pos, p.max_pos);
    if constexpr (kStaged) cp_async_wait_all();
    return;
  }
  bool store_ok = stores;
  if constexpr (kStore) {
    if (stores && static_cast<unsigned long long>(loc) >= static_cast<unsigned long long>(p.num_slots)) {
      // Never written through; the token is still rotated. Recorded by the thread of the first key head.
      store_ok = false;
      if (c == 0 && group == p.num_q_heads / HPT && p.errors != nullptr)
        record_error(p.errors + kRopeBadCacheLocs, t, loc, p.num_slots);
    }
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
        a[k] = stage[(kSlots * k) * kMaxThreads + threadIdx.x];
        b[k] = stage[(kSlots * k + 1) * kMaxThreads + threadIdx.x];
      }
      V ra, rb;
#pragma unroll
      for (int j = 0; j < P; ++j) {
        const float x1 = pair_elem<V, P, kNeox>(a[k], b[k], j, false);
        const float x2 = pair_elem<V, P, kNeox>(a[k], b[k], j, true);
        // Explicit fma placement: left to the compiler, contraction can differ between the P=8 and the narrower
        // instantiations, and the fused store must give the same bits as the plain rotation at any alignment.
        set_pair<T, P, kNeox>(ra, rb, j, fmaf(x1, cs[j], -__fmul_rn(x2, sn[j])), fmaf(x2, cs[j], __fmul_rn(x1, sn[j])));
      }
      T* x = head_ptr<T>(p, t, h);
      ra.store(x + off_a);
      rb.store(x + off_b);
      if constexpr (kStore) {
        if (store_ok && h >= p.num_q_heads) {
          const int kv_head = h - p.num_q_heads;
          T* kb = static_cast<T*>(p.k_buffer) + loc * p.kb_slot_stride + kv_head * p.kb_head_stride;
          T* vbuf = static_cast<T*>(p.v_buffer) + loc * p.vb_slot_stride + kv_head * p.vb_head_stride;
          ra.store(kb + off_a);  // the rotated key, still in registers: the same bits as stored into key
          rb.store(kb + off_b);
          if constexpr (kStaged) {
            stage[(kSlots * k + 2) * kMaxThreads + threadIdx.x].store(vbuf + off_a);
            stage[(kSlots * k + 3) * kMaxThreads + threadIdx.x].store(vbuf + off_b);
          } else {
            va[k].store(vbuf + off_a);
            vb[k].store(vbuf + off_b);
          }
          // Dims past rotary_dim (none when rotary_dim == head_size): copied as they are, spread over the
          // head's chunk threads.
          const T* v = value_ptr<T>(p, t, kv_head);
          for (int j = c; j < p.tail_vecs; j += p.chunks) {
            const int off = p.rotary_dim + j * P;
            V::load(x + off).store(kb + off);
            V::load(v + off).store(vbuf + off);
          }
        }
      }
    }
  }
}

// fn(std::true_type{}) or fn(std::false_type{}): a runtime flag as a template argument.
template <typename Fn>
cudaError_t with_flag(bool flag, Fn&& fn) {
  return flag ? fn(std::true_type{}) : fn(std::false_type{});
}

}  // namespace

}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/rope/apply_rope_with_cos_sin_cache_inplace.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_apply_rope_with_cos_sin_cache_inplace(
    void* query, void* key, const void* positions, const float* cos_sin_cache, int64_t* errors, const RopeKvStore& kv,
    int64_t num_tokens, int64_t num_q_heads, int64_t num_k_heads, int64_t head_size, int64_t rotary_dim,
    int64_t q_token_stride, int64_t q_head_stride, int64_t k_token_stride, int64_t k_head_stride,
    int64_t cache_row_stride, int64_t max_pos, bool positions_int64, bool is_neox, bool enable_pdl, DType dtype,
    cudaStream_t stream) {
  const int64_t num_heads = num_q_heads + num_k_heads;
  if (num_tokens == 0 || num_heads == 0) return cudaSuccess;
  // The binding checks these with messages; here they only guard the index types.
  if (rotary_dim <= 0 || rotary_dim % 2 != 0 || rotary_dim > 2048 || rotary_dim > head_size || head_size > INT32_MAX ||
      num_heads > (int64_t{1} << 30) || num_tokens > INT32_MAX) {
    return cudaErrorInvalidValue;
  }
  const bool store = kv.value != nullptr && num_k_heads > 0;
  if (store && (kv.k_buffer == nullptr || kv.v_buffer == nullptr || kv.cache_loc == nullptr)) {
    return cudaErrorInvalidValue;
  }
  const int half = static_cast<int>(rotary_dim / 2);
  return dispatch_dtypes<DType::kBFloat16, DType::kFloat16>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // 16-byte vectors when every head's chunk starts 16-byte aligned; narrower otherwise. The store also
    // needs value's and the buffers' heads aligned, and the dims past rotary_dim whole vectors.
    const int vec =
        store ? pick_vec_width<T>({query, key, kv.value, kv.k_buffer, kv.v_buffer},
                                  {int64_t{half}, q_token_stride, q_head_stride, k_token_stride, k_head_stride,
                                   head_size, kv.value_token_stride, kv.value_head_stride, kv.k_buffer_slot_stride,
                                   kv.k_buffer_head_stride, kv.v_buffer_slot_stride, kv.v_buffer_head_stride})
              : pick_vec_width<T>({query, key},
                                  {int64_t{half}, q_token_stride, q_head_stride, k_token_stride, k_head_stride});
    return dispatch_vec_width(vec, [&](auto vec_c) {
      constexpr int P = decltype(vec_c)::value;
      RopeParams p{};
      p.query = query;
      p.key = key;
      p.positions = positions;
      p.cos_sin_cache = cos_sin_cache;
      p.errors = reinterpret_cast<long long*>(errors);
      p.num_tokens = num_tokens;
      p.max_pos = max_pos;
      p.q_token_stride = q_token_stride;
      p.q_head_stride = q_head_stride;
      p.k_token_stride = k_token_stride;
      p.k_head_stride = k_head_stride;
      p.cache_row_stride = cache_row_stride;
      if (store) {
        p.value = kv.value;
        p.k_buffer = kv.k_buffer;
        p.v_buffer = kv.v_buffer;
        p.cache_loc = reinterpret_cast<const long long*>(kv.cache_loc);
        p.num_slots = kv.num_slots;
        p.v_token_stride = kv.value_token_stride;
        p.v_head_stride = kv.value_head_stride;
        p.kb_slot_stride = kv.k_buffer_slot_stride;
        p.kb_head_stride = kv.k_buffer_head_stride;
        p.vb_slot_stride = kv.v_buffer_slot_stride;
        p.vb_head_stride = kv.v_buffer_head_stride;
        p.tail_vecs = static_cast<int>((head_size - rotary_dim) / P);
      }
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
        if (p.index32) {
          p.div_chunks = FastDiv(static_cast<uint32_t>(p.chunks));
          p.div_groups = FastDiv(static_cast<uint32_t>(p.head_groups));
        }
        const int threads = p.units >= kSmallGridThreads ? kMaxThreads : kSmallCta;
        const int64_t ctas = (p.units + threads - 1) / threads;
        if (ctas > INT32_MAX) return cudaErrorInvalidValue;
        const dim3 grid(static_cast<unsigned>(ctas)), block(threads);
        return with_flag(positions_int64, [&](auto pos64) {
          using Pos = std::conditional_t<decltype(pos64)::value, int64_t, int32_t>;
          return with_flag(is_neox, [&](auto neox) {
            auto launch = [&](auto store_c) {
              return launch_with_pdl(
                  rope_kernel<T, Pos, P, decltype(neox)::value, HPT, kStaged, decltype(store_c)::value>, grid, block, 0,
                  stream, enable_pdl, p);
            };
            if constexpr (HPT == 1) return with_flag(store, launch);
            return launch(std::false_type{});  // HPT = 2 never stores (below)
          });
        });
      };
      // With the store, a key thread already holds twice the bytes (k and v) in flight, and two heads of it
      // would spill at 4 CTAs per SM: one head per thread at every size.
      if (num_tokens >= kTwoHeadsFromTokens && !store) return go(std::integral_constant<int, 2>{});
      return go(std::integral_constant<int, 1>{});
    });
  });
}
