// sgl_per_tensor_quant_fp8: one scale for the whole tensor, q = e4m3(clamp(x * (1 / s))) as sgl-kernel
// computes it (dynamic_fp8.cuh, quant.cuh).
//   static:  s is read from scale[0] (used as given).
//   dynamic: s = absmax(x) / 448 is written to scale[0]. (sgl-kernel takes the max with what scale[0] held,
//            so its callers pass zeros; here the old value is not read, which agrees for those calls.)
//
// Bytes (the model the bench uses): numel * sizeof(x) read + numel written + 4 (docs/perf-notes.md,
// Per-tensor fp8).
//
// Static: a plain streaming map of 16-byte vectors, one or two per thread (launch_static).
//
// Dynamic needs the absmax of the whole tensor before the first q can be written. sgl-kernel does it in
// two kernels (absmax with an atomicMax, then quantize), i.e. two full passes over x: 3 B/element of
// HBM traffic becomes 5. Here it is ONE kernel and, while the tensor fits on chip, ONE pass:
//   - a persistent grid of exactly the co-resident CTAs (occupancy API x SM count, launched as a
//     cooperative kernel so the driver guarantees co-residency and provides the grid barrier; works in
//     CUDA graphs and with concurrent streams, since the barrier state belongs to the launch);
//   - each CTA keeps its share of the tensor on chip: up to 16 vectors per thread in registers (512
//     threads: 128 KB per SM) plus, when that is not enough, up to ~220 KB per SM of shared memory
//     filled with cp.async. H100: 132 x ~350 KB = ~46 MB on chip, so bf16 [2048, 4096] (16 MB,
//     registers alone) and [2048, 7168] (28 MB) are read exactly once. Tensors of up to 2 vectors per
//     thread take an instance with 2 register slots (fewer registers: it starts and finishes sooner);
//   - local absmax -> partial_max[cta] (a per-call workspace, written before it is read: no zeroing,
//     nothing shared between calls) -> grid.sync() -> every CTA reduces the partials -> quantize from
//     the registers / shared memory and write q.
// The cost over the copy floor is structural: the loads must all land before the barrier (per-SM
// stragglers included), the barrier and the partials' reduction are dependent L2 round trips, and only
// then do the writes start (the pipeline fills twice; the phases are timed in docs/perf-notes.md,
// Per-tensor fp8).
// Tensors one CTA holds skip all of this (per_tensor_dynamic_small). Larger tensors take two plain
// passes (see launch_dynamic_two_pass): an absmax pass, then the static kernel. They move 5/3 of the
// one-pass bytes, but at full occupancy, where the cooperative kernel would stream each chunk's
// overflow twice with one 512-thread CTA per SM. The absmax pass runs back to front, so what it read
// last is still in L2 when the static kernel starts at the front.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernelkit/core/cp_async.cuh"
#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/dtype.h"
#include "kernelkit/core/pdl.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit/families/dynamic_fp8.cuh"
#include "kernelkit/families/quant.cuh"
#include "kernelkit_ops/quantization/sgl_per_tensor_quant_fp8.h"

