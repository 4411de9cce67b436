// moe_align_block_size: sort the T*k (token, slot) entries of topk_ids by expert, pad each expert's run to a
// multiple of block_size, and say which expert owns each block (sgl-kernel's contract, see the header).
//
// Buckets: num_experts counts them, bucket b holds the entries whose id is b - 1, so id -1 (an expert another
// rank owns, in expert parallelism) has bucket 0 and its blocks get expert id -1; sgl-kernel's callers pass
// E + 1. Entries whose id has no bucket, and with ignore_invalid_expert every negative id, are dropped.
//
// One launch, one cluster of C CTAs (C = 1 for up to 4096 entries, up to 8), nothing in global memory but
// the inputs and the outputs:
//   1. every warp owns a contiguous run of entries and counts it into its own row of a shared-memory
//      histogram (match.any groups equal buckets, one shared atomic per group);
//   2. a column scan over the warps turns the rows into each warp's offset inside its CTA, the row sums
//      into the CTA's counts; after a cluster barrier every CTA reads all CTAs' counts through distributed
//      shared memory: the totals, and what the CTAs before it hold of each bucket;
//   3. every CTA scans the padded totals itself (the bucket starts, identical everywhere: no second
//      barrier), the cluster writes num_tokens_post_pad, cumsum_buffer, experts_ids (a binary search over
//      the starts per block) and the padding slots;
//   4. every warp walks its run again and scatters: position = bucket start + earlier CTAs + earlier warps
//      + earlier lanes of the same bucket (match.any again) + earlier rounds (a shared atomic per group).
// So each bucket's entries come out in ascending flat index (sgl-kernel leaves that order to its atomics),
// and the result is the same on every run.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "kernelkit/core/pdl.cuh"
#include "kernelkit_ops/moe/moe_align_block_size.h"

namespace kernelkit {
namespace {

namespace cg = cooperative_groups;

struct AlignArgs {
  const void* topk_ids;
  int numel;
  int num_buckets;
  int block_size;
  int seg;  // entries per warp, a multiple of 32
  int32_t* sorted;
  int sorted_len;
  int32_t* expert_ids;
  int32_t* total_out;
  int32_t* cumsum;
  bool pad;
  bool ignore_invalid;
};

constexpr int kUnroll = 4;            // rounds of 32 entries whose loads are issued together
constexpr int kEntriesPerCta = 4096;  // a cluster grows by one CTA per this many entries
constexpr int kMaxCluster = 8;        // portable cluster size
constexpr int kWideBuckets = 1025;    // up to here, 32 warps per CTA; beyond, 8 (the histogram rows)
constexpr unsigned kFull = 0xffffffffu;

// Shared ints: one histogram row per warp, then the CTA's counts, the counts of earlier CTAs, the totals,
// the starts (+1) and the scan's scratch.
constexpr int64_t smem_ints(int warps, int nb) { return int64_t(warps + 3) * nb + (nb + 1) + 33; }

template <typename IdT>
__device__ __forceinline__ int bucket_of(const IdT* ids, int j, int end, const AlignArgs& a) {
  if (j >= end) return -1;
  const int64_t id = static_cast<int64_t>(ids[j]);
  const bool valid = id >= (a.ignore_invalid ? 0 : -1) && id < a.num_buckets - 1;
  return valid ? static_cast<int>(id + 1) : -1;
}

template <typename IdT, int W>
__global__ void __launch_bounds__(W * 32) moe_align_kernel(AlignArgs a) {
  extern __shared__ int32_t smem[];
  const int nb = a.num_buckets;
  int32_t* hist = smem;               // [W][nb]
  int32_t* ccount = hist + W * nb;    // [nb] this CTA's counts (read by the other CTAs)
  int32_t* cpre = ccount + nb;        // [nb] entries of earlier CTAs per bucket
  int32_t* tot = cpre + nb;           // [nb] entries per bucket
  int32_t* start = tot + nb;          // [nb + 1] bucket starts, start[nb] = padded total
  int32_t* scratch = start + nb + 1;  // [33]
  constexpr int kThreads = W * 32;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int ncta = gridDim.x;  // the grid is one cluster
  const int rank = blockIdx.x;

  for (int i = tid; i < W * nb; i += kThreads) hist[i] = 0;  // before the wait: overlaps the previous kernel
  pdl_wait_then_launch_dependents();
  __syncthreads();

  const IdT* ids = static_cast<const IdT*>(a.topk_ids);
  const int wbeg = static_cast<int>(std::min<int64_t>(a.numel, int64_t(rank * W + warp) * a.seg));
  const int wend = static_cast<int>(std::min<int64_t>(a.numel, int64_t(wbeg) + a.seg));
  int32_t* row = hist + warp * nb;

  // 1. count this warp's run
  for (int base = wbeg; base < wend; base += 32 * kUnroll) {
    int b[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) b[u] = bucket_of(ids, base + u * 32 + lane, wend, a);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const unsigned peers = __match_any_sync(kFull, b[u]);
      if (b[u] >= 0 && lane == __ffs(peers) - 1) atomicAdd(&row[b[u]], __popc(peers));
    }
  }
  __syncthreads();

