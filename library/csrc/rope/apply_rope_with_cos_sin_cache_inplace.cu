// apply_rope_with_cos_sin_cache_inplace: rotary position embedding (RoPE) of query and key, in place.
//
// For token t with p = positions[t], every head of query and key has its first rotary_dim dims
// rotated by the angles of row p of cos_sin_cache ([cos | sin], rotary_dim/2 floats each):
//   (x1, x2) -> (x1 * cos_i - x2 * sin_i, x2 * cos_i + x1 * sin_i)
// NeoX style pairs dim i with i + rotary_dim/2; GPT-J style (is_neox = false) pairs 2i with 2i+1.
// Dims past rotary_dim are neither read nor written.
//
// Memory-bound: each rotated element is read and written once, and each token's cos/sin row
// (rotary_dim floats) is read once. How the kernel keeps HBM busy:
//  * A thread owns one chunk of P pairs (P = 8 for bf16/fp16: two 16-byte vectors per head, the
//    chunk's x1 and x2 parts) in kHeadsPerThread heads of one token, and issues the loads of all
//    those heads before any math: 128 bytes in flight per thread. bf16 needs ~120 registers for
//    that, so 2 CTAs of 240 threads fit per SM: ~60 KB of reads in flight per SM, several times the
//    ~10 KB that HBM latency x bandwidth asks for on an H100 (capping registers lower spills).
//  * A CTA is a tile of tokens (blockDim.y) x all their heads (blockDim.x = chunks x head groups).
//    It stages its tokens' cos/sin rows in shared memory once; every head of the token reads its
//    P cos and P sin values from there, so the cache costs one global read per token, not per head.
//    The q/k loads are issued before that staging, so its latency hides under theirs.
//  * Few tokens (decode) get one token per CTA, so the grid still spreads over the SMs.
//
// Positions outside [0, max_pos) are never used to index the cache: that token's rows stay as they
// are, and the first such (token, position, max_pos) since the last reset is recorded, with a
// count, in position_errors (int64[4], may be null). The Python wrapper turns it into an error.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "kernelkit/dispatch.cuh"
#include "kernelkit/vec.cuh"

// The launcher's declaration lives in kernelkit_ops.h; it is not included here, so that `kernelkit new`
// (which edits that header) recompiles only the new kernel and the registration TU. A signature
// that disagrees with the declaration fails the link (-Wl,--no-undefined): C++ names carry types.