namespace kernelkit {
namespace {

// [num_rows, hidden] rows with their own strides (elements); a dense tensor comes as one row of numel.
struct PerTensorArgs {
  uint8_t* q;
  int64_t q_row_stride;
  float* scale;
  const void* input;
  int64_t input_row_stride;
  int64_t num_rows;
  int64_t vecs_per_row;
  int64_t total_vecs;
  bool q_aligned;
};

template <typename T, int VEC>
__device__ __forceinline__ int64_t row_offset(const PerTensorArgs& a, int64_t v, int64_t row_stride) {
  if (a.num_rows == 1) return v * VEC;
  const int64_t row = v / a.vecs_per_row;
  return row * row_stride + (v - row * a.vecs_per_row) * VEC;
}

template <typename T, int VEC>
__device__ __forceinline__ const T* in_at(const PerTensorArgs& a, int64_t v) {
  return static_cast<const T*>(a.input) + row_offset<T, VEC>(a, v, a.input_row_stride);
}

template <typename T, int VEC>
__device__ __forceinline__ uint8_t* q_at(const PerTensorArgs& a, int64_t v) {
  return a.q + row_offset<T, VEC>(a, v, a.q_row_stride);
}

// ---------------------------------------------------------------------------------------------------
// Static scale: the activations' shape (gated_activation.cuh): few 16-byte vectors per thread, x covers
// a row's vectors, y walks rows; no index division, and few enough registers that the SMs stay full
// (a flattened index with four vectors per thread needs 57 registers; docs/perf-notes.md, Per-tensor fp8).

constexpr int kStaticThreads = 128;

// The scale is read after x: the divider's reciprocal waits for it, and a divider built before the loop
// would issue x's loads only once the scale had arrived.
// The row loop is a do-while: the launch gives every CTA a row (gridDim.y <= num_rows), and a
// `row < num_rows` test in front compiles to a parameter load + EXIT ahead of everything, so the loads
// of x's address parameters would wait for it (one more constant-cache round trip before the first byte).
//
// UNROLL vectors per thread (a CTA covers UNROLL x 128 vectors of a row, all loads in flight before the
// first store): two for large tensors, one for small ones (launch_static). One 16-byte load in flight per
// thread leaves large tensors short of the copy ceiling; two reach it, for this kernel and for the dynamic
// two-pass path, which ends in it (docs/perf-notes.md, Per-tensor fp8). The explicit 1 in the launch
// bounds pins the allocation those timings are of: without it ptxas gives the bf16 two-vector instance 40
// registers instead of 47.
template <typename T, int VEC, int UNROLL>
__global__ void __launch_bounds__(kStaticThreads, 1) per_tensor_static(PerTensorArgs a) {
  pdl_wait_then_launch_dependents();  // x and the scale may be the previous kernel's output
  constexpr int64_t kPerCta = int64_t(kStaticThreads) * UNROLL;
  int64_t row = blockIdx.y;
  do {
    const T* in = static_cast<const T*>(a.input) + row * a.input_row_stride;
    uint8_t* q = a.q + row * a.q_row_stride;
    for (int64_t v = blockIdx.x * kPerCta + threadIdx.x; v < a.vecs_per_row; v += int64_t(gridDim.x) * kPerCta) {
      Vec<T, VEC> x[UNROLL];
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) {
        if (UNROLL == 1 || v + u * kStaticThreads < a.vecs_per_row)
          x[u] = Vec<T, VEC>::load(in + (v + u * kStaticThreads) * VEC);
      }
      // The scale is loaded here, behind x's loads, by a volatile load the compiler cannot hoist: an __ldg is
      // loop-invariant, and the compiler moves it and its rcp.approx ahead of the loop, where x's loads then
      // issue only once the scale has arrived (one more dependent memory round trip per CTA).
      float scale;
      asm volatile("ld.global.f32 %0, [%1];" : "=f"(scale) : "l"(a.scale) : "memory");
      const Fp8MulMinFirst quantize = fp8_quantizer(scale);
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) {
        if (UNROLL == 1 || v + u * kStaticThreads < a.vecs_per_row)
          store_fp8(q + (v + u * kStaticThreads) * VEC, x[u], quantize, a.q_aligned);
      }
    }
    row += gridDim.y;
  } while (row < a.num_rows);
}

// ---------------------------------------------------------------------------------------------------
// Dynamic scale: one cooperative kernel (see the top of the file).

constexpr int kDynThreads = 512;
// Vectors per thread kept in registers: one instance for tensors of up to 2 rounds of the grid (bf16
// [<= 512, 4096] on an H100: 47 registers, 2 CTAs per SM) and one for 16 (116-124 registers, 1 CTA
// per SM; beyond that, shared memory). A small tensor holds one vector per thread in either, and the
// 2-slot instance's loads and writes land sooner; a 1-slot instance is no faster (docs/perf-notes.md,
// Per-tensor fp8).
constexpr int kFewRegSlots = 2;
constexpr int kManyRegSlots = 16;