  // 2. per bucket: each warp's offset inside the CTA, and the CTA's count
  constexpr int kChunk = W < 16 ? W : 16;  // rows loaded before their stores: all in flight, no spills
  for (int e = tid; e < nb; e += kThreads) {
    int run = 0;
#pragma unroll
    for (int w0 = 0; w0 < W; w0 += kChunk) {
      int c[kChunk];
#pragma unroll
      for (int w = 0; w < kChunk; ++w) c[w] = hist[(w0 + w) * nb + e];
#pragma unroll
      for (int w = 0; w < kChunk; ++w) {
        hist[(w0 + w) * nb + e] = run;
        run += c[w];
      }
    }
    ccount[e] = run;
  }
  if (ncta > 1) {
    cg::this_cluster().sync();  // every CTA's counts are complete and visible
    const cg::cluster_group cluster = cg::this_cluster();
    for (int e = tid; e < nb; e += kThreads) {
      int total = 0, before = 0;
      for (int r = 0; r < ncta; ++r) {
        const int v = r == rank ? ccount[e] : cluster.map_shared_rank(ccount, r)[e];
        total += v;
        before += r < rank ? v : 0;
      }
      tot[e] = total;
      cpre[e] = before;
    }
    // This CTA is done reading the others' shared memory; each waits for all before it exits.
    asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
  } else {
    __syncthreads();
    for (int e = tid; e < nb; e += kThreads) {
      tot[e] = ccount[e];
      cpre[e] = 0;
    }
  }
  __syncthreads();

  // 3. bucket starts: an exclusive scan of the padded totals, each thread over a run of buckets
  const int bs = a.block_size;
  const int per = (nb + kThreads - 1) / kThreads;
  const int e0 = std::min(nb, tid * per), e1 = std::min(nb, e0 + per);
  int local = 0;
  for (int e = e0; e < e1; ++e) local += (tot[e] + bs - 1) / bs * bs;
  int incl = local;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) {
    const int n = __shfl_up_sync(kFull, incl, d);
    if (lane >= d) incl += n;
  }
  if (lane == 31) scratch[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const int v = lane < W ? scratch[lane] : 0;
    int s = v;
#pragma unroll
    for (int d = 1; d < 32; d *= 2) {
      const int n = __shfl_up_sync(kFull, s, d);
      if (lane >= d) s += n;
    }
    scratch[lane] = s - v;  // exclusive prefix of the warps' sums
  }
  __syncthreads();
  int run = scratch[warp] + incl - local;
  for (int e = e0; e < e1; ++e) {
    start[e] = run;
    run += (tot[e] + bs - 1) / bs * bs;
  }
  if (tid == kThreads - 1) start[nb] = run;
  __syncthreads();

  const int total = start[nb];
  const int gtid = rank * kThreads + tid;
  const int gthreads = ncta * kThreads;
  if (gtid == 0) *a.total_out = total;
  for (int e = gtid; e <= nb; e += gthreads) a.cumsum[e] = start[e];
  const int nblocks = total / bs;
  for (int blk = gtid; blk < nblocks; blk += gthreads) {
    const int pos = blk * bs;
    int lo = 0, hi = nb - 1;  // the last bucket starting at or before pos (empty buckets share starts)
    while (lo < hi) {
      const int mid = (lo + hi + 1) >> 1;
      if (start[mid] <= pos) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    a.expert_ids[blk] = lo - 1;
    if (a.pad) {  // only a bucket's last block has padding slots
      for (int p = std::max(pos, start[lo] + tot[lo]); p < pos + bs; ++p) a.sorted[p] = a.numel;
    }
  }
  if (a.pad) {
    for (int p = total + gtid; p < a.sorted_len; p += gthreads) a.sorted[p] = a.numel;
  }

  // 4. scatter: each warp's running position per bucket, from its offsets
  for (int e = tid; e < nb; e += kThreads) {
    const int base = start[e] + cpre[e];
#pragma unroll
    for (int w = 0; w < W; ++w) hist[w * nb + e] += base;
  }
  __syncthreads();
  const unsigned lanes_before = (1u << lane) - 1u;
  for (int base = wbeg; base < wend; base += 32 * kUnroll) {
    int b[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) b[u] = bucket_of(ids, base + u * 32 + lane, wend, a);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      // match.any also keeps the rounds in order: no lane passes it before every lane finished the last one.
      const unsigned peers = __match_any_sync(kFull, b[u]);
      if (b[u] >= 0) {
        const int leader = __ffs(peers) - 1;
        int off = 0;
        if (lane == leader) off = atomicAdd(&row[b[u]], __popc(peers));
        off = __shfl_sync(peers, off, leader);
        a.sorted[off + __popc(peers & lanes_before)] = base + u * 32 + lane;
      }
    }
  }
  if (ncta > 1) asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// Per device and instance: the largest cluster (of 8, 4, 2) the GPU schedules with this shared memory, or 1.
// Found once (occupancy queries cost microseconds), together with the shared-memory opt-in.
template <typename IdT, int W>
int max_cluster(int device, size_t smem, cudaError_t* err) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached[kMaxDevices] = {};
  if (device < 0 || device >= kMaxDevices) device = 0;
  int c = cached[device].load(std::memory_order_relaxed);
  if (c != 0) return c;
  auto kernel = moe_align_kernel<IdT, W>;
  int optin = 0;
  *err = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (*err != cudaSuccess) return 0;
  *err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin);
  if (*err != cudaSuccess) return 0;
  int major = 0;
  *err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (*err != cudaSuccess) return 0;
  c = 1;
  if (major >= 9) {
    for (int want = kMaxCluster; want > 1; want /= 2) {
      cudaLaunchConfig_t config = {};
      config.gridDim = dim3(want);
      config.blockDim = dim3(W * 32);
      config.dynamicSmemBytes = smem;
      cudaLaunchAttribute attr[1];
      attr[0].id = cudaLaunchAttributeClusterDimension;
      attr[0].val.clusterDim.x = want;
      attr[0].val.clusterDim.y = 1;
      attr[0].val.clusterDim.z = 1;
      config.attrs = attr;
      config.numAttrs = 1;
      int clusters = 0;
      if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &config) == cudaSuccess && clusters > 0) {
        c = want;
        break;
      }
      (void)cudaGetLastError();  // a refused query leaves no error behind for the launch
    }
  }
  // The largest shared memory any call uses is what was asked with: cache only for that worst case.
  cached[device].store(c, std::memory_order_relaxed);
  return c;
}