namespace kernelkit {
namespace {

// 4 heads x 2 vectors of 16 bytes in flight per thread; more raises registers, not bandwidth
// (1 head: 68 registers but a quarter of the bytes in flight per thread).
constexpr int kHeadsPerThread = 4;
// Threads per CTA the launcher aims for (tiles of tokens fill a CTA up to this).
constexpr int kTargetThreads = 256;
// Wide vectors carry the most registers per thread, so they get the tighter launch bound;
// narrow ones (odd shapes, misaligned views) may need up to 1024 threads for one head's chunks.
template <int P>
constexpr int max_threads() {
  return P >= 4 ? kTargetThreads : 1024;
}

struct RopeParams {
  void* query;
  void* key;
  const void* positions;
  const float* cos_sin_cache;
  long long* errors;  // [count, token, position, max_pos] or null
  int64_t num_tokens;
  int64_t max_pos;
  int64_t q_token_stride, q_head_stride, k_token_stride, k_head_stride, cache_row_stride;
  int num_q_heads, num_heads;  // query heads come first, then key heads
  int rotary_dim;
  int chunks;       // chunks of P pairs per head: rotary_dim / 2 / P
  int head_groups;  // groups of kHeadsPerThread heads: ceil(num_heads / kHeadsPerThread)
  int groups_per_block;  // head groups across blockDim.x; a thread strides over the rest
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

template <typename T, typename Pos, int P, bool kNeox>
__global__ void __launch_bounds__(max_threads<P>()) rope_kernel(const RopeParams p) {
  using V = Vec<T, P>;
  extern __shared__ float4 smem[];  // [blockDim.y][rotary_dim] cos|sin rows; float4 for alignment
  float* rows = reinterpret_cast<float*>(smem);

  const int half = p.rotary_dim / 2;
  const int c = threadIdx.x % p.chunks;
  int group = threadIdx.x / p.chunks;
  const int64_t tile = int64_t(blockIdx.x) * blockDim.y;
  const int64_t t = tile + threadIdx.y;
  const bool live = t < p.num_tokens;
  int off_a, off_b;
  chunk_offsets<P, kNeox>(c, half, off_a, off_b);

  // 1. This thread's first head group: loads in flight before anything else (rows of a token with
  //    a bad position are read too -- they are inside query/key -- but never written).
  V a[kHeadsPerThread], b[kHeadsPerThread];
  auto load_group = [&](int g) {
#pragma unroll
    for (int k = 0; k < kHeadsPerThread; ++k) {
      const int h = g * kHeadsPerThread + k;
      if (h < p.num_heads) {
        const T* x = head_ptr<T>(p, t, h);
        a[k] = V::load(x + off_a);
        b[k] = V::load(x + off_b);
      }
    }
  };
  if (live && group < p.head_groups) load_group(group);

  // 2. Stage the tile's cos/sin rows (scalar loads: coalesced, and no alignment asked of the cache).
  const int nthreads = blockDim.x * blockDim.y;
  const int tid = threadIdx.y * blockDim.x + threadIdx.x;
  for (int i = tid; i < int(blockDim.y) * p.rotary_dim; i += nthreads) {
    const int row = i / p.rotary_dim;
    const int64_t tt = tile + row;
    if (tt >= p.num_tokens) break;  // rows are in token order
    const int64_t pos = static_cast<int64_t>(static_cast<const Pos*>(p.positions)[tt]);
    if (static_cast<uint64_t>(pos) < static_cast<uint64_t>(p.max_pos)) {
      rows[i] = p.cos_sin_cache[pos * p.cache_row_stride + (i - row * p.rotary_dim)];
    }
  }
  int64_t pos = 0;
  if (live) pos = static_cast<int64_t>(static_cast<const Pos*>(p.positions)[t]);
  const bool valid = live && static_cast<uint64_t>(pos) < static_cast<uint64_t>(p.max_pos);
  if (live && !valid && threadIdx.x == 0 && p.errors != nullptr) {
    // The first bad token since the last reset is kept; later ones only count.
    if (atomicAdd(reinterpret_cast<unsigned long long*>(&p.errors[0]), 1ull) == 0ull) {
      p.errors[1] = t;
      p.errors[2] = pos;
      p.errors[3] = p.max_pos;
    }
  }
  __syncthreads();
  if (!valid || group >= p.head_groups) return;

  // 3. This chunk's cos/sin, read once from shared memory, reused for every head of the token.
  float cs[P], sn[P];
  const float* cs_row = rows + threadIdx.y * p.rotary_dim;
  if constexpr (P % 4 == 0) {  // rotary_dim % 8 == 0 and c * P % 4 == 0: float4-aligned
#pragma unroll
    for (int j = 0; j < P; j += 4) {
      const float4 cv = *reinterpret_cast<const float4*>(cs_row + c * P + j);
      const float4 sv = *reinterpret_cast<const float4*>(cs_row + half + c * P + j);
      cs[j] = cv.x, cs[j + 1] = cv.y, cs[j + 2] = cv.z, cs[j + 3] = cv.w;
      sn[j] = sv.x, sn[j + 1] = sv.y, sn[j + 2] = sv.z, sn[j + 3] = sv.w;
    }
  } else {
#pragma unroll
    for (int j = 0; j < P; ++j) {
      cs[j] = cs_row[c * P + j];
      sn[j] = cs_row[half + c * P + j];
    }
  }

  // 4. Rotate in fp32, round once, store; then the next head group if the head count outgrew the CTA.
  while (true) {
#pragma unroll
    for (int k = 0; k < kHeadsPerThread; ++k) {
      const int h = group * kHeadsPerThread + k;
      if (h < p.num_heads) {
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
    group += p.groups_per_block;
    if (group >= p.head_groups) break;
    load_group(group);
  }
}

// SMs of the current device, asked once per device (the binding has set the device).
int sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached[kMaxDevices] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) return 132;
  int n = cached[device].load(std::memory_order_relaxed);
  if (n == 0) {
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || n <= 0) n = 132;
    cached[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

}  // namespace

cudaError_t launch_apply_rope_with_cos_sin_cache_inplace(void* query, void* key, const void* positions,
                                                         const float* cos_sin_cache, int64_t* position_errors,
                                                         int64_t num_tokens, int64_t num_q_heads, int64_t num_k_heads,
                                                         int64_t rotary_dim, int64_t q_token_stride,
                                                         int64_t q_head_stride, int64_t k_token_stride,
                                                         int64_t k_head_stride, int64_t cache_row_stride,
                                                         int64_t max_pos, bool positions_int64, bool is_neox,
                                                         DType dtype, cudaStream_t stream) {
  const int64_t num_heads = num_q_heads + num_k_heads;
  if (num_tokens == 0 || num_heads == 0) return cudaSuccess;
  // The binding checks these with messages; here they only guard the index types and smem size.
  if (rotary_dim <= 0 || rotary_dim % 2 != 0 || rotary_dim > 2048 || num_heads > (int64_t{1} << 30) ||
      num_tokens > INT32_MAX) {
    return cudaErrorInvalidValue;
  }
  const int half = static_cast<int>(rotary_dim / 2);
  return dispatch_dtypes<DType::kBFloat16, DType::kFloat16>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // 16-byte vectors when every head's chunk starts 16-byte aligned; narrower otherwise.
    const int vec = pick_vec_width<T>({query, key}, {int64_t{half}, q_token_stride, q_head_stride, k_token_stride,
                                                     k_head_stride});
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
      p.head_groups = static_cast<int>((num_heads + kHeadsPerThread - 1) / kHeadsPerThread);
      // One row of the CTA covers a token's heads (all of them when they fit in kTargetThreads).
      p.groups_per_block = std::min(p.head_groups, std::max(1, kTargetThreads / p.chunks));
      const int bdx = p.chunks * p.groups_per_block;
      // Tokens per CTA: fill it up to kTargetThreads, but keep >= 2 CTAs per SM while tokens allow
      // (T = 128 gets 128 one-token CTAs, not 43 three-token ones).
      const int64_t per_cta = std::max<int64_t>(1, std::min<int64_t>(kTargetThreads / bdx, num_tokens / (2 * sm_count())));
      const int bdy = static_cast<int>(per_cta);
      const unsigned grid = static_cast<unsigned>((num_tokens + bdy - 1) / bdy);
      const size_t smem = sizeof(float) * static_cast<size_t>(bdy) * static_cast<size_t>(rotary_dim);  // <= 16 KiB
      const dim3 block(bdx, bdy);
      if (positions_int64) {
        if (is_neox) rope_kernel<T, int64_t, P, true><<<grid, block, smem, stream>>>(p);
        else rope_kernel<T, int64_t, P, false><<<grid, block, smem, stream>>>(p);
      } else {
        if (is_neox) rope_kernel<T, int32_t, P, true><<<grid, block, smem, stream>>>(p);
        else rope_kernel<T, int32_t, P, false><<<grid, block, smem, stream>>>(p);
      }
      return cudaGetLastError();
    });
  });
}

}  // namespace kernelkit