// Slot k of thread t in CTA b is vector (k * grid + b) * kDynThreads + t: every round of the grid
// reads one contiguous stretch of the tensor, coalesced for every k (faster than one contiguous chunk
// per CTA). Slots [0, SLOTS) live in registers, [SLOTS, SLOTS + smem_slots)
// in shared memory (each thread reads back only what its own cp.async wrote: no __syncthreads needed).
// The launcher guarantees the grid holds the tensor (larger tensors take the two-pass path).
template <typename T, int VEC, int SLOTS>
__global__ void __launch_bounds__(kDynThreads, 1)
    per_tensor_dynamic(PerTensorArgs a, float* __restrict__ partial_max, int smem_slots) {
  using V = Vec<T, VEC>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  V* smem = reinterpret_cast<V*>(smem_raw);
  __shared__ float scratch[32];
  const int tid = threadIdx.x;
  const auto vec_of_slot = [&](int k) { return (int64_t(k) * gridDim.x + blockIdx.x) * kDynThreads + tid; };

  // 1. Issue every load (shared memory first: cp.async needs no registers).
  if constexpr (sizeof(V) == 16) {
    for (int k = 0; k < smem_slots; ++k) {
      const int64_t v = vec_of_slot(SLOTS + k);
      if (v < a.total_vecs) cp_async_16(&smem[k * kDynThreads + tid], in_at<T, VEC>(a, v));
    }
  }
  V reg[SLOTS];
#pragma unroll
  for (int k = 0; k < SLOTS; ++k) {
    const int64_t v = vec_of_slot(k);
    if (v < a.total_vecs) reg[k] = V::load(in_at<T, VEC>(a, v));
  }
  float m = 0.0f;
#pragma unroll
  for (int k = 0; k < SLOTS; ++k) {
    if (vec_of_slot(k) < a.total_vecs) m = vec_absmax(m, reg[k]);
  }
  if constexpr (sizeof(V) == 16) {
    cp_async_wait_all();
    for (int k = 0; k < smem_slots; ++k) {
      if (vec_of_slot(SLOTS + k) < a.total_vecs) m = vec_absmax(m, smem[k * kDynThreads + tid]);
    }
  }

  // 2. Grid-wide max: one partial per CTA, the barrier, then every CTA reduces all partials (<= a few
  //    hundred floats from L2; __ldcg because L1 is not coherent across SMs). A block reduction, not a
  //    read per warp: per-warp reads put 16x the requests on the same few L2 lines.
  m = block_max(m, scratch);
  if (tid == 0) partial_max[blockIdx.x] = m;
  cooperative_groups::this_grid().sync();
  float g = 0.0f;
  for (int i = tid; i < static_cast<int>(gridDim.x); i += kDynThreads) g = fmaxf(g, __ldcg(partial_max + i));
  const float s = fp8_scale_from_absmax(block_max(g, scratch));
  if (blockIdx.x == 0 && tid == 0) *a.scale = s;

  // 3. Quantize from the registers and shared memory. Every SM's share of the writes starts only now.
  const Fp8MulMinFirst quantize = fp8_quantizer(s);
#pragma unroll
  for (int k = 0; k < SLOTS; ++k) {
    const int64_t v = vec_of_slot(k);
    if (v < a.total_vecs) store_fp8(q_at<T, VEC>(a, v), reg[k], quantize, a.q_aligned);
  }
  if constexpr (sizeof(V) == 16) {
    for (int k = 0; k < smem_slots; ++k) {
      const int64_t v = vec_of_slot(SLOTS + k);
      if (v < a.total_vecs) store_fp8(q_at<T, VEC>(a, v), smem[k * kDynThreads + tid], quantize, a.q_aligned);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Dynamic scale, tensors one CTA holds (<= 8192 vectors: bf16 [16, 4096]): sgl_per_token_quant_fp8's
// one-row kernel over the whole tensor -- up to 1024 threads, NV vectors each in registers, load,
// block max, scale, quantize; no workspace, no grid barrier. The cooperative kernel run as one CTA is
// slower there: its 512 threads hold 16 register slots each (~125 registers; docs/perf-notes.md,
// Per-tensor fp8). Row math in 32 bits (the tensor is small).
constexpr int kSmallThreads = 1024;
constexpr int kSmallMaxVecsPerThread = 8;

template <typename T, int VEC, int NV>
__global__ void __launch_bounds__(kSmallThreads) per_tensor_dynamic_small(PerTensorArgs a) {
  __shared__ float scratch[32];
  using V = Vec<T, VEC>;
  pdl_wait_then_launch_dependents();
  const int total = static_cast<int>(a.total_vecs), per_row = static_cast<int>(a.vecs_per_row);
  const auto offset = [&](int v, int64_t row_stride) -> int64_t {
    // A dense tensor is one row: no integer division (~20 dependent instructions) ahead of every load.
    if (a.num_rows == 1) return int64_t(v) * VEC;
    const int row = v / per_row;
    return row * row_stride + int64_t(v - row * per_row) * VEC;
  };
  V x[NV];
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int v = threadIdx.x + i * blockDim.x;
    if (v < total) x[i] = V::load(static_cast<const T*>(a.input) + offset(v, a.input_row_stride));
  }
  float m = 0.0f;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    if (static_cast<int>(threadIdx.x) + i * static_cast<int>(blockDim.x) < total) m = vec_absmax(m, x[i]);
  }
  quantize_held_vectors(
      x, m, scratch, a.scale, total, [](int i) { return static_cast<int>(threadIdx.x + i * blockDim.x); },
      [&](int v) { return a.q + offset(v, a.q_row_stride); }, a.q_aligned);
}

template <typename T, int VEC>
cudaError_t launch_dynamic_small(const PerTensorArgs& a, bool enable_pdl, cudaStream_t stream) {
  const int64_t threads = std::min<int64_t>(kSmallThreads, (a.total_vecs + 31) / 32 * 32);
  if (a.total_vecs <= kSmallThreads) {
    return launch_with_pdl(per_tensor_dynamic_small<T, VEC, 1>, dim3(1), dim3(static_cast<unsigned>(threads)), 0,
                           stream, enable_pdl, a);
  }
  return launch_with_pdl(per_tensor_dynamic_small<T, VEC, kSmallMaxVecsPerThread>, dim3(1), dim3(kSmallThreads), 0,
                         stream, enable_pdl, a);
}

// What the launcher needs to know about the device and a kernel instance, found once per device (the
// attribute and occupancy queries are not free on the launch path). The instance's dynamic shared
// memory limit is raised here, once, to the most any call may ask for and never lowered, so a CUDA
// graph captured earlier keeps launching with its own size.
struct DynamicLimits {
  int sms = 0;
  int ctas_per_sm = 0;     // co-resident CTAs per SM without dynamic shared memory
  int max_smem_slots = 0;  // shared-memory slots (kDynThreads x 16 bytes) one CTA may have
  cudaError_t error = cudaSuccess;
};

template <typename T, int VEC, int SLOTS>
DynamicLimits dynamic_limits(int device) {
  static DynamicLimits cached[64];
  DynamicLimits fresh;
  DynamicLimits& d = (device >= 0 && device < 64) ? cached[device] : fresh;
  if (d.sms > 0) return d;
  auto kernel = per_tensor_dynamic<T, VEC, SLOTS>;
  DynamicLimits r;
  int optin = 0;
  cudaFuncAttributes attr{};
  if ((r.error = cudaDeviceGetAttribute(&r.sms, cudaDevAttrMultiProcessorCount, device)) != cudaSuccess) return r;
  if ((r.error = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device)) != cudaSuccess)
    return r;
  if ((r.error = cudaFuncGetAttributes(&attr, kernel)) != cudaSuccess) return r;
  if ((r.error = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&r.ctas_per_sm, kernel, kDynThreads, 0)) !=
      cudaSuccess) {
    return r;
  }
  if (sizeof(Vec<T, VEC>) == 16) {  // cp.async moves 16 bytes: scalar instances keep registers only
    const int64_t bytes = std::max<int64_t>(0, int64_t(optin) - int64_t(attr.sharedSizeBytes) - 1024);
    r.max_smem_slots = static_cast<int>(bytes / (int64_t(kDynThreads) * 16));
  }
  if (r.max_smem_slots > 0) {
    r.error =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, r.max_smem_slots * kDynThreads * 16);
    if (r.error != cudaSuccess) return r;
  }
  if (r.sms <= 0 || r.ctas_per_sm <= 0) {
    r.error = cudaErrorLaunchOutOfResources;
    return r;
  }
  d = r;
  return d;
}

