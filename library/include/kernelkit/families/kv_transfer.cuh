// The kernel behind sgl-kernel's kvcacheio transfers: gather KV items from one cache layout and scatter them into
// another (layouts and addressing: kv_transfer_args.h), between device memory and pinned host memory (read and
// written through unified virtual addressing), bit for bit.
//
// Why it is shaped this way:
//   * Few CTAs. A hierarchical cache moves pages while the model runs; the copy must not take the GPU from it. The
//     grid is at most block_quota CTAs of warps_per_block warps (sgl-kernel's two knobs, same meaning), so the
//     transfer holds block_quota SMs and the rest keep computing.
//   * Many bytes in flight per SM. Across PCIe a load takes microseconds; with two SMs the link is only kept busy
//     if every thread has several independent loads outstanding. The whole transfer is one flat list of 16-byte
//     chunks (item x K/V x head x layer x chunk) that the threads stride through kUnroll chunks at a time, all
//     kUnroll loads issued before the first store, whatever the item size (sgl-kernel moves one 8-byte word per
//     thread at a time, one item per warp: a 256-byte item idles half the warp).
//   * Consecutive threads take consecutive chunks of one segment, so every warp access is one coalesced run, and
//     consecutive segments are one slot's layers (then heads, then K/V), adjacent in the page-first layouts the
//     host side usually has.
//   * The widest word every size, stride and known pointer allows (16, 8, 4, 2 or 1 bytes), so any item size
//     works (sgl-kernel: multiples of 8 only). Layer-table pointers are only known on the device: a chunk whose
//     addresses are not aligned to the word is copied in narrower pieces (correct for any table, fast for the
//     aligned ones every allocator gives).
//   * A slot outside its side's tensors (negative, or past the end where the binding knows the end) is skipped,
//     never read or written (sgl-kernel skips negatives in its lf/pf kernel and leaves the rest undefined).
// The flat index is 32-bit (decoded with multiply-shift division); a transfer of 2^31 chunks or more is split into
// several launches over the items.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit {
namespace kv_transfer_detail {

constexpr int kUnroll = 4;  // chunks in flight per thread: 4 x 16 B x 1024 threads = 64 KiB per SM
constexpr uint32_t kMaxChunks = 0x7fffffffu;

// n / d and n % d for n < 2^31 by a multiply and a shift (Granlund-Montgomery, round-up variant): the decode of a
// chunk index costs three divisions by runtime values, which would otherwise be ~20 instructions each.
struct FastDiv {
  uint32_t d, m, s;

