// moe_align_block_size: sort the T*k (token, slot) entries of topk_ids by expert, pad each expert's run to a
// multiple of block_size, and say which expert owns each block (sgl-kernel's contract, see the header).
//
// Buckets: num_experts counts them, bucket b holds the entries whose id is b - 1, so id -1 (an expert another
// rank owns, in expert parallelism) has bucket 0 and its blocks get expert id -1; sgl-kernel's callers pass
// E + 1. Entries whose id has no bucket, and with ignore_invalid_expert every negative id, are dropped.
//
// One launch: one CTA up to 4096 entries, else one cluster of 2, 4 or 8 CTAs (4096 entries each; more past
// 32768), nothing in global memory but the inputs and the outputs:
//   1. every warp owns a contiguous run of entries, loaded 256 at a time (one load per lane per 32 entries,
//      all in flight; the first 256 stay in registers for step 5), and counts it into its own row of a
//      shared-memory histogram (match.any groups equal buckets, one shared atomic per group);
//   2. a column scan over the warps turns the rows into each warp's offset inside its CTA, the row sums into
//      the CTA's counts; in a cluster every CTA then reads all CTAs' counts through distributed shared memory
//      (one cluster barrier): the totals, and what the CTAs before it hold of each bucket;
//   3. one block scan gives the bucket starts (over the padded totals, identical in every CTA) and the
//      bucket starts inside this CTA's own entries;
//   4. the writes that need only the starts: num_tokens_post_pad, cumsum_buffer, experts_ids (a binary
//      search per block, the blocks split evenly over the CTAs), the padding of each bucket's last block
//      (one warp per bucket: its slots are contiguous, so the stores are too) and the tail;
//   5. every warp scatters its run: rank = earlier CTAs + earlier warps + earlier rounds (a shared atomic per
//      group) + earlier lanes of the same bucket (match.any again). The entries go to shared memory first, in this
//      CTA's bucket order, then out to sorted_token_ids in index order: a bucket's entries of one CTA are
//      one contiguous run there, so a warp's 32 stores touch a few lines, not 32 (when the staging area
//      does not fit the shared memory, the scatter goes straight to global memory).
// Each bucket's entries come out in ascending flat index (sgl-kernel leaves that order to its atomics), and
// the result is the same on every run.
//
// Why it is shaped this way (docs/perf-notes.md, moe_align_block_size): what costs time here is stores that
// scatter (one L2 request per 4-byte slot) and serial chains in one thread, not the arithmetic. An earlier
// version wrote each block's padding from one thread, up to 63 slots in a row, 32 different lines per warp
// store: 16k single-slot requests at T = 256, 20 µs of its 25.
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
  int seg;    // entries per warp, a multiple of 32
  int stage;  // staging slots per CTA (each CTA's entries); 0: scatter straight to global memory
  int32_t* sorted;
  int sorted_len;
  int32_t* expert_ids;
  int32_t* total_out;
  int32_t* cumsum;
  bool pad;
  bool ignore_invalid;
};

constexpr int kRounds = 8;            // rounds of 32 entries whose loads are issued together
constexpr int kChunk = 32 * kRounds;  // entries per warp held in registers at once
constexpr int kEntriesPerCta = 4096;  // one CTA up to here; a cluster grows by one CTA per this many
constexpr int kMaxCluster = 8;        // portable cluster size
constexpr int kWideBuckets = 1025;    // up to here, 16 warps per CTA; beyond, 8 (the histogram rows)
constexpr int kScratch = 2 * 32 + 2;  // the two scans' warp sums, then this CTA's entry count
constexpr unsigned kFull = 0xffffffffu;

// Shared ints: one histogram row per warp; the CTA's counts, the totals, the scatter bases, the starts inside
// the CTA, the bucket starts (+1); the scans' scratch; the staged entries and their positions.
constexpr int64_t smem_ints(int warps, int64_t nb, int64_t stage) {
  return int64_t(warps) * nb + 4 * nb + (nb + 1) + kScratch + 2 * stage;
}

template <typename IdT>
__device__ __forceinline__ int bucket_of(const IdT* ids, int j, int end, const AlignArgs& a) {
  if (j >= end) return -1;
  const int64_t id = static_cast<int64_t>(ids[j]);
  const bool valid = id >= (a.ignore_invalid ? 0 : -1) && id < a.num_buckets - 1;
  return valid ? static_cast<int>(id + 1) : -1;
}

// The buckets of entries base + u * 32 + lane, u < kRounds (-1: past end, or dropped); every load in flight.
template <typename IdT>
__device__ __forceinline__ void load_chunk(int (&b)[kRounds], const IdT* ids, int base, int end, int lane,
                                           const AlignArgs& a) {
#pragma unroll
  for (int u = 0; u < kRounds; ++u) b[u] = bucket_of(ids, base + u * 32 + lane, end, a);
}