// ---------------------------------------------------------------------------------------------------
// Dynamic scale, tensors larger than the chip holds: two plain passes. The one-kernel path would stream
// the part of each chunk beyond its on-chip share twice anyway, with one 512-thread CTA per SM and the
// reads and writes unable to overlap across the grid barrier; here an absmax pass streams at full
// occupancy, one CTA turns the partial maxima into the scale, and the static kernel, a plain stream,
// quantizes with it (docs/perf-notes.md, Per-tensor fp8).

constexpr int kAbsmaxThreads = 256;
constexpr int kAbsmaxUnroll = 4;  // vectors per thread in flight

// Vector v of the walk reads vector total - 1 - v: the static kernel's CTAs start at the front, where
// this pass ended, so its first ~20 MB of x come from L2.
template <typename T, int VEC>
__global__ void __launch_bounds__(kAbsmaxThreads) per_tensor_absmax(PerTensorArgs a, float* __restrict__ partial_max) {
  __shared__ float scratch[32];
  using V = Vec<T, VEC>;
  pdl_wait_then_launch_dependents();
  const int64_t stride = int64_t(gridDim.x) * kAbsmaxThreads;
  int64_t v = int64_t(blockIdx.x) * kAbsmaxThreads + threadIdx.x;
  float m = 0.0f;
  const int64_t last = a.total_vecs - 1;
  for (; v + (kAbsmaxUnroll - 1) * stride < a.total_vecs; v += kAbsmaxUnroll * stride) {
    V x[kAbsmaxUnroll];
#pragma unroll
    for (int u = 0; u < kAbsmaxUnroll; ++u) x[u] = V::load(in_at<T, VEC>(a, last - (v + u * stride)));
#pragma unroll
    for (int u = 0; u < kAbsmaxUnroll; ++u) m = vec_absmax(m, x[u]);
  }
  for (; v < a.total_vecs; v += stride) m = vec_absmax(m, V::load(in_at<T, VEC>(a, last - v)));
  m = block_max(m, scratch);
  if (threadIdx.x == 0) partial_max[blockIdx.x] = m;
}

