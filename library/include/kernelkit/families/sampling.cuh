// Row-on-chip kernels for the sampling ops (softmax, top-k/top-p renorm, top-k logit mask, the samplers).
//
// Every op here reads a row of a [rows, V] tensor, decides something about the whole row (its max, its k-th largest
// value, the value where its sorted cumulative mass reaches top_p) and then writes the row or one token. FlashInfer
// re-reads the row from memory for every decision (its rejection samplers make 2 passes per round, several rounds per
// row). Here the row is read from HBM once and kept on chip: a thread-block cluster of C CTAs (C <= 8) owns one row,
// each CTA holding a slice of at most 20480 fp32 values (80 KB, so two CTAs share an SM and one loads while the other
// computes) or, for vocabularies above 8 * 20480, up to 49152 values. Rows wider than 8 * 49152 values read their
// slice from global memory on every pass (still one kernel; later passes mostly hit L2).
//
// Decisions are cluster-wide: each CTA counts its slice into its own shared-memory histogram (32-bit local atomics),
// CTA r sums bin range r over the cluster (distributed shared memory reads), and every CTA walks the merged ranges to
// the same decision (integers, so bit for bit the same everywhere).
//
// Thresholds are found by radix select on the order-preserving 32-bit key of each float (3 digits: 11, 11, 10 bits):
//   top-k: the largest key L with #{key > L} < k <= #{key >= L}; kept = {key >= L}, so values tied with the k-th
//          largest are all kept (FlashInfer's rule: a token is kept when fewer than k values are strictly larger);
//   top-p: the largest level L whose cumulative mass from the top (inclusive) reaches top_p; kept = {key >= L}, i.e.
//          a token is kept when the mass of the values strictly larger than it is below top_p (FlashInfer's rule).
// Masses are summed in 64-bit fixed point (2^-40 units) with integer atomics, so decisions are bitwise reproducible.
//
// Sampling draws one uniform u (Philox4x32-10, keyed by the seed, counter (offset, output row)) and returns the token
// where the cumulative kept mass first reaches u * Q (Q = the kept mass): the mass is summed per thread, scanned across
// the block and across the cluster in a fixed order, and the thread/CTA whose interval holds u * Q searches its own
// values. Intervals of neighbours share their end points bit for bit, so exactly one thread owns each u.
#pragma once

#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"

namespace kernelkit::sampling {

namespace cg = cooperative_groups;

constexpr int kThreads = 512;  // 64 registers each: two CTAs per SM
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 2048;  // 11-bit digits
constexpr int kBinsPerThread = kBins / kThreads;
constexpr int kMaxCluster = 8;
constexpr int64_t kSmallSlice = 20480;  // 80 KB of fp32: two CTAs per SM
constexpr int64_t kLargeSlice = 49152;  // 192 KB: one CTA per SM
constexpr int64_t kMinSliceForSpread = 4096;

enum class RowOp : int {
  kSoftmax,
  kMaskTopK,
  kRenormTopK,
  kRenormTopP,
  kSampleTopK,
  kSampleTopP,
  kSampleMinP,
  kSampleTopKTopP,  // joint, or top-k first (RowParams::joint)
};

__host__ __device__ constexpr bool is_sampler(RowOp op) {
  return op == RowOp::kSampleTopK || op == RowOp::kSampleTopP || op == RowOp::kSampleMinP ||
         op == RowOp::kSampleTopKTopP;
}
__host__ __device__ constexpr bool needs_hist(RowOp op) { return op != RowOp::kSoftmax && op != RowOp::kSampleMinP; }

struct RowParams {
  const void* in;
  int64_t in_row_stride;
  int64_t num_in_rows;
  int64_t vocab;
  void* out;            // [rows, vocab] contiguous, or int32 samples [rows] for the samplers
  const void* indices;  // samplers: output row -> input row, or nullptr
  bool indices_int64;
  const int32_t* k_arr;  // per input row, or nullptr
  int64_t k_val;
  const float* f_arr;  // top_p / min_p / temperature per input row, or nullptr
  float f_val;
  bool joint;
  uint64_t seed;
  uint64_t offset;
  const int64_t* rng_state;  // [seed, offset] on the device (CUDA graphs), or nullptr
  int64_t slice;             // elements per CTA, a multiple of 8
  bool on_chip;
};

// ------------------------------------------------------------------------------------------------- primitives

// Order-preserving key of a float (-0 is folded into +0 so that equal values have equal keys).
__device__ __forceinline__ uint32_t key_of(float x) {
  const uint32_t u = __float_as_uint(x + 0.0f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Mass in 2^-40 units, clamped to [0, 127]: 32 of them summed per 20/27-bit halves fit 32-bit warp reductions.
__device__ __forceinline__ uint64_t fixed_mass(float x) {
  if (!(x > 0.0f)) return 0;
  return __float2ull_rn(fminf(x, 127.0f) * 1099511627776.0f);
}

// Philox4x32-10 (Salmon et al., SC'11): counter-based, so any (key, counter) gives its numbers without state.
__device__ __forceinline__ uint4 philox4x32_10(uint4 ctr, uint2 key) {
#pragma unroll
  for (int i = 0; i < 10; ++i) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, ctr.x), lo0 = 0xD2511F53u * ctr.x;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, ctr.z), lo1 = 0xCD9E8D57u * ctr.z;
    ctr = make_uint4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
    key.x += 0x9E3779B9u;
    key.y += 0xBB67AE85u;
  }
  return ctr;
}

