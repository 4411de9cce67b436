// store_kv_cache: scatter this step's K and V rows into the KV cache at their slots, k_cache[loc[t]] = k[t] and
// v_cache[loc[t]] = v[t], bit for bit (a row is bytes: any dtype, fp8 caches included).
//
// One pass, no arithmetic: each thread moves 16-byte words (narrower only where the row size, a stride or a base
// pointer is not 16-byte aligned). A block row (threadIdx.y) serves one token: its K words then its V words, so one
// token's 2 * row_bytes go out as one run of coalesced stores and no thread divides an index. Small rows pack
// several tokens per block. A slot outside [0, cache_rows) is skipped rather than written out of bounds (sgl-kernel
// leaves it undefined).
#include <algorithm>
#include <cstdint>

#include "kernelkit/core/pdl.cuh"
#include "kernelkit_ops/kvcache/store_kv_cache.h"

namespace kernelkit {
namespace {

struct StoreKvArgs {
  char* k_cache;
  char* v_cache;
  int64_t k_cache_stride, v_cache_stride, cache_rows;
  const void* loc;
  const char* k;
  const char* v;
  int64_t k_stride, v_stride, tokens;
  int64_t words_per_row;  // row_bytes / sizeof(W)
};

template <typename W, typename Idx>
__global__ void store_kv_cache_kernel(StoreKvArgs a) {
  pdl_wait_then_launch_dependents();  // before the first global access; a no-op without PDL
  const int64_t words = 2 * a.words_per_row;
  const Idx* loc = static_cast<const Idx*>(a.loc);
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; t < a.tokens;
       t += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t slot = static_cast<int64_t>(loc[t]);
    if (slot < 0 || slot >= a.cache_rows) continue;
    for (int64_t w = threadIdx.x; w < words; w += blockDim.x) {
      const bool is_v = w >= a.words_per_row;
      const int64_t col = (is_v ? w - a.words_per_row : w) * static_cast<int64_t>(sizeof(W));
      const char* src = is_v ? a.v + t * a.v_stride : a.k + t * a.k_stride;
      char* dst = is_v ? a.v_cache + slot * a.v_cache_stride : a.k_cache + slot * a.k_cache_stride;
      *reinterpret_cast<W*>(dst + col) = *reinterpret_cast<const W*>(src + col);
    }
  }
}

// Widest word (16, 8, 4, 2 or 1 bytes) dividing every size and stride and aligning every pointer.
int pick_word_bytes(std::initializer_list<const void*> ptrs, std::initializer_list<int64_t> sizes) {
  for (int bytes = 16; bytes > 1; bytes /= 2) {
    bool ok = true;
    for (const void* p : ptrs) ok = ok && reinterpret_cast<uintptr_t>(p) % bytes == 0;
    for (int64_t s : sizes) ok = ok && s % bytes == 0;
    if (ok) return bytes;
  }
  return 1;
}

template <typename W>
cudaError_t launch_words(StoreKvArgs a, int64_t row_bytes, bool loc_is_int64, bool enable_pdl, cudaStream_t stream) {
  a.words_per_row = row_bytes / static_cast<int64_t>(sizeof(W));
  const int64_t per_token = 2 * a.words_per_row;
  int bx = 32;  // a warp or more per token, up to 512 threads looping over longer rows
  while (bx < per_token && bx < 512) bx *= 2;
  const int by = std::max(1, 256 / bx);
  const int64_t blocks = std::min<int64_t>((a.tokens + by - 1) / by, int64_t{1} << 30);
  const dim3 grid(static_cast<unsigned>(blocks)), block(bx, by);
  return loc_is_int64 ? launch_with_pdl(store_kv_cache_kernel<W, int64_t>, grid, block, 0, stream, enable_pdl, a)
                      : launch_with_pdl(store_kv_cache_kernel<W, int32_t>, grid, block, 0, stream, enable_pdl, a);
}

}  // namespace
}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/kvcache/
// store_kv_cache.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_store_kv_cache(void* k_cache, void* v_cache, int64_t k_cache_stride,
                                             int64_t v_cache_stride, int64_t cache_rows, const void* loc,
                                             bool loc_is_int64, const void* k, const void* v, int64_t k_stride,
                                             int64_t v_stride, int64_t tokens, int64_t row_bytes, bool enable_pdl,
                                             cudaStream_t stream) {
  if (tokens == 0 || row_bytes == 0) return cudaSuccess;
  const StoreKvArgs a{
      static_cast<char*>(k_cache), static_cast<char*>(v_cache), k_cache_stride, v_cache_stride, cache_rows, loc,
      static_cast<const char*>(k), static_cast<const char*>(v), k_stride,       v_stride,       tokens,     0};
  switch (pick_word_bytes({k_cache, v_cache, k, v}, {row_bytes, k_cache_stride, v_cache_stride, k_stride, v_stride})) {
    case 16: return launch_words<uint4>(a, row_bytes, loc_is_int64, enable_pdl, stream);
    case 8: return launch_words<uint2>(a, row_bytes, loc_is_int64, enable_pdl, stream);
    case 4: return launch_words<uint32_t>(a, row_bytes, loc_is_int64, enable_pdl, stream);
    case 2: return launch_words<uint16_t>(a, row_bytes, loc_is_int64, enable_pdl, stream);
    default: return launch_words<uint8_t>(a, row_bytes, loc_is_int64, enable_pdl, stream);
  }
}