constexpr int kScaleThreads = 1024;

__global__ void __launch_bounds__(kScaleThreads)
    per_tensor_scale_from_partials(const float* __restrict__ partial_max, int n, float* __restrict__ scale) {
  __shared__ float scratch[32];
  pdl_wait_then_launch_dependents();
  float m = 0.0f;
  for (int i = threadIdx.x; i < n; i += kScaleThreads) m = fmaxf(m, partial_max[i]);
  m = block_max(m, scratch);
  if (threadIdx.x == 0) *scale = fp8_scale_from_absmax(m);
}

template <typename T, int VEC>
cudaError_t launch_static(const PerTensorArgs& a, bool enable_pdl, cudaStream_t stream);

template <typename T, int VEC>
cudaError_t launch_dynamic_two_pass(const PerTensorArgs& a, float* workspace, int64_t workspace_len, int sms,
                                    bool enable_pdl, cudaStream_t stream) {
  static int ctas_per_sm = 0;  // per instance; the same on every device of one kind
  if (ctas_per_sm == 0) {
    int n = 0;
    const cudaError_t err =
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, per_tensor_absmax<T, VEC>, kAbsmaxThreads, 0);
    if (err != cudaSuccess) return err;
    ctas_per_sm = std::max(n, 1);
  }
  const int grid = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(int64_t(sms) * ctas_per_sm, workspace_len)));
  cudaError_t err =
      launch_with_pdl(per_tensor_absmax<T, VEC>, dim3(grid), dim3(kAbsmaxThreads), 0, stream, enable_pdl, a, workspace);
  if (err != cudaSuccess) return err;
  err = launch_with_pdl(per_tensor_scale_from_partials, dim3(1), dim3(kScaleThreads), 0, stream, enable_pdl,
                        static_cast<const float*>(workspace), grid, a.scale);
  if (err != cudaSuccess) return err;
  return launch_static<T, VEC>(a, enable_pdl, stream);
}