// A uniform double in (0, 1] with 53 random bits, for (seed, offset, row).
__device__ __forceinline__ double uniform_open_closed(uint64_t seed, uint64_t offset, uint64_t row) {
  const uint4 r = philox4x32_10(make_uint4(static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32),
                                           static_cast<uint32_t>(row), static_cast<uint32_t>(row >> 32)),
                                make_uint2(static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)));
  const uint64_t bits = ((static_cast<uint64_t>(r.x) << 32) | r.y) >> 11;
  return (static_cast<double>(bits) + 1.0) * 0x1.0p-53;
}

// Inclusive scan over the block in thread order, in a fixed order of operations: within a warp a Hillis-Steele
// scan, warp prefixes added sequentially. Returns the exclusive and inclusive values with excl[t + 1] == incl[t]
// bit for bit (floating point too), and the block total (== incl of the last thread).
template <typename V>
struct ScanScratch {
  V warp_total[kWarps];
  V warp_prefix[kWarps + 1];
};

template <typename V>
__device__ __forceinline__ void block_scan(V x, V& excl, V& incl, V& total, ScanScratch<V>& s) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  V inc = x;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) {
    const V y = __shfl_up_sync(0xFFFFFFFFu, inc, d);
    if (lane >= d) inc = inc + y;
  }
  const V prev = __shfl_up_sync(0xFFFFFFFFu, inc, 1);
  if (lane == 31) s.warp_total[warp] = inc;
  __syncthreads();
  if (threadIdx.x == 0) {
    V acc = V(0);
    s.warp_prefix[0] = acc;
    for (int w = 0; w < kWarps; ++w) {
      acc = acc + s.warp_total[w];
      s.warp_prefix[w + 1] = acc;
    }
  }
  __syncthreads();
  const V wp = s.warp_prefix[warp];
  excl = lane == 0 ? wp : wp + prev;
  incl = wp + inc;
  total = s.warp_prefix[kWarps];
  __syncthreads();  // s is reused by the next scan
}

__device__ __forceinline__ float block_max_f(float v, float* scratch) {
#pragma unroll
  for (int d = 16; d > 0; d /= 2) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, d));
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  v = scratch[0];
  for (int w = 1; w < kWarps; ++w) v = fmaxf(v, scratch[w]);
  __syncthreads();
  return v;
}

// ------------------------------------------------------------------------------------------------- shared memory

// Each CTA's own histogram of its slice. 32-bit arrays only: shared-memory 32-bit atomics are native (ATOMS.ADD),
// 64-bit ones compile to a compare-and-swap loop, and remote (distributed shared memory) atomics into one CTA
// serialise the whole cluster on one SM. The 64-bit fixed-point mass is kept as two words: the low word's atomic
// returns the old value, and its carry goes into the high word (exact, order-independent).
struct Hist {
  uint32_t count[kBins];
  uint32_t mass_lo[kBins];
  uint32_t mass_hi[kBins];
};

// Bins [r * range, (r + 1) * range) of the cluster's histogram, summed over the cluster, live in CTA r (clusters of
// two or more CTAs; a single CTA walks its own histogram).
__host__ __device__ constexpr int hist_range(int csize) { return csize <= 1 ? 0 : (kBins + csize - 1) / csize; }
__host__ __device__ constexpr size_t merged_bytes(int csize) {
  return ((static_cast<size_t>(hist_range(csize)) * 12 + 15) / 16) * 16;
}

struct SelectState {
  uint32_t prefix;    // key bits chosen so far (the threshold key once done)
  uint32_t keep_all;  // the row has fewer than `need`: no threshold
  uint32_t done;
  uint32_t pad;
  unsigned long long need;        // count or fixed-point mass still to reach inside the current prefix
  unsigned long long mass_above;  // fixed-point mass strictly above the current prefix
  unsigned long long level_mass;  // fixed-point mass of the chosen bin
  unsigned long long total_mass;  // fixed-point mass of every candidate (round 0)
};

struct Control {
  SelectState state;   // this CTA's copy of the cluster's decision
  SelectState result;  // rank 0: the decision being made
  uint32_t found;
  float slot_max[kMaxCluster];   // rank 0: one per CTA
  double slot_sum[kMaxCluster];  // rank 0: one per CTA
  float slot_sum_f[kMaxCluster];
  float red_f[kWarps];
  ScanScratch<double> scan_d;
  ScanScratch<uint32_t> scan_u;
  ScanScratch<unsigned long long> scan_m;
};