template <typename IdT, int W>
cudaError_t launch_typed(AlignArgs a, bool enable_pdl, cudaStream_t stream) {
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  // Probed with the most shared memory an instance can ask for, so the answer holds for every call.
  const size_t smem_max = size_t(smem_ints(W, W == 32 ? kWideBuckets : kMaxMoeAlignBuckets)) * 4;
  err = cudaSuccess;
  const int cmax = max_cluster<IdT, W>(device, smem_max, &err);
  if (err != cudaSuccess) return err;
  const int want = (a.numel + kEntriesPerCta - 1) / kEntriesPerCta;
  int ncta = 1;
  while (ncta < want && ncta < cmax) ncta *= 2;
  const int warps = ncta * W;
  a.seg = ((a.numel + warps - 1) / warps + 31) / 32 * 32;

  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(ncta);
  config.blockDim = dim3(W * 32);
  config.dynamicSmemBytes = size_t(smem_ints(W, a.num_buckets)) * 4;
  config.stream = stream;
  cudaLaunchAttribute attr[2];
  int n = 0;
  if (ncta > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = ncta;
    attr[n].val.clusterDim.y = 1;
    attr[n].val.clusterDim.z = 1;
    ++n;
  }
  if (enable_pdl) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  config.attrs = attr;
  config.numAttrs = n;
  return cudaLaunchKernelEx(&config, moe_align_kernel<IdT, W>, a);
}

}  // namespace
}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/moe/moe_align_block_size.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_moe_align_block_size(const void* topk_ids, bool ids_are_int64, int64_t numel,
                                                   int64_t num_experts, int64_t block_size, int32_t* sorted_token_ids,
                                                   int64_t sorted_len, int32_t* experts_ids,
                                                   int32_t* num_tokens_post_pad, int32_t* cumsum_buffer,
                                                   bool pad_sorted_token_ids, bool ignore_invalid_expert,
                                                   bool enable_pdl, cudaStream_t stream) {
  if (num_experts < 1 || num_experts > kMaxMoeAlignBuckets || block_size < 1 || numel < 0 ||
      numel + std::min(numel, num_experts) * (block_size - 1) >= (int64_t{1} << 31) || sorted_len >= (int64_t{1} << 31))
    return cudaErrorInvalidValue;
  const AlignArgs a{topk_ids,
                    static_cast<int>(numel),
                    static_cast<int>(num_experts),
                    static_cast<int>(block_size),
                    32,
                    sorted_token_ids,
                    static_cast<int>(sorted_len),
                    experts_ids,
                    num_tokens_post_pad,
                    cumsum_buffer,
                    pad_sorted_token_ids,
                    ignore_invalid_expert};
  const bool wide = num_experts <= kWideBuckets;
  if (ids_are_int64) {
    return wide ? launch_typed<int64_t, 32>(a, enable_pdl, stream) : launch_typed<int64_t, 8>(a, enable_pdl, stream);
  }
  return wide ? launch_typed<int32_t, 32>(a, enable_pdl, stream) : launch_typed<int32_t, 8>(a, enable_pdl, stream);
}