// The cooperative launch of per_tensor_dynamic<SLOTS>: a grid of co-resident CTAs that holds the
// tensor in registers (and, for the many-slot instance, shared memory). Returns cudaErrorNotSupported
// when the chip cannot hold it.
template <typename T, int VEC, int SLOTS>
cudaError_t launch_dynamic_one_pass(const PerTensorArgs& a, float* workspace, int64_t workspace_len, int device,
                                    cudaStream_t stream) {
  auto kernel = per_tensor_dynamic<T, VEC, SLOTS>;
  const DynamicLimits lim = dynamic_limits<T, VEC, SLOTS>(device);
  if (lim.error != cudaSuccess) return lim.error;
  constexpr int64_t kRound = kDynThreads;  // vectors per slot of one CTA (one per thread)
  int64_t grid = std::min<int64_t>(int64_t(lim.sms) * lim.ctas_per_sm, workspace_len);
  int smem_slots = 0;
  if (a.total_vecs <= grid * SLOTS * kRound) {
    // Registers suffice: as few CTAs as keep one vector per thread, so the barrier spans few CTAs.
    grid = std::min<int64_t>(grid, (a.total_vecs + kRound - 1) / kRound);
  } else {
    // Shared memory for the slots beyond the registers; it can cost occupancy, so the grid is re-sized.
    const int64_t slots = (a.total_vecs + grid * kRound - 1) / (grid * kRound);
    if (slots - SLOTS > lim.max_smem_slots) return cudaErrorNotSupported;
    smem_slots = static_cast<int>(slots - SLOTS);
    int ctas_per_sm = 0;
    const cudaError_t err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&ctas_per_sm, kernel, kDynThreads,
                                                                          size_t(smem_slots) * kRound * 16);
    if (err != cudaSuccess) return err;
    if (ctas_per_sm < lim.ctas_per_sm) return cudaErrorNotSupported;  // occupancy fell: the grid would not hold it
  }
  grid = std::max<int64_t>(grid, 1);

  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(grid));
  config.blockDim = dim3(kDynThreads);
  config.dynamicSmemBytes = size_t(smem_slots) * kRound * 16;
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  // No PDL here: the co-residency the grid barrier relies on is sized for an SM free of other kernels,
  // so this launch waits for the previous kernel like a plain one (and the kernel has no PDL wait).
  attribute[0].id = cudaLaunchAttributeCooperative;  // co-residency guaranteed, grid.sync() allowed
  attribute[0].val.cooperative = 1;
  config.attrs = attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, a, workspace, smem_slots);
}

template <typename T, int VEC>
cudaError_t launch_dynamic(const PerTensorArgs& a, float* workspace, int64_t workspace_len, bool enable_pdl,
                           cudaStream_t stream) {
  if (a.total_vecs <= int64_t(kSmallThreads) * kSmallMaxVecsPerThread)
    return launch_dynamic_small<T, VEC>(a, enable_pdl, stream);
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  const DynamicLimits few = dynamic_limits<T, VEC, kFewRegSlots>(device);
  if (few.error != cudaSuccess) return few.error;
  const int64_t few_capacity = int64_t(few.sms) * few.ctas_per_sm * kFewRegSlots * kDynThreads;
  if (a.total_vecs <= std::min<int64_t>(few_capacity, workspace_len * kFewRegSlots * kDynThreads)) {
    return launch_dynamic_one_pass<T, VEC, kFewRegSlots>(a, workspace, workspace_len, device, stream);
  }
  err = launch_dynamic_one_pass<T, VEC, kManyRegSlots>(a, workspace, workspace_len, device, stream);
  if (err != cudaErrorNotSupported) return err;
  return launch_dynamic_two_pass<T, VEC>(a, workspace, workspace_len, few.sms, enable_pdl,
                                         stream);  // more than the chip holds
}