template <RowOp OP>
__host__ __device__ constexpr size_t fixed_smem() {
  return ((sizeof(Control) + 15) / 16) * 16 + (needs_hist(OP) ? sizeof(Hist) : 0);
}
// Control, histogram and merged bin range: everything before the row slice.
template <RowOp OP>
__host__ __device__ constexpr size_t head_smem(int csize) {
  return fixed_smem<OP>() + (needs_hist(OP) ? merged_bytes(csize) : 0);
}

// Split cluster barrier: the arrive (release: this CTA's shared-memory writes and remote reads are done) goes right
// after the last access to another CTA's shared memory, the wait just before exit, so the final write pass neither
// waits for the slowest CTA nor drains its global stores (a release fence) before the barrier.
__device__ __forceinline__ void cluster_arrive() {
  asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
}
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory"); }

// ------------------------------------------------------------------------------------------------- the row slice

// This CTA's slice of the row: on chip (smem != nullptr) or read from global memory on every pass.
template <typename T>
struct Slice {
  const float* smem;
  const T* gmem;
  int64_t n;

  __device__ __forceinline__ int64_t iters() const { return ((n + 3) / 4 + kThreads - 1) / kThreads; }

  // Chunk c = elements [4c, 4c + 4); returns how many of them exist (<= 0: none).
  __device__ __forceinline__ int chunk(int64_t c, float (&x)[4]) const {
    const int64_t i = c * 4;
    const int valid = static_cast<int>(min(n - i, int64_t{4}));
    if (smem != nullptr && valid == 4) {
      const float4 v = *reinterpret_cast<const float4*>(smem + i);
      x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
      return 4;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) x[j] = j < valid ? (smem ? smem[i + j] : to_float(gmem[i + j])) : 0.0f;
    return valid;
  }
};

// ------------------------------------------------------------------------------------------------- radix select

// Digits of the 32-bit key, most significant first: bits 31..21, 20..10, 9..0.
__device__ __forceinline__ int digit_shift(int round) { return round == 0 ? 21 : (round == 1 ? 10 : 0); }
__device__ __forceinline__ int digit_bits(int round) { return round == 2 ? 10 : 11; }
__device__ __forceinline__ uint32_t prefix_mask(int round) {
  return round == 0 ? 0u : (round == 1 ? 0xFFE00000u : 0xFFFFFC00u);
}

// Adds this CTA's candidates (key >= min_key, matching the chosen prefix) to its own histogram.
template <typename T, bool kMass>
__device__ __forceinline__ void hist_pass(const Slice<T>& s, Hist* hist, int round, uint32_t prefix, uint32_t min_key) {
  const int shift = digit_shift(round);
  const uint32_t bmask = (1u << digit_bits(round)) - 1u, pmask = prefix_mask(round);
  const int64_t iters = s.iters();
  for (int64_t it = 0; it < iters; ++it) {
    float x[4];
    const int valid = s.chunk(it * kThreads + threadIdx.x, x);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t key = key_of(x[j]);
      if (j < valid && key >= min_key && (key & pmask) == prefix) {
        const uint32_t bin = (key >> shift) & bmask;
        atomicAdd(&hist->count[bin], 1u);
        if constexpr (kMass) {
          const unsigned long long m = fixed_mass(x[j]);
          const uint32_t lo = static_cast<uint32_t>(m);
          const uint32_t old = atomicAdd(&hist->mass_lo[bin], lo);
          // m < 2^47: hi + carry <= 2^15, so on-chip slices (< 2^16 values) cannot overflow the high word; wider
          // off-chip slices cannot either while the values are probabilities (<= 1: hi <= 2^8).
          const uint32_t hi = static_cast<uint32_t>(m >> 32) + (old + lo < old ? 1u : 0u);
          if (hi != 0u) atomicAdd(&hist->mass_hi[bin], hi);
        }
      }
    }
  }
}

// Cluster of two or more: CTA r sums bins [r * range, (r + 1) * range) over every CTA's histogram into its merged
// arrays and zeroes what it read (nobody else reads those bins), so every histogram is clear for the next round.
template <bool kMass>
__device__ __forceinline__ void merge_range(Hist* hist, uint32_t* mcount, unsigned long long* mmass,
                                            cg::cluster_group& cluster) {
  const int csize = static_cast<int>(cluster.num_blocks()), range = hist_range(csize);
  const int base = static_cast<int>(cluster.block_rank()) * range;
  for (int i = threadIdx.x; i < range; i += kThreads) {
    const int b = base + i;
    uint32_t c = 0;
    unsigned long long lo = 0, hi = 0;
    if (b < kBins) {
      for (int q = 0; q < csize; ++q) {
        Hist* h = cluster.map_shared_rank(hist, q);
        c += h->count[b];
        h->count[b] = 0;
        if constexpr (kMass) {
          lo += h->mass_lo[b];
          hi += h->mass_hi[b];
          h->mass_lo[b] = 0;
          h->mass_hi[b] = 0;
        }
      }
    }
    mcount[i] = c;
    mmass[i] = (hi << 32) + lo;
  }
}