__device__ __forceinline__ void count_chunk(const int (&b)[kRounds], int base, int end, int lane, int32_t* row) {
#pragma unroll
  for (int u = 0; u < kRounds; ++u) {
    if (base + u * 32 >= end) break;  // warp-uniform: no match.any on rounds past the run
    const unsigned peers = __match_any_sync(kFull, b[u]);
    if (b[u] >= 0 && lane == __ffs(peers) - 1) atomicAdd(&row[b[u]], __popc(peers));
  }
}

struct ScatterTo {
  int32_t* row;           // this warp's running offset per bucket inside its CTA
  const int32_t* gbase;   // per bucket: its start + what earlier CTAs hold of it
  const int32_t* lstart;  // per bucket: its start among this CTA's entries (staged only)
  int32_t* sval;
  int32_t* spos;
  int32_t* sorted;
  bool staged;
};

__device__ __forceinline__ void scatter_chunk(const int (&b)[kRounds], int base, int end, int lane,
                                              const ScatterTo& s) {
  const unsigned lanes_before = (1u << lane) - 1u;
#pragma unroll
  for (int u = 0; u < kRounds; ++u) {
    if (base + u * 32 >= end) break;
    // match.any also keeps the rounds in order: no lane passes it before every lane finished the last one.
    const unsigned peers = __match_any_sync(kFull, b[u]);
    if (b[u] >= 0) {
      const int leader = __ffs(peers) - 1;
      int off = 0;
      if (lane == leader) off = atomicAdd(&s.row[b[u]], __popc(peers));
      off = __shfl_sync(peers, off, leader) + __popc(peers & lanes_before);
      const int idx = base + u * 32 + lane;
      const int pos = s.gbase[b[u]] + off;
      if (s.staged) {
        const int l = s.lstart[b[u]] + off;
        s.sval[l] = idx;
        s.spos[l] = pos;
      } else {
        s.sorted[pos] = idx;
      }
    }
  }
}