// Two vectors per thread from 2^19 vectors (8 MB of 16-byte vectors; bf16 [1024, 4096]) up: more bytes in
// flight per thread, which pays off once the tensor is large (bf16 T = 2048 h4096 is 2^20 vectors). Below,
// one: two would halve the CTAs, so fewer SMs pull a small tensor and it is slower (docs/perf-notes.md,
// Per-tensor fp8).
constexpr int64_t kStaticTwoVecsFrom = int64_t(1) << 19;

template <typename T, int VEC, int UNROLL>
cudaError_t launch_static_with(const PerTensorArgs& a, bool enable_pdl, cudaStream_t stream) {
  constexpr int64_t kPerCta = int64_t(kStaticThreads) * UNROLL;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((a.vecs_per_row + kPerCta - 1) / kPerCta, INT32_MAX)),
                  static_cast<unsigned>(std::min<int64_t>(a.num_rows, 65535)));
  return launch_with_pdl(per_tensor_static<T, VEC, UNROLL>, grid, dim3(kStaticThreads), 0, stream, enable_pdl, a);
}

template <typename T, int VEC>
cudaError_t launch_static(const PerTensorArgs& a, bool enable_pdl, cudaStream_t stream) {
  if (a.total_vecs >= kStaticTwoVecsFrom) return launch_static_with<T, VEC, 2>(a, enable_pdl, stream);
  return launch_static_with<T, VEC, 1>(a, enable_pdl, stream);
}

// Whether the tensor is read as 16-byte vectors (else one element at a time); the launcher and the workspace
// size below must agree on it.
template <typename T>
bool full_vectors(const void* input, int64_t input_row_stride, int64_t num_rows, int64_t hidden) {
  return pick_vec_width<T>({input}, {hidden, num_rows > 1 ? input_row_stride : 0}) == 16 / int(sizeof(T));
}

// The most CTAs a dynamic launch uses: the co-resident CTAs of the largest GPU this library targets, with room.
constexpr int64_t kMaxDynamicCtas = 4096;

}  // namespace

}  // namespace kernelkit

int64_t kernelkit::sgl_per_tensor_quant_fp8_workspace_floats(const void* input, int64_t input_row_stride,
                                                             int64_t num_rows, int64_t hidden, DType dtype) {
  int64_t vecs = 0;
  dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int vec = full_vectors<T>(input, input_row_stride, num_rows, hidden) ? 16 / int(sizeof(T)) : 1;
    vecs = num_rows * (hidden / vec);
    return cudaSuccess;
  });
  return vecs <= int64_t(kSmallThreads) * kSmallMaxVecsPerThread ? 0 : kMaxDynamicCtas;
}

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/quantization/sgl_per_tensor_quant_fp8.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_sgl_per_tensor_quant_fp8(void* output_q, int64_t q_row_stride, float* scale,
                                                       const void* input, int64_t input_row_stride, int64_t num_rows,
                                                       int64_t hidden, bool is_static, float* workspace,
                                                       int64_t workspace_len, bool enable_pdl, DType dtype,
                                                       cudaStream_t stream) {
  if (num_rows == 0 || hidden == 0) return cudaSuccess;
  if (!is_static && (workspace == nullptr || workspace_len < 1)) return cudaErrorInvalidValue;
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kFull = 16 / sizeof(T);
    const bool full = full_vectors<T>(input, input_row_stride, num_rows, hidden);
    auto run = [&](auto vec_c) {
      constexpr int VEC = decltype(vec_c)::value;
      PerTensorArgs a{
          static_cast<uint8_t*>(output_q), q_row_stride, scale, input, input_row_stride, num_rows, hidden / VEC,
          num_rows * (hidden / VEC),       false};
      a.q_aligned = reinterpret_cast<uintptr_t>(output_q) % VEC == 0 && (num_rows == 1 || q_row_stride % VEC == 0);
      return is_static ? launch_static<T, VEC>(a, enable_pdl, stream)
                       : launch_dynamic<T, VEC>(a, workspace, workspace_len, enable_pdl, stream);
    };
    return full ? run(std::integral_constant<int, kFull>{}) : run(std::integral_constant<int, 1>{});
  });
}