// Every CTA (the same integers in the same order, so the same decision): finds the bin where the cumulative count
// (or mass) from the top reaches `need` and records it in its own state. Clusters read the merged ranges (their
// owners wrote them before the last cluster barrier); a single CTA reads its histogram and clears it.
template <bool kByMass>
__device__ __forceinline__ void walk(Hist* hist, uint32_t* mcount, unsigned long long* mmass, Control& ctl, int round,
                                     cg::cluster_group& cluster) {
  const int nb = 1 << digit_bits(round);
  const int t = threadIdx.x;
  const int csize = static_cast<int>(cluster.num_blocks()), range = hist_range(csize);
  // Thread t holds kBinsPerThread consecutive bins in descending order: b = nb - 1 - (t * kBinsPerThread + j).
  uint32_t c[kBinsPerThread];
  unsigned long long m[kBinsPerThread];
  uint32_t csum = 0;
  unsigned long long msum = 0;
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    const int b = nb - 1 - (t * kBinsPerThread + j);
    c[j] = 0u;
    m[j] = 0ull;
    if (b >= 0) {
      if (csize == 1) {
        c[j] = hist->count[b];
        m[j] = (static_cast<unsigned long long>(hist->mass_hi[b]) << 32) + hist->mass_lo[b];
      } else {
        const int owner = b / range, i = b - owner * range;
        c[j] = cluster.map_shared_rank(mcount, owner)[i];
        m[j] = cluster.map_shared_rank(mmass, owner)[i];
      }
    }
    csum += c[j];
    msum += m[j];
  }
  if (t == 0) ctl.found = 0;
  uint32_t cex, cin, ctot;  // cin, ctot and min_ unused: the walk needs exclusive prefixes and the total mass
  unsigned long long mex, min_, mtot;
  block_scan<uint32_t>(csum, cex, cin, ctot, ctl.scan_u);
  block_scan<unsigned long long>(msum, mex, min_, mtot, ctl.scan_m);
  const SelectState st = ctl.state;
  uint32_t above_c = cex;
  unsigned long long above_m = mex;
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    const int b = nb - 1 - (t * kBinsPerThread + j);
    const unsigned long long acc = kByMass ? above_m : above_c, v = kByMass ? m[j] : c[j];
    if (b >= 0 && acc < st.need && st.need <= acc + v) {  // exactly one bin of the block
      SelectState r = st;
      const unsigned long long need = st.need - acc;
      r.prefix = st.prefix | (static_cast<uint32_t>(b) << digit_shift(round));
      r.need = need;
      r.mass_above = st.mass_above + above_m;
      r.level_mass = m[j];
      r.done = (round == 2 || need == v) ? 1u : 0u;
      if (round == 0) r.total_mass = mtot;
      ctl.result = r;
      ctl.found = 1;
    }
    above_c += c[j];
    above_m += m[j];
  }
  __syncthreads();
  if (t == 0) {
    if (ctl.found == 0) {  // fewer candidates than `need`: everything is kept
      SelectState r = st;
      r.keep_all = 1;
      r.done = 1;
      r.prefix = 0;
      if (round == 0) r.total_mass = mtot;
      ctl.result = r;
    }
    ctl.state = ctl.result;
  }
  if (csize == 1) {
    for (int b = t; b < kBins; b += kThreads) hist->count[b] = 0, hist->mass_lo[b] = 0, hist->mass_hi[b] = 0;
  }
  __syncthreads();
}

// Radix select over the cluster's row; `ctl.state` must be initialised (need set, the rest 0) by every CTA and every
// CTA's histogram clear. Returns with every CTA's ctl.state holding the decision and every histogram clear again.
// Per round: one pass over the slice with local atomics, then (clusters) barrier, merge of this CTA's bin range,
// barrier, and the same walk in every CTA (no broadcast of the decision, no third barrier).
template <typename T, bool kByMass, bool kMass>
__device__ __forceinline__ void radix_select(const Slice<T>& s, Hist* hist, uint32_t* mcount, unsigned long long* mmass,
                                             Control& ctl, uint32_t min_key, cg::cluster_group& cluster) {
  constexpr bool kAnyMass = kMass || kByMass;
  for (int round = 0; round < 3; ++round) {
    const SelectState st = ctl.state;
    if (st.done) break;
    hist_pass<T, kAnyMass>(s, hist, round, st.prefix, min_key);
    if (cluster.num_blocks() > 1) {
      cluster.sync();  // every slice counted
      merge_range<kAnyMass>(hist, mcount, mmass, cluster);
      cluster.sync();  // every range merged (and every histogram cleared)
    } else {
      __syncthreads();
    }
    walk<kByMass>(hist, mcount, mmass, ctl, round, cluster);
  }
}

__device__ __forceinline__ void init_state(Control& ctl, unsigned long long need) {
  if (threadIdx.x == 0) {
    SelectState s{};
    s.need = need;
    ctl.state = s;
  }
  __syncthreads();
}