template <typename IdT, int W>
__global__ void __launch_bounds__(W * 32) moe_align_kernel(AlignArgs a) {
  static_assert(W % 4 == 0, "the rows are cleared as int4");
  extern __shared__ __align__(16) int32_t smem[];
  const int nb = a.num_buckets;
  int32_t* rows = smem;               // [W][nb]
  int32_t* ccount = rows + W * nb;    // [nb] this CTA's counts (read by the other CTAs)
  int32_t* tot = ccount + nb;         // [nb] entries per bucket
  int32_t* gbase = tot + nb;          // [nb] entries of earlier CTAs per bucket, then + the bucket's start
  int32_t* lstart = gbase + nb;       // [nb] bucket starts among this CTA's entries
  int32_t* start = lstart + nb;       // [nb + 1] bucket starts, start[nb] = padded total
  int32_t* scratch = start + nb + 1;  // [kScratch]
  int32_t* sval = scratch + kScratch;
  int32_t* spos = sval + a.stage;
  constexpr int kThreads = W * 32;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int ncta = gridDim.x;  // the grid is one cluster
  const int rank = blockIdx.x;

  int4* rows4 = reinterpret_cast<int4*>(rows);
  for (int i = tid; i < W * nb / 4; i += kThreads) rows4[i] = make_int4(0, 0, 0, 0);  // overlaps the last kernel
  pdl_wait_then_launch_dependents();
  __syncthreads();

  const IdT* ids = static_cast<const IdT*>(a.topk_ids);
  const int wbeg = static_cast<int>(std::min<int64_t>(a.numel, int64_t(rank * W + warp) * a.seg));
  const int wend = static_cast<int>(std::min<int64_t>(a.numel, int64_t(wbeg) + a.seg));
  int32_t* row = rows + warp * nb;

  // 1. count this warp's run; its first chunk stays in registers for the scatter
  // (each chunk's loads go out before the last chunk is counted: one round trip to memory per chunk hidden)
  int first[kRounds], next[kRounds];
  load_chunk(first, ids, wbeg, wend, lane, a);
  load_chunk(next, ids, wbeg + kChunk, wend, lane, a);  // no loads past the run
  count_chunk(first, wbeg, wend, lane, row);
  for (int base = wbeg + kChunk; base < wend; base += kChunk) {
    int cur[kRounds];
#pragma unroll
    for (int u = 0; u < kRounds; ++u) cur[u] = next[u];
    load_chunk(next, ids, base + kChunk, wend, lane, a);
    count_chunk(cur, base, wend, lane, row);
  }
  __syncthreads();

  // 2. per bucket: each warp's offset inside the CTA, and the CTA's count
  for (int e = tid; e < nb; e += kThreads) {
    int c[W];
#pragma unroll
    for (int w = 0; w < W; ++w) c[w] = rows[w * nb + e];
    int run = 0;
#pragma unroll
    for (int w = 0; w < W; ++w) {
      rows[w * nb + e] = run;
      run += c[w];
    }
    ccount[e] = run;
  }
  if (ncta > 1) {
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();  // every CTA's counts are complete and visible
    for (int e = tid; e < nb; e += kThreads) {
      int v[kMaxCluster];
#pragma unroll
      for (int r = 0; r < kMaxCluster; ++r) v[r] = r < ncta ? cluster.map_shared_rank(ccount, r)[e] : 0;
      int total = 0, before = 0;
#pragma unroll
      for (int r = 0; r < kMaxCluster; ++r) {
        total += v[r];
        before += r < rank ? v[r] : 0;
      }
      tot[e] = total;
      gbase[e] = before;
    }
    // This CTA is done reading the others' shared memory; each waits for all before it exits.
    asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
  } else {
    for (int e = tid; e < nb; e += kThreads) {  // the same thread wrote ccount[e]
      tot[e] = ccount[e];
      gbase[e] = 0;
    }
  }
  __syncthreads();

  // 3. two exclusive scans at once, each thread over a run of buckets: the padded totals (the bucket starts)
  //    and this CTA's counts (where its buckets start among its own entries)
  const int bs = a.block_size;
  const int per = (nb + kThreads - 1) / kThreads;
  const int e0 = std::min(nb, tid * per), e1 = std::min(nb, e0 + per);
  int local_p = 0, local_c = 0;
  for (int e = e0; e < e1; ++e) {
    local_p += (tot[e] + bs - 1) / bs * bs;
    local_c += ccount[e];
  }
  int incl_p = local_p, incl_c = local_c;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) {
    const int np = __shfl_up_sync(kFull, incl_p, d);
    const int nc = __shfl_up_sync(kFull, incl_c, d);
    if (lane >= d) {
      incl_p += np;
      incl_c += nc;
    }
  }
  if (lane == 31) {
    scratch[warp] = incl_p;
    scratch[32 + warp] = incl_c;
  }
  __syncthreads();
  if (warp == 0) {
    const int vp = lane < W ? scratch[lane] : 0;
    const int vc = lane < W ? scratch[32 + lane] : 0;
    int sp = vp, sc = vc;
#pragma unroll
    for (int d = 1; d < 32; d *= 2) {
      const int np = __shfl_up_sync(kFull, sp, d);
      const int nc = __shfl_up_sync(kFull, sc, d);
      if (lane >= d) {
        sp += np;
        sc += nc;
      }
    }
    scratch[lane] = sp - vp;  // exclusive prefixes of the warps' sums
    scratch[32 + lane] = sc - vc;
  }
  __syncthreads();
  int run_p = scratch[warp] + incl_p - local_p;
  int run_c = scratch[32 + warp] + incl_c - local_c;
  for (int e = e0; e < e1; ++e) {
    start[e] = run_p;
    gbase[e] += run_p;
    lstart[e] = run_c;
    run_p += (tot[e] + bs - 1) / bs * bs;
    run_c += ccount[e];
  }
  if (tid == kThreads - 1) {
    start[nb] = run_p;
    scratch[64] = run_c;  // this CTA's entries
  }
  __syncthreads();

  // 4. everything that needs only the starts
  const int total = start[nb];
  const int gtid = rank * kThreads + tid;
  const int gthreads = ncta * kThreads;
  if (gtid == 0) *a.total_out = total;
  for (int e = gtid; e <= nb; e += gthreads) a.cumsum[e] = start[e];
  const int nblocks = total / bs;
  const int blocks_per_cta = (nblocks + ncta - 1) / ncta;
  const int blk_end = std::min(nblocks, (rank + 1) * blocks_per_cta);
  for (int blk = rank * blocks_per_cta + tid; blk < blk_end; blk += kThreads) {
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
  }
  if (a.pad) {
    // A bucket's padding is the end of its last block: contiguous slots, one warp writes them together, in
    // 32-slot windows aligned like the lines (one line per store).
    for (int e = rank * W + warp; e < nb; e += ncta * W) {
      const int from = start[e] + tot[e], end = start[e + 1];
      for (int p = (from & ~31) + lane; p < end; p += 32) {
        if (p >= from) a.sorted[p] = a.numel;
      }
    }
    for (int p = total + gtid; p < a.sorted_len; p += gthreads) a.sorted[p] = a.numel;
  }

  // 5. scatter this warp's run, in flat order: its first chunk from registers, the rest loaded again
  const ScatterTo s{row, gbase, lstart, sval, spos, a.sorted, a.stage > 0};
  load_chunk(next, ids, wbeg + kChunk, wend, lane, a);
  scatter_chunk(first, wbeg, wend, lane, s);
  for (int base = wbeg + kChunk; base < wend; base += kChunk) {
    int cur[kRounds];
#pragma unroll
    for (int u = 0; u < kRounds; ++u) cur[u] = next[u];
    load_chunk(next, ids, base + kChunk, wend, lane, a);
    scatter_chunk(cur, base, wend, lane, s);
  }
  if (a.stage > 0) {
    __syncthreads();
    // Consecutive staged entries of one bucket go to consecutive slots: the stores coalesce.
    const int n = scratch[64];
    for (int i = tid; i < n; i += kThreads) a.sorted[spos[i]] = sval[i];
  }
  if (ncta > 1) asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
}