  static FastDiv make(uint32_t d) {
    uint32_t s = 0;
    while ((uint64_t{1} << s) < d) ++s;  // ceil(log2(d)), d <= 2^31
    const uint64_t m = ((uint64_t{1} << 32) * ((uint64_t{1} << s) - d)) / d + 1;
    return {d, static_cast<uint32_t>(m), s};
  }
  __host__ __device__ __forceinline__ uint32_t div(uint32_t n) const {
#ifdef __CUDA_ARCH__
    const uint32_t hi = __umulhi(n, m);
#else
    const uint32_t hi = static_cast<uint32_t>((static_cast<uint64_t>(n) * m) >> 32);
#endif
    return (hi + n) >> s;  // hi <= n < 2^31: no overflow
  }
};

struct KvTransferParams {
  KvTransferArgs a;
  uint32_t total;     // chunks in this launch
  FastDiv chunks;     // chunks per segment
  FastDiv layers;     // num_layers
  FastDiv heads;      // head_num
  FastDiv page;       // page_size (ph)
  int64_t seg_bytes;  // item_bytes / head_num
};

// Address of segment (slot, layer, head) of one side's K or V buffer.
template <KvLayout L>
__device__ __forceinline__ const char* segment(const KvTransferParams& p, const void* buf, int64_t layout_dim,
                                               int64_t slot, int64_t layer, uint32_t head) {
  const char* base = static_cast<const char*>(buf);
  const int64_t seg = p.seg_bytes;
  if constexpr (L == KvLayout::kLayerFirst) {
    return base + slot * p.a.item_bytes + head * seg;
  } else if constexpr (L == KvLayout::kLayerTable) {
    const auto* table = static_cast<const uint64_t*>(buf);
    return reinterpret_cast<const char*>(__ldg(reinterpret_cast<const unsigned long long*>(table) + layer)) +
           slot * p.a.item_bytes + head * seg;
  } else if constexpr (L == KvLayout::kPageFirst) {
    return base + slot * layout_dim + layer * p.a.item_bytes + head * seg;
  } else {  // kPageHead: [pages, heads, page_size, layers, seg]; slot < 2^31 (binding)
    const uint32_t s = static_cast<uint32_t>(slot);
    const uint32_t page = p.page.div(s), in_page = s - page * p.page.d;
    const int64_t token_bytes = layout_dim / p.a.head_num;  // one head of one slot over all layers
    return base + static_cast<int64_t>(page) * p.a.page_size * layout_dim +
           static_cast<int64_t>(head) * p.a.page_size * token_bytes + static_cast<int64_t>(in_page) * token_bytes +
           layer * seg;
  }
}

// Finds chunk g's source and destination; false when its item is skipped.
template <KvLayout SRC, KvLayout DST, int NKV, typename W>
__device__ __forceinline__ bool locate(const KvTransferParams& p, uint32_t g, const char*& src, char*& dst) {
  const uint32_t r = p.chunks.div(g), c = g - r * p.chunks.d;  // segment, chunk within it
  const uint32_t t = p.layers.div(r), l = r - t * p.layers.d;  // layer innermost: one slot's layers adjacent
  const uint32_t u = p.heads.div(t), h = t - u * p.heads.d;
  const uint32_t kv = NKV == 2 ? (u & 1u) : 0u, item = NKV == 2 ? (u >> 1) : u;
  const int64_t s_slot = __ldg(reinterpret_cast<const long long*>(p.a.src_indices) + item);
  const int64_t d_slot = __ldg(reinterpret_cast<const long long*>(p.a.dst_indices) + item);
  if (s_slot < 0 || s_slot >= p.a.src.capacity || d_slot < 0 || d_slot >= p.a.dst.capacity) return false;
  const int64_t layer = p.a.layer_begin + l;
  const int64_t off = static_cast<int64_t>(c) * static_cast<int64_t>(sizeof(W));
  src = segment<SRC>(p, kv ? p.a.src.v : p.a.src.k, p.a.src.layout_dim, s_slot, layer, h) + off;
  dst = const_cast<char*>(segment<DST>(p, kv ? p.a.dst.v : p.a.dst.k, p.a.dst.layout_dim, d_slot, layer, h)) + off;
  return true;
}

template <typename W>
__device__ __forceinline__ W load_word(const char* p) {
  return __ldcs(reinterpret_cast<const W*>(p));  // streamed: every byte is read once
}
template <typename W>
__device__ __forceinline__ void store_word(char* p, W v) {
  __stcs(reinterpret_cast<W*>(p), v);
}

// The word at src to dst in the widest pieces their alignment allows (a misaligned layer-table pointer).
template <int BYTES>
__device__ __forceinline__ void copy_unaligned(char* dst, const char* src) {
  if constexpr (BYTES == 1) {
    *dst = *src;
  } else {
    using Half =
        std::conditional_t<BYTES == 16, uint2,
                           std::conditional_t<BYTES == 8, uint32_t, std::conditional_t<BYTES == 4, uint16_t, uint8_t>>>;
    static_assert(sizeof(Half) * 2 == BYTES, "a word is copied as two halves");
    constexpr int kHalf = BYTES / 2;
    if (((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) & (kHalf - 1)) == 0) {
      store_word<Half>(dst, load_word<Half>(src));
      store_word<Half>(dst + kHalf, load_word<Half>(src + kHalf));
    } else {
      copy_unaligned<kHalf>(dst, src);
      copy_unaligned<kHalf>(dst + kHalf, src + kHalf);
    }
  }
}

template <KvLayout SRC, KvLayout DST, int NKV, typename W>
__global__ void __launch_bounds__(1024) kv_transfer_kernel(const KvTransferParams p) {
  // Only a layer table's pointers can be misaligned: every other address is a multiple of the word by the host's
  // choice of W.
  constexpr bool kCheckAlign = SRC == KvLayout::kLayerTable || DST == KvLayout::kLayerTable;
  constexpr uintptr_t kMask = sizeof(W) - 1;
  const uint32_t block = blockDim.x;
  const uint32_t step = gridDim.x * block * kUnroll;  // < 2^31 + total: fits (launcher)
  for (uint32_t g0 = blockIdx.x * block * kUnroll + threadIdx.x; g0 < p.total; g0 += step) {
    const char* src[kUnroll];
    char* dst[kUnroll];
    bool live[kUnroll], aligned[kUnroll];
#pragma unroll
    for (int i = 0; i < kUnroll; ++i) {
      const uint32_t g = g0 + i * block;
      live[i] = g < p.total && locate<SRC, DST, NKV, W>(p, g, src[i], dst[i]);
      aligned[i] = !kCheckAlign || !live[i] ||
                   ((reinterpret_cast<uintptr_t>(src[i]) | reinterpret_cast<uintptr_t>(dst[i])) & kMask) == 0;
    }
    W v[kUnroll];
#pragma unroll
    for (int i = 0; i < kUnroll; ++i) {
      if (live[i] && aligned[i]) v[i] = load_word<W>(src[i]);  // all loads in flight before the first store
    }
#pragma unroll
    for (int i = 0; i < kUnroll; ++i) {
      if (!live[i]) continue;
      if (aligned[i]) {
        store_word<W>(dst[i], v[i]);
      } else {
        copy_unaligned<sizeof(W)>(dst[i], src[i]);
      }
    }
  }
}

// The widest word dividing every size and stride of the transfer and aligning every pointer the host knows.
inline int word_bytes(std::initializer_list<const void*> ptrs, std::initializer_list<int64_t> sizes) {
  for (int bytes = 16; bytes > 1; bytes /= 2) {
    bool ok = true;
    for (const void* q : ptrs) ok = ok && reinterpret_cast<uintptr_t>(q) % bytes == 0;
    for (int64_t s : sizes) ok = ok && s % bytes == 0;
    if (ok) return bytes;
  }
  return 1;
}

template <KvLayout L>
void side_terms(const KvTransferArgs& a, const KvSideArgs& s, const void* (&ptrs)[2], int64_t (&sizes)[4]) {
  const bool table = L == KvLayout::kLayerTable;
  ptrs[0] = table ? nullptr : s.k;  // table entries are checked on the device
  ptrs[1] = table ? nullptr : s.v;
  const int64_t d = L == KvLayout::kPageFirst || L == KvLayout::kPageHead ? s.layout_dim : 0;
  sizes[0] = a.item_bytes;
  sizes[1] = d;
  sizes[2] = L == KvLayout::kPageHead ? d / a.head_num : 0;
  sizes[3] = a.item_bytes / a.head_num;
}

template <KvLayout SRC, KvLayout DST, int NKV, typename W>
cudaError_t launch_words(const KvTransferArgs& a, cudaStream_t stream) {
  const int64_t seg = a.item_bytes / a.head_num;
  const int64_t chunks = seg / static_cast<int64_t>(sizeof(W));
  const int64_t per_item = chunks * a.head_num * a.num_layers * NKV;  // < 2^31 (binding)
  const int64_t items_per_launch = std::max<int64_t>(1, int64_t{kMaxChunks} / per_item);
  const int threads = static_cast<int>(a.warps_per_block) * 32;
  KvTransferParams p{a,
                     0,
                     FastDiv::make(static_cast<uint32_t>(chunks)),
                     FastDiv::make(static_cast<uint32_t>(a.num_layers)),
                     FastDiv::make(static_cast<uint32_t>(a.head_num)),
                     FastDiv::make(static_cast<uint32_t>(a.page_size)),
                     seg};
  for (int64_t first = 0; first < a.num_items; first += items_per_launch) {
    const int64_t items = std::min(items_per_launch, a.num_items - first);
    p.a.src_indices = a.src_indices + first;
    p.a.dst_indices = a.dst_indices + first;
    p.a.num_items = items;
    p.total = static_cast<uint32_t>(items * per_item);
    const int64_t per_block = int64_t{threads} * kUnroll;
    const int64_t blocks = std::min<int64_t>(a.block_quota, (p.total + per_block - 1) / per_block);
    kv_transfer_kernel<SRC, DST, NKV, W><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(p);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

}  // namespace kv_transfer_detail

// Launches the transfer `a` (validated by the binding: positive sizes, head_num divides item_bytes and layout_dim,
// fewer than 2^31 chunks per item, 1..32 warps); nothing for zero items or layers.
template <KvLayout SRC, KvLayout DST, int NKV>
cudaError_t launch_kv_transfer(const KvTransferArgs& a, cudaStream_t stream) {
  using namespace kv_transfer_detail;
  static_assert(NKV == 1 || NKV == 2, "K and V, or one MLA latent buffer");
  if (a.num_items == 0 || a.num_layers == 0) return cudaSuccess;
  const void* sp[2];
  const void* dp[2];
  int64_t ss[4], ds[4];
  side_terms<SRC>(a, a.src, sp, ss);
  side_terms<DST>(a, a.dst, dp, ds);
  // Every address term is a multiple of one of these (a page-head page, P * D, of D; its head block of D / H).
  switch (word_bytes({sp[0], sp[1], dp[0], dp[1]}, {ss[0], ss[1], ss[2], ss[3], ds[0], ds[1], ds[2], ds[3]})) {
    case 16: return launch_words<SRC, DST, NKV, uint4>(a, stream);
    case 8: return launch_words<SRC, DST, NKV, uint2>(a, stream);
    case 4: return launch_words<SRC, DST, NKV, uint32_t>(a, stream);
    case 2: return launch_words<SRC, DST, NKV, uint16_t>(a, stream);
    default: return launch_words<SRC, DST, NKV, uint8_t>(a, stream);
  }
}

}  // namespace kernelkit