// Fixed-point top-p budget (at least one unit, so the top level is always kept).
__device__ __forceinline__ unsigned long long mass_budget(double top_p, double scale_units) {
  const double b = top_p * scale_units;
  return b < 1.0 ? 1ull : static_cast<unsigned long long>(b);
}

// ------------------------------------------------------------------------------------------------- cluster sums

// Sum over the cluster of one double per CTA, in rank order (every CTA gets the same bits), and this CTA's prefix.
__device__ __forceinline__ void cluster_prefix(double mine, Control& ctl, cg::cluster_group& cluster, double& prefix,
                                               double& total) {
  const unsigned rank = cluster.block_rank();
  if (threadIdx.x == 0) *cluster.map_shared_rank(&ctl.slot_sum[rank], 0) = mine;
  cluster.sync();
  const double* slots = cluster.map_shared_rank(ctl.slot_sum, 0);
  double acc = 0.0, pre = 0.0;
  for (unsigned r = 0; r < cluster.num_blocks(); ++r) {
    if (r == rank) pre = acc;
    acc = acc + slots[r];
  }
  prefix = pre;
  total = acc;
}

__device__ __forceinline__ float cluster_max(float mine, Control& ctl, cg::cluster_group& cluster) {
  if (threadIdx.x == 0) *cluster.map_shared_rank(&ctl.slot_max[cluster.block_rank()], 0) = mine;
  cluster.sync();
  const float* slots = cluster.map_shared_rank(ctl.slot_max, 0);
  float m = slots[0];
  for (unsigned r = 1; r < cluster.num_blocks(); ++r) m = fmaxf(m, slots[r]);
  return m;
}

__device__ __forceinline__ float cluster_sum_f(float mine, Control& ctl, cg::cluster_group& cluster) {
  if (threadIdx.x == 0) *cluster.map_shared_rank(&ctl.slot_sum_f[cluster.block_rank()], 0) = mine;
  cluster.sync();
  const float* slots = cluster.map_shared_rank(ctl.slot_sum_f, 0);
  float s = 0.0f;
  for (unsigned r = 0; r < cluster.num_blocks(); ++r) s += slots[r];
  return s;
}

// ------------------------------------------------------------------------------------------------- the kernel

template <typename T>
__device__ __forceinline__ int64_t input_row(const RowParams& p, int64_t out_row) {
  if (p.indices == nullptr) return out_row;
  return p.indices_int64 ? static_cast<const int64_t*>(p.indices)[out_row]
                         : static_cast<int64_t>(static_cast<const int32_t*>(p.indices)[out_row]);
}

// Copies this CTA's slice to shared memory (VEC elements of T per 16-byte access, or scalars).
template <typename T, int VEC>
__device__ __forceinline__ void load_slice(float* dst, const T* src, int64_t n) {
  if constexpr (VEC > 1 && std::is_same_v<T, float>) {
    // fp32 needs no conversion: every 16-byte piece of the slice is put in flight at once (cp.async, L2 only, no
    // registers), so the slice arrives after one memory latency instead of one per batch of loads.
    const int64_t nv = n / 4;
    const uint32_t dst_s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
    for (int64_t i = threadIdx.x; i < nv; i += kThreads) {
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst_s + static_cast<uint32_t>(i * 16)),
                   "l"(src + i * 4)
                   : "memory");
    }
    asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
  } else if constexpr (VEC > 1) {
    const int64_t nv = n / VEC;  // n is a multiple of VEC (slices are multiples of 8, V of VEC)
    constexpr int kUnroll = 4;
    for (int64_t base = threadIdx.x; base < nv; base += int64_t{kThreads} * kUnroll) {
      Vec<T, VEC> v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t i = base + u * kThreads;
        if (i < nv) v[u] = Vec<T, VEC>::load(src + i * VEC);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t i = base + u * kThreads;
        if (i < nv) {
#pragma unroll
          for (int j = 0; j < VEC; j += 4) {
            *reinterpret_cast<float4*>(dst + i * VEC + j) =
                make_float4(to_float(v[u][j]), to_float(v[u][j + 1]), to_float(v[u][j + 2]), to_float(v[u][j + 3]));
          }
        }
      }
    }
  } else {
    for (int64_t i = threadIdx.x; i < n; i += kThreads) dst[i] = to_float(src[i]);
  }
}