struct DeviceLimits {
  int smem_optin;   // the most dynamic shared memory a CTA may ask for (this kernel's opt-in is set to it)
  int max_cluster;  // the largest cluster (of 8, 4, 2) the GPU schedules with that much, or 1
};

// Per device and instance, found once (occupancy queries cost microseconds), together with the opt-in.
template <typename IdT, int W>
DeviceLimits device_limits(int device, cudaError_t* err) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached_smem[kMaxDevices] = {};
  static std::atomic<int> cached_cluster[kMaxDevices] = {};
  if (device < 0 || device >= kMaxDevices) device = 0;
  const int c = cached_cluster[device].load(std::memory_order_acquire);
  if (c != 0) return {cached_smem[device].load(std::memory_order_relaxed), c};
  auto kernel = moe_align_kernel<IdT, W>;
  int optin = 0;
  *err = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (*err != cudaSuccess) return {};
  *err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin);
  if (*err != cudaSuccess) return {};
  int major = 0;
  *err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (*err != cudaSuccess) return {};
  int cluster = 1;
  if (major >= 9) {
    // Probed with the most shared memory any call asks for, so the answer holds for every call.
    for (int want = kMaxCluster; want > 1; want /= 2) {
      cudaLaunchConfig_t config = {};
      config.gridDim = dim3(want);
      config.blockDim = dim3(W * 32);
      config.dynamicSmemBytes = optin;
      cudaLaunchAttribute attr[1];
      attr[0].id = cudaLaunchAttributeClusterDimension;
      attr[0].val.clusterDim.x = want;
      attr[0].val.clusterDim.y = 1;
      attr[0].val.clusterDim.z = 1;
      config.attrs = attr;
      config.numAttrs = 1;
      int clusters = 0;
      if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &config) == cudaSuccess && clusters > 0) {
        cluster = want;
        break;
      }
      (void)cudaGetLastError();  // a refused query leaves no error behind for the launch
    }
  }
  cached_smem[device].store(optin, std::memory_order_relaxed);
  cached_cluster[device].store(cluster, std::memory_order_release);
  return {optin, cluster};
}

template <typename IdT, int W>
cudaError_t launch_typed(AlignArgs a, bool enable_pdl, cudaStream_t stream) {
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  err = cudaSuccess;
  const DeviceLimits lim = device_limits<IdT, W>(device, &err);
  if (err != cudaSuccess) return err;
  const int want = (a.numel + kEntriesPerCta - 1) / kEntriesPerCta;
  int ncta = 1;
  while (ncta < want && ncta < lim.max_cluster) ncta *= 2;
  const int warps = ncta * W;
  a.seg = ((a.numel + warps - 1) / warps + 31) / 32 * 32;
  // Stage each CTA's entries in shared memory when they fit next to the histograms.
  const int64_t per_cta = int64_t(W) * a.seg;
  const bool stage = smem_ints(W, a.num_buckets, per_cta) * 4 <= lim.smem_optin;
  a.stage = stage ? static_cast<int>(per_cta) : 0;

  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(ncta);
  config.blockDim = dim3(W * 32);
  config.dynamicSmemBytes = size_t(smem_ints(W, a.num_buckets, a.stage)) * 4;
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
  if (numel > INT32_MAX - 2 * kChunk) return cudaErrorInvalidValue;  // entry indices past a chunk stay in int
  const AlignArgs a{topk_ids,
                    static_cast<int>(numel),
                    static_cast<int>(num_experts),
                    static_cast<int>(block_size),
                    32,
                    0,
                    sorted_token_ids,
                    static_cast<int>(sorted_len),
                    experts_ids,
                    num_tokens_post_pad,
                    cumsum_buffer,
                    pad_sorted_token_ids,
                    ignore_invalid_expert};
  const bool wide = num_experts <= kWideBuckets;
  if (ids_are_int64) {
    return wide ? launch_typed<int64_t, 16>(a, enable_pdl, stream) : launch_typed<int64_t, 8>(a, enable_pdl, stream);
  }
  return wide ? launch_typed<int32_t, 16>(a, enable_pdl, stream) : launch_typed<int32_t, 8>(a, enable_pdl, stream);
}