template <RowOp OP, typename T, int VEC>
__global__ void __launch_bounds__(kThreads, 2) row_kernel(RowParams p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  cg::cluster_group cluster = cg::this_cluster();
  Control& ctl = *reinterpret_cast<Control*>(smem_raw);
  constexpr size_t kCtlBytes = ((sizeof(Control) + 15) / 16) * 16;
  Hist* hist = needs_hist(OP) ? reinterpret_cast<Hist*>(smem_raw + kCtlBytes) : nullptr;
  const unsigned csize = cluster.num_blocks(), rank = cluster.block_rank();
  // Merged bin range (clusters): hist_range(csize) 64-bit masses, then as many 32-bit counts.
  unsigned long long* mmass = reinterpret_cast<unsigned long long*>(smem_raw + fixed_smem<OP>());
  uint32_t* mcount = reinterpret_cast<uint32_t*>(mmass + hist_range(static_cast<int>(csize)));
  float* data = reinterpret_cast<float*>(smem_raw + head_smem<OP>(static_cast<int>(csize)));

  const int64_t out_row = blockIdx.x / csize;
  pdl_wait_then_launch_dependents();

  const int64_t row = input_row<T>(p, out_row);
  const bool row_ok = row >= 0 && row < p.num_in_rows;
  const int64_t start = static_cast<int64_t>(rank) * p.slice;
  const int64_t n = row_ok ? max(int64_t{0}, min(p.vocab - start, p.slice)) : 0;
  const T* src = static_cast<const T*>(p.in) + (row_ok ? row : 0) * p.in_row_stride + start;
  if (p.on_chip) load_slice<T, VEC>(data, src, n);
  if constexpr (needs_hist(OP)) {
    for (int b = threadIdx.x; b < kBins; b += kThreads) hist->count[b] = 0, hist->mass_lo[b] = 0, hist->mass_hi[b] = 0;
  }
  __syncthreads();
  cluster.sync();  // every CTA has started (its shared memory may be addressed) and every histogram is clear
  const Slice<T> s{p.on_chip ? data : nullptr, src, n};
  const int64_t iters = s.iters();

  if constexpr (OP == RowOp::kSoftmax) {
    const float temp = p.f_arr ? p.f_arr[row] : p.f_val;
    const float inv_t = 1.0f / temp;
    float m = -INFINITY;
    for (int64_t it = 0; it < iters; ++it) {
      float x[4];
      const int valid = s.chunk(it * kThreads + threadIdx.x, x);
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (j < valid) m = fmaxf(m, x[j] * inv_t);
    }
    m = cluster_max(block_max_f(m, ctl.red_f), ctl, cluster);
    constexpr float kLog2e = 1.4426950408889634f;
    const float ml = m * kLog2e, sl = inv_t * kLog2e;
    float sum = 0.0f;
    for (int64_t it = 0; it < iters; ++it) {
      float x[4];
      const int valid = s.chunk(it * kThreads + threadIdx.x, x);
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (j < valid) sum += exp2f(fmaf(x[j], sl, -ml));
    }
    double dex, din, dtot;
    block_scan<double>(static_cast<double>(sum), dex, din, dtot, ctl.scan_d);
    const float total = cluster_sum_f(static_cast<float>(dtot), ctl, cluster);
    cluster_arrive();  // the last remote access: the write pass overlaps the other CTAs
    const float inv_sum = 1.0f / total;
    float* out = static_cast<float*>(p.out) + out_row * p.vocab + start;  // probabilities are fp32
    for (int64_t it = 0; it < iters; ++it) {
      const int64_t c = it * kThreads + threadIdx.x;
      float x[4];
      const int valid = s.chunk(c, x);
#pragma unroll
      for (int j = 0; j < 4; ++j) x[j] = exp2f(fmaf(x[j], sl, -ml)) * inv_sum;
      if (VEC > 1 && valid == 4) {
        *reinterpret_cast<float4*>(out + c * 4) = make_float4(x[0], x[1], x[2], x[3]);
      } else {
        for (int j = 0; j < valid; ++j) out[c * 4 + j] = x[j];
      }
    }
  } else {
    // The kept set: key >= thr (and, for min-p, value >= pivot); samplers and renorm skip zero probabilities.
    uint32_t thr = 0;
    float pivot = -INFINITY;
    // An index outside [0, P) reads nothing (its sample is -1); per-row thresholds follow the probs row.
    const int64_t k = p.k_arr && row_ok ? static_cast<int64_t>(p.k_arr[row]) : p.k_val;
    const float fp = p.f_arr && row_ok ? p.f_arr[row] : p.f_val;
    const bool k_keeps_all = k <= 0 || k >= p.vocab;

    if constexpr (OP == RowOp::kMaskTopK || OP == RowOp::kRenormTopK || OP == RowOp::kSampleTopK) {
      if (!k_keeps_all) {
        init_state(ctl, static_cast<unsigned long long>(k));
        radix_select<T, false, false>(s, hist, mcount, mmass, ctl, 0u, cluster);
        thr = ctl.state.keep_all ? 0u : ctl.state.prefix;
      }
    } else if constexpr (OP == RowOp::kRenormTopP || OP == RowOp::kSampleTopP) {
      if (fp < 1.0f) {
        init_state(ctl, mass_budget(fp, 1099511627776.0));
        radix_select<T, true, true>(s, hist, mcount, mmass, ctl, 0u, cluster);
        thr = ctl.state.keep_all ? 0u : ctl.state.prefix;
      }
    } else if constexpr (OP == RowOp::kSampleTopKTopP) {
      // f_arr / f_val hold top_p here, k_arr / k_val top-k.
      uint32_t thr_k = 0;
      unsigned long long kept_mass = 0;
      if (!p.joint || !k_keeps_all) {
        // Top-k first needs the kept mass even when top-k keeps everything (its top-p budget is relative to it).
        init_state(ctl, k_keeps_all ? ~0ull : static_cast<unsigned long long>(k));
        radix_select<T, false, true>(s, hist, mcount, mmass, ctl, 0u, cluster);
        const SelectState st = ctl.state;
        thr_k = st.keep_all ? 0u : st.prefix;
        kept_mass = st.keep_all ? st.total_mass : st.mass_above + st.level_mass;
      }
      uint32_t thr_p = 0;
      if (fp < 1.0f) {
        // Every thread has read the top-k decision before the state is reused (the state is this CTA's own, and
        // the histograms are clear again, so no cluster barrier is needed).
        __syncthreads();
        const unsigned long long budget =
            p.joint ? mass_budget(fp, 1099511627776.0) : mass_budget(fp, static_cast<double>(kept_mass));
        init_state(ctl, budget);
        radix_select<T, true, true>(s, hist, mcount, mmass, ctl, p.joint ? 0u : thr_k, cluster);
        thr_p = ctl.state.keep_all ? 0u : ctl.state.prefix;
      }
      thr = max(thr_k, thr_p);
    } else if constexpr (OP == RowOp::kSampleMinP) {
      float m = -INFINITY;
      for (int64_t it = 0; it < iters; ++it) {
        float x[4];
        const int valid = s.chunk(it * kThreads + threadIdx.x, x);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (j < valid) m = fmaxf(m, x[j]);
      }
      m = cluster_max(block_max_f(m, ctl.red_f), ctl, cluster);
      pivot = m * fp;
    }

    if constexpr (OP == RowOp::kMaskTopK) {
      cluster_arrive();  // the select was the last remote access
      T* out = static_cast<T*>(p.out) + out_row * p.vocab + start;
      for (int64_t it = 0; it < iters; ++it) {
        const int64_t c = it * kThreads + threadIdx.x;
        float x[4];
        const int valid = s.chunk(c, x);
        // fp32 holds every fp16/bf16 value exactly: kept values come back with their bits.
        for (int j = 0; j < valid; ++j) out[c * 4 + j] = from_float<T>(key_of(x[j]) >= thr ? x[j] : -INFINITY);
      }
    } else {
      auto kept = [&](float x) { return x > 0.0f && key_of(x) >= thr && x >= pivot; };
      double part = 0.0;
      for (int64_t it = 0; it < iters; ++it) {
        float x[4];
        const int valid = s.chunk(it * kThreads + threadIdx.x, x);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (j < valid && kept(x[j])) part += static_cast<double>(x[j]);
      }
      double ex, in, cta_total;
      block_scan<double>(part, ex, in, cta_total, ctl.scan_d);
      double before, q;
      cluster_prefix(cta_total, ctl, cluster, before, q);
      cluster_arrive();  // the last remote access

      if constexpr (is_sampler(OP)) {
        int32_t* samples = static_cast<int32_t*>(p.out);
        if (!row_ok || !(q > 0.0)) {
          if (rank == 0 && threadIdx.x == 0) samples[out_row] = row_ok ? 0 : -1;
        } else {
          const uint64_t seed = p.rng_state ? static_cast<uint64_t>(p.rng_state[0]) : p.seed;
          const uint64_t offset = p.rng_state ? static_cast<uint64_t>(p.rng_state[1]) : p.offset;
          const double target = uniform_open_closed(seed, offset, static_cast<uint64_t>(out_row)) * q;
          const double lo = before + ex, hi = before + in;
          if (lo < target && target <= hi) {  // exactly one thread of the cluster
            double cum = lo;
            int64_t pick = -1, last = -1;
            for (int64_t it = 0; it < iters && pick < 0; ++it) {
              const int64_t c = it * kThreads + threadIdx.x;
              float x[4];
              const int valid = s.chunk(c, x);
              for (int j = 0; j < valid; ++j) {
                if (!kept(x[j])) continue;
                last = c * 4 + j;
                cum += static_cast<double>(x[j]);
                if (cum >= target) {
                  pick = last;
                  break;
                }
              }
            }
            samples[out_row] = static_cast<int32_t>(start + (pick >= 0 ? pick : last));
          }
        }
      } else {  // renorm: kept values times 1 / max(kept mass, 1e-8), others 0
        const float norm = 1.0f / fmaxf(static_cast<float>(q), 1e-8f);
        float* out = static_cast<float*>(p.out) + out_row * p.vocab + start;
        for (int64_t it = 0; it < iters; ++it) {
          const int64_t c = it * kThreads + threadIdx.x;
          float x[4];
          const int valid = s.chunk(c, x);
#pragma unroll
          for (int j = 0; j < 4; ++j) x[j] = kept(x[j]) ? x[j] * norm : 0.0f;
          if (VEC > 1 && valid == 4) {
            *reinterpret_cast<float4*>(out + c * 4) = make_float4(x[0], x[1], x[2], x[3]);
          } else {
            for (int j = 0; j < valid; ++j) out[c * 4 + j] = x[j];
          }
        }
      }
    }
  }
  cluster_wait();  // no CTA leaves while another may still address its shared memory
}

// ------------------------------------------------------------------------------------------------- host side

struct RowPlan {
  int csize;
  int64_t slice;
  bool on_chip;
  size_t smem;
};

// Cluster size and slice: the fewest CTAs whose slices fit 80 KB (two CTAs per SM), spread over up to 8 SMs when
// the grid would leave most SMs idle; 192 KB slices for wide rows; beyond 8 * 192 KB, slices read from memory.
template <RowOp OP>
inline RowPlan plan_rows(int64_t rows, int64_t vocab) {
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  RowPlan plan{1, vocab, true, 0};
  const int64_t c_small = ceil_div(vocab, kSmallSlice);
  if (c_small <= kMaxCluster) {
    int64_t c = c_small;
    if (rows * kMaxCluster <= sm_count()) {
      c = std::max<int64_t>(c, std::min<int64_t>(kMaxCluster, ceil_div(vocab, kMinSliceForSpread)));
    }
    plan.csize = static_cast<int>(std::max<int64_t>(1, c));
  } else if (ceil_div(vocab, kLargeSlice) <= kMaxCluster) {
    plan.csize = static_cast<int>(ceil_div(vocab, kLargeSlice));
  } else {
    plan.csize = kMaxCluster;
    plan.on_chip = false;
  }
  plan.slice = (ceil_div(vocab, plan.csize) + 7) / 8 * 8;
  plan.smem = head_smem<OP>(plan.csize) + (plan.on_chip ? static_cast<size_t>(plan.slice) * sizeof(float) : 0);
  return plan;
}

// The most any plan asks for: 80 KB slices come with clusters of 1 or more (the largest merged range at 2), 192 KB
// slices only for vocabularies above 8 * 20480, i.e. with clusters of 4 or more.
template <RowOp OP>
constexpr size_t max_smem() {
  return std::max(head_smem<OP>(2) + kSmallSlice * sizeof(float), head_smem<OP>(4) + kLargeSlice * sizeof(float));
}
static_assert(max_smem<RowOp::kSampleTopKTopP>() <= 227 * 1024, "shared memory per CTA");

template <RowOp OP, typename T, int VEC>
cudaError_t launch_row_kernel(RowParams p, int64_t rows, bool enable_pdl, cudaStream_t stream) {
  if (rows == 0 || p.vocab == 0) return cudaSuccess;
  const RowPlan plan = plan_rows<OP>(rows, p.vocab);
  p.slice = plan.slice;
  p.on_chip = plan.on_chip;
  auto kernel = row_kernel<OP, T, VEC>;
  // The shared-memory limit is raised once per device (an attribute of the function in that device's context).
  static std::atomic<bool> attr_set[64] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return cudaGetLastError();
  if (device < 0 || device >= 64 || !attr_set[device].load(std::memory_order_relaxed)) {
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(max_smem<OP>()));
    if (err != cudaSuccess) return err;
    if (device >= 0 && device < 64) attr_set[device].store(true, std::memory_order_relaxed);
  }
  if (rows * plan.csize > 0x7FFFFFFFll) return cudaErrorInvalidConfiguration;
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(rows * plan.csize));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = plan.smem;
  config.stream = stream;
  cudaLaunchAttribute attrs[2];
  attrs[0].id = cudaLaunchAttributeClusterDimension;
  attrs[0].val.clusterDim.x = static_cast<unsigned>(plan.csize);
  attrs[0].val.clusterDim.y = 1;
  attrs[0].val.clusterDim.z = 1;
  attrs[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attrs[1].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attrs;
  config.numAttrs = enable_pdl ? 2 : 1;
  return cudaLaunchKernelEx(&config, kernel, p);
}

// fp32 rows: 16-byte accesses when the row start, stride and V allow it, else scalars.
template <RowOp OP, typename T>
cudaError_t launch_rows(const RowParams& p, int64_t rows, bool enable_pdl, cudaStream_t stream) {
  constexpr int kFull = 16 / sizeof(T);
  const bool out_ok = OP == RowOp::kSoftmax || OP == RowOp::kRenormTopK || OP == RowOp::kRenormTopP
                          ? reinterpret_cast<uintptr_t>(p.out) % 16 == 0
                          : true;
  if (out_ok && pick_vec_width<T>({p.in}, {p.vocab, p.in_row_stride}) == kFull) {
    return launch_row_kernel<OP, T, kFull>(p, rows, enable_pdl, stream);
  }
  return launch_row_kernel<OP, T, 1>(p, rows, enable_pdl, stream);
}

}  // namespace kernelkit::sampling
