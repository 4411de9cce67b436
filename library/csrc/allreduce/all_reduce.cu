// all_reduce: the sum of a tensor over the ranks of one node, in one kernel over CUDA IPC buffers, and the host state
// behind its int handle (kernelkit_ops/allreduce/all_reduce.h).
//
// One-shot (small messages, and every message on two ranks): each rank reads every rank's input and writes the whole
// sum. Two-shot (larger messages on 4-8 fully NVLinked ranks): rank r sums slice r of every input into its own scratch
// (reduce-scatter), then every rank copies each slice out of its owner's scratch (all-gather), so each byte crosses
// the links twice instead of once per peer. Ranks are summed in rank order, in fp32, rounded once: every rank holds
// the same bits.
//
// Synchronisation is per block: block b of every rank meets block b of every other rank through flags in the ranks'
// Signal blocks (the start of their meta buffers). All ranks launch the same grid for the same message, and in the
// two-shot kernel a thread reads back from a peer's scratch exactly the packs its counterpart (same block, same thread)
// wrote there, so per-block barriers order every access that crosses ranks:
//   start: every rank's kernel has begun, so its input (copied in before the launch) is complete, and its previous
//          call, which may still have been reading our buffers, has ended (a stream runs one kernel after another);
//   end:   (one-shot) no peer still reads our input when we return, so the caller may overwrite it;
//   mid:   (two-shot) the slices are in the peers' scratch: a release/acquire pair at system scope.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <cuda.h>

#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/core/vec.cuh"
#include "kernelkit_ops/allreduce/all_reduce.h"

namespace kernelkit {
namespace {

constexpr int kMaxRanks = kAllReduceMaxRanks;
constexpr int kMaxBlocks = 36;  // enough blocks to saturate NVLink; each costs a flag exchange per barrier
constexpr int kThreads = 512;
constexpr int64_t kIpcHandleBytes = sizeof(cudaIpcMemHandle_t);  // 64

// The signal block at the start of each rank's meta buffer. Peers write start/end[b][p] (rank p's block b reached
// the barrier, with the epoch it is passing); epoch[b] counts the barriers this rank's block b has passed.
struct alignas(128) Signal {
  alignas(128) uint32_t start[kMaxBlocks][kMaxRanks];
  alignas(128) uint32_t end[kMaxBlocks][kMaxRanks];
  alignas(128) uint32_t epoch[kMaxBlocks];
};
static_assert(sizeof(Signal) % kAllReducePackBytes == 0, "the two-shot scratch after the Signal must stay aligned");

// Every rank's copy of one buffer, as mapped into this process: what a launch reads its peers' inputs through. Kept in
// device memory (the rank_data buffer), so a launch captured into a graph reads pointers registered after capture.
struct RankPtrs {
  const void* ptrs[kMaxRanks];
};
struct RankSignals {
  Signal* signals[kMaxRanks];
};

__device__ __forceinline__ void st_flag_volatile(uint32_t* p, uint32_t v) {
  asm volatile("st.volatile.global.u32 [%1], %0;" ::"r"(v), "l"(p) : "memory");
}
__device__ __forceinline__ uint32_t ld_flag_volatile(const uint32_t* p) {
  uint32_t v;
  asm volatile("ld.volatile.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void st_flag_release(uint32_t* p, uint32_t v) {
  asm volatile("st.release.sys.global.u32 [%1], %0;" ::"r"(v), "l"(p) : "memory");
}
__device__ __forceinline__ uint32_t ld_flag_acquire(const uint32_t* p) {
  uint32_t v;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Block b of this rank and block b of every peer meet here. Thread p < N tells rank p we arrived (writing into rank
// p's Signal) and waits until rank p has told us the same.
template <int N>
__device__ __forceinline__ void barrier_start(const RankSignals& sg, Signal* self, int rank) {
  const uint32_t flag = self->epoch[blockIdx.x] + 1;
  if (threadIdx.x < N) {
    st_flag_volatile(&sg.signals[threadIdx.x]->start[blockIdx.x][rank], flag);
    while (ld_flag_volatile(&self->start[blockIdx.x][threadIdx.x]) != flag) {
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) self->epoch[blockIdx.x] = flag;
}

// kPublish: the block's writes before the barrier (two-shot slices) are made visible to the peers that pass it
// (release/acquire at system scope, then every thread waits for the acquire); otherwise only arrival counts.
template <int N, bool kPublish>
__device__ __forceinline__ void barrier_end(const RankSignals& sg, Signal* self, int rank) {
  __syncthreads();
  const uint32_t flag = self->epoch[blockIdx.x] + 1;
  if (threadIdx.x < N) {
    uint32_t* peer = &sg.signals[threadIdx.x]->end[blockIdx.x][rank];
    const uint32_t* mine = &self->end[blockIdx.x][threadIdx.x];
    if constexpr (kPublish) {
      st_flag_release(peer, flag);
      while (ld_flag_acquire(mine) != flag) {
      }
    } else {
      st_flag_volatile(peer, flag);
      while (ld_flag_volatile(mine) != flag) {
      }
    }
  }
  if constexpr (kPublish) __syncthreads();
  if (threadIdx.x == 0) self->epoch[blockIdx.x] = flag;
}

// One 16-byte pack of elements of T.
template <typename T>
struct Pack {
  static constexpr int kElems = static_cast<int>(kAllReducePackBytes / sizeof(T));
};

// The sum over the N ranks' packs at idx, in rank order, in fp32, rounded once. Peer memory is read through L2 only
// (.cg): L1 is not coherent with another rank's writes.
template <typename T, int N>
__device__ __forceinline__ uint4 reduce_pack(const RankPtrs& in, int64_t idx) {
  constexpr int kE = Pack<T>::kElems;
  uint4 raw[N];
#pragma unroll
  for (int r = 0; r < N; ++r) raw[r] = __ldcg(static_cast<const uint4*>(in.ptrs[r]) + idx);
  float acc[kE];
#pragma unroll
  for (int j = 0; j < kE; ++j) acc[j] = to_float(reinterpret_cast<const T*>(&raw[0])[j]);
#pragma unroll
  for (int r = 1; r < N; ++r) {
#pragma unroll
    for (int j = 0; j < kE; ++j) acc[j] += to_float(reinterpret_cast<const T*>(&raw[r])[j]);
  }
  uint4 out;
#pragma unroll
  for (int j = 0; j < kE; ++j) reinterpret_cast<T*>(&out)[j] = from_float<T>(acc[j]);
  return out;
}

// A RankPtrs entry the host has not filled yet (a graph replayed before register_graph_buffers) holds null
// pointers: stop loudly instead of reading through them.
template <int N>
__device__ __forceinline__ void require_registered(const RankPtrs& in) {
#pragma unroll
  for (int r = 0; r < N; ++r) {
    if (in.ptrs[r] == nullptr) __trap();
  }
}

template <typename T, int N>
__global__ void __launch_bounds__(kThreads, 1) one_shot_kernel(const RankPtrs* inputs, RankSignals sg, Signal* self,
                                                               T* __restrict__ out, int rank, int64_t packs) {
  const RankPtrs in = *inputs;
  require_registered<N>(in);
  barrier_start<N>(sg, self, rank);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < packs; idx += stride) {
    reinterpret_cast<uint4*>(out)[idx] = reduce_pack<T, N>(in, idx);
  }
  barrier_end<N, false>(sg, self, rank);
}

template <typename T, int N>
__global__ void __launch_bounds__(kThreads, 1) two_shot_kernel(const RankPtrs* inputs, RankSignals sg, Signal* self,
                                                               T* __restrict__ out, int rank, int64_t packs) {
  const RankPtrs in = *inputs;
  require_registered<N>(in);
  // Slice r: packs [r * part, r * part + size(r)); the last rank's slice also takes the remainder.
  const int64_t part = packs / N;
  const int64_t last_part = packs - part * (N - 1);
  const int64_t mine = rank == N - 1 ? last_part : part;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  uint4* scratch = reinterpret_cast<uint4*>(reinterpret_cast<char*>(self) + sizeof(Signal));
  barrier_start<N>(sg, self, rank);
  for (int64_t idx = first; idx < mine; idx += stride) scratch[idx] = reduce_pack<T, N>(in, rank * part + idx);
  barrier_end<N, true>(sg, self, rank);
  for (int64_t idx = first; idx < last_part; idx += stride) {
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const int r = (rank + k) % N;  // start at our own slice: the ranks spread their reads over the links
      if (idx < (r == N - 1 ? last_part : part)) {
        const uint4* peer_scratch =
            reinterpret_cast<const uint4*>(reinterpret_cast<const char*>(sg.signals[r]) + sizeof(Signal));
        reinterpret_cast<uint4*>(out)[r * part + idx] = __ldcg(peer_scratch + idx);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------- host state

std::string cuda_failure(const char* what, cudaError_t err) {
  return std::string(what) + " failed: " + cudaGetErrorString(err);
}

// An IPC handle from its 64 bytes as Python passes them (one int per byte: 0..255, or -128..127 from code that
// kept them as signed chars).
std::string handle_from_bytes(const int64_t* bytes, cudaIpcMemHandle_t* handle) {
  auto* raw = reinterpret_cast<unsigned char*>(handle);
  for (int64_t i = 0; i < kIpcHandleBytes; ++i) {
    if (bytes[i] < -128 || bytes[i] > 255) {
      return "IPC handle byte " + std::to_string(i) + " is " + std::to_string(bytes[i]) + " (bytes are 0..255)";
    }
    raw[i] = static_cast<unsigned char>(bytes[i]);
  }
  return "";
}

std::vector<int64_t> bytes_of(const cudaIpcMemHandle_t& handle) {
  const auto* raw = reinterpret_cast<const unsigned char*>(&handle);
  return std::vector<int64_t>(raw, raw + kIpcHandleBytes);
}

class CustomAllreduce {
 public:
  int rank = 0;
  int world_size = 0;
  bool full_nvlink = false;
  int device = 0;
  RankSignals sg{};
  RankPtrs* next_slot = nullptr;  // rank_data: the next free RankPtrs
  RankPtrs* end_slot = nullptr;
  std::unordered_map<const void*, RankPtrs*> registered;  // this rank's buffer -> its RankPtrs
  std::vector<const void*> graph_inputs;                  // captured since the last register_graph_buffers
  std::map<std::string, void*> opened;                    // IPC handle bytes -> its mapping in this process

  ~CustomAllreduce() {
    for (auto& [handle, ptr] : opened) cudaIpcCloseMemHandle(ptr);
  }

  std::string write_slots(const std::vector<RankPtrs>& entries) {
    if (next_slot + entries.size() > end_slot) {
      return "rank_data is full (" + std::to_string(end_slot - next_slot) + " free entries of " +
             std::to_string(sizeof(RankPtrs)) + " bytes, " + std::to_string(entries.size()) +
             " needed): pass a larger rank_data to init_custom_ar";
    }
    const cudaError_t err =
        cudaMemcpy(next_slot, entries.data(), entries.size() * sizeof(RankPtrs), cudaMemcpyHostToDevice);
    if (err != cudaSuccess) return cuda_failure("copying peer pointers into rank_data", err);
    next_slot += entries.size();
    return "";
  }

  std::string open(const int64_t* handle_bytes, void** ptr) {
    cudaIpcMemHandle_t handle;
    const std::string error = handle_from_bytes(handle_bytes, &handle);
    if (!error.empty()) return error;
    const std::string key(reinterpret_cast<const char*>(&handle), kIpcHandleBytes);
    auto it = opened.find(key);
    if (it == opened.end()) {
      void* mapped = nullptr;
      const cudaError_t err = cudaIpcOpenMemHandle(&mapped, handle, cudaIpcMemLazyEnablePeerAccess);
      if (err != cudaSuccess) return cuda_failure("cudaIpcOpenMemHandle of a peer's graph buffer", err);
      it = opened.emplace(key, mapped).first;
    }
    *ptr = it->second;
    return "";
  }
};

std::mutex g_mutex;
std::unordered_set<CustomAllreduce*> g_live;  // the handles init_custom_ar gave out and dispose has not taken back
std::unordered_set<int64_t> g_allocated;      // allocate_shared_buffer's pointers
std::unordered_set<int64_t> g_opened;         // open_shared_buffer's pointers

CustomAllreduce* lookup(int64_t handle) {
  auto* fa = reinterpret_cast<CustomAllreduce*>(handle);
  return g_live.count(fa) ? fa : nullptr;
}

std::string bad_handle(int64_t handle) {
  return "fa = " + std::to_string(handle) + " is not a live all-reduce handle (from init_custom_ar, not yet disposed)";
}

// The start of the allocation holding ptr (cuPointerGetAttribute through the runtime's driver entry point, so the
// library links no libcuda).
std::string allocation_base(const void* ptr, CUdeviceptr* base) {
  using GetAttribute = CUresult (*)(void*, CUpointer_attribute, CUdeviceptr);
  static GetAttribute get_attribute = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found;
    if (cudaGetDriverEntryPoint("cuPointerGetAttribute", &fn, cudaEnableDefault, &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      return static_cast<GetAttribute>(nullptr);
    }
    return reinterpret_cast<GetAttribute>(fn);
  }();
  if (get_attribute == nullptr) return "the driver has no cuPointerGetAttribute";
  const CUresult res =
      get_attribute(base, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, reinterpret_cast<CUdeviceptr>(const_cast<void*>(ptr)));
  if (res != CUDA_SUCCESS) return "cuPointerGetAttribute(RANGE_START_ADDR) failed with CUresult " + std::to_string(res);
  return "";
}

template <typename T, int N>
cudaError_t launch(const CustomAllreduce& fa, const RankPtrs* inputs, void* out, int64_t bytes, cudaStream_t stream) {
  const int64_t packs = bytes / kAllReducePackBytes;
  // vLLM's measured crossover on H100/A100: two-shot pays from 512 KB on 4 ranks and 256 KB on 6-8, with full NVLink
  const bool two_shot = N > 2 && fa.full_nvlink && bytes >= (N <= 4 ? (512 << 10) : (256 << 10));
  const int64_t work = two_shot ? (packs + N - 1) / N : packs;
  const int blocks = static_cast<int>(std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, kMaxBlocks));
  Signal* self = fa.sg.signals[fa.rank];
  if (two_shot) {
    two_shot_kernel<T, N><<<blocks, kThreads, 0, stream>>>(inputs, fa.sg, self, static_cast<T*>(out), fa.rank, packs);
  } else {
    one_shot_kernel<T, N><<<blocks, kThreads, 0, stream>>>(inputs, fa.sg, self, static_cast<T*>(out), fa.rank, packs);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_for_world(const CustomAllreduce& fa, const RankPtrs* inputs, void* out, int64_t bytes,
                             cudaStream_t stream) {
  switch (fa.world_size) {
    case 2: return launch<T, 2>(fa, inputs, out, bytes, stream);
    case 4: return launch<T, 4>(fa, inputs, out, bytes, stream);
    case 6: return launch<T, 6>(fa, inputs, out, bytes, stream);
    case 8: return launch<T, 8>(fa, inputs, out, bytes, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace
}  // namespace kernelkit

int64_t kernelkit::all_reduce_meta_size() { return static_cast<int64_t>(sizeof(Signal)); }

std::string kernelkit::all_reduce_create(const std::vector<int64_t>& ipc_ptrs, void* rank_data, int64_t rank_data_bytes,
                                         int64_t rank, bool full_nvlink, int64_t* handle) {
  const int64_t world = static_cast<int64_t>(ipc_ptrs.size());
  if (world < 2 || world > kMaxRanks || world % 2 != 0) {
    return "ipc_tensors names " + std::to_string(world) + " ranks; the custom all-reduce runs on 2, 4, 6 or 8";
  }
  if (rank < 0 || rank >= world) {
    return "rank = " + std::to_string(rank) + " is not one of the " + std::to_string(world) + " ranks";
  }
  for (int64_t r = 0; r < world; ++r) {
    if (ipc_ptrs[r] == 0 || ipc_ptrs[r] % 128 != 0) {
      return "ipc_tensors[" + std::to_string(r) + "] = " + std::to_string(ipc_ptrs[r]) +
             " is not a meta buffer (a non-null device pointer, 128-byte aligned, as cudaMalloc gives)";
    }
  }
  if (rank_data == nullptr || reinterpret_cast<uintptr_t>(rank_data) % alignof(RankPtrs) != 0 ||
      rank_data_bytes < static_cast<int64_t>(sizeof(RankPtrs))) {
    return "rank_data must be a device buffer of at least " + std::to_string(sizeof(RankPtrs)) +
           " bytes, 8-byte aligned (one entry per registered buffer)";
  }
  auto fa = std::make_unique<CustomAllreduce>();
  fa->rank = static_cast<int>(rank);
  fa->world_size = static_cast<int>(world);
  fa->full_nvlink = full_nvlink;
  cudaError_t err = cudaGetDevice(&fa->device);
  if (err != cudaSuccess) return cuda_failure("cudaGetDevice", err);
  for (int64_t r = 0; r < world; ++r) fa->sg.signals[r] = reinterpret_cast<Signal*>(ipc_ptrs[r]);
  fa->next_slot = static_cast<RankPtrs*>(rank_data);
  fa->end_slot = fa->next_slot + rank_data_bytes / static_cast<int64_t>(sizeof(RankPtrs));
  // Null entries: a graph replayed before its buffers are registered traps instead of reading garbage.
  err = cudaMemset(rank_data, 0, (fa->end_slot - fa->next_slot) * sizeof(RankPtrs));
  if (err != cudaSuccess) return cuda_failure("zeroing rank_data", err);
  std::lock_guard<std::mutex> lock(g_mutex);
  *handle = reinterpret_cast<int64_t>(fa.get());
  g_live.insert(fa.release());
  return "";
}

std::string kernelkit::all_reduce_dispose(int64_t handle) {
  std::lock_guard<std::mutex> lock(g_mutex);
  CustomAllreduce* fa = lookup(handle);
  if (fa == nullptr) return bad_handle(handle);
  g_live.erase(fa);
  delete fa;
  return "";
}

std::string kernelkit::all_reduce_register_buffer(int64_t handle, const std::vector<int64_t>& ipc_ptrs) {
  std::lock_guard<std::mutex> lock(g_mutex);
  CustomAllreduce* fa = lookup(handle);
  if (fa == nullptr) return bad_handle(handle);
  if (static_cast<int64_t>(ipc_ptrs.size()) != fa->world_size) {
    return "buffer_ptrs names " + std::to_string(ipc_ptrs.size()) + " buffers for " + std::to_string(fa->world_size) +
           " ranks";
  }
  if (!fa->graph_inputs.empty()) {
    // the captured launches read the next free entries of rank_data: they are taken until their buffers come
    return "register_graph_buffers first: " + std::to_string(fa->graph_inputs.size()) +
           " captured all_reduce inputs wait for their peers' pointers";
  }
  RankPtrs entry{};
  for (int r = 0; r < fa->world_size; ++r) {
    if (ipc_ptrs[r] == 0 || ipc_ptrs[r] % kAllReducePackBytes != 0) {
      return "buffer_ptrs[" + std::to_string(r) + "] = " + std::to_string(ipc_ptrs[r]) +
             " is not a 16-byte aligned device pointer";
    }
    entry.ptrs[r] = reinterpret_cast<const void*>(ipc_ptrs[r]);
  }
  RankPtrs* slot = fa->next_slot;
  const std::string error = fa->write_slots({entry});
  if (!error.empty()) return error;
  fa->registered[entry.ptrs[fa->rank]] = slot;
  return "";
}

std::string kernelkit::all_reduce_graph_buffer_ipc_meta(int64_t handle, std::vector<int64_t>* handle_bytes,
                                                        std::vector<int64_t>* offsets) {
  std::lock_guard<std::mutex> lock(g_mutex);
  CustomAllreduce* fa = lookup(handle);
  if (fa == nullptr) return bad_handle(handle);
  handle_bytes->clear();
  offsets->clear();
  for (const void* input : fa->graph_inputs) {
    CUdeviceptr base = 0;
    std::string error = allocation_base(input, &base);
    if (!error.empty()) return error;
    cudaIpcMemHandle_t ipc;
    const cudaError_t err = cudaIpcGetMemHandle(&ipc, reinterpret_cast<void*>(base));
    if (err != cudaSuccess) {
      return cuda_failure(
          "cudaIpcGetMemHandle of a captured input (memory from cudaMalloc can be shared; "
          "expandable segments cannot)",
          err);
    }
    const std::vector<int64_t> bytes = bytes_of(ipc);
    handle_bytes->insert(handle_bytes->end(), bytes.begin(), bytes.end());
    offsets->push_back(static_cast<int64_t>(reinterpret_cast<uintptr_t>(input) - base));
  }
  return "";
}

std::string kernelkit::all_reduce_register_graph_buffers(int64_t handle,
                                                         const std::vector<std::vector<int64_t>>& handles,
                                                         const std::vector<std::vector<int64_t>>& offsets) {
  std::lock_guard<std::mutex> lock(g_mutex);
  CustomAllreduce* fa = lookup(handle);
  if (fa == nullptr) return bad_handle(handle);
  const int world = fa->world_size;
  if (static_cast<int>(handles.size()) != world || static_cast<int>(offsets.size()) != world) {
    return "handles and offsets must hold one list per rank (" + std::to_string(world) + "), got " +
           std::to_string(handles.size()) + " and " + std::to_string(offsets.size());
  }
  const size_t count = fa->graph_inputs.size();
  for (int r = 0; r < world; ++r) {
    if (handles[r].size() != count * kIpcHandleBytes || offsets[r].size() != count) {
      return "rank " + std::to_string(r) + " sent " + std::to_string(offsets[r].size()) + " offsets and " +
             std::to_string(handles[r].size()) + " handle bytes; this rank captured " + std::to_string(count) +
             " all_reduce inputs (" + std::to_string(count * kIpcHandleBytes) +
             " handle bytes): every rank must capture the same graphs";
    }
  }
  std::vector<RankPtrs> entries(count);
  for (size_t i = 0; i < count; ++i) {
    for (int r = 0; r < world; ++r) {
      if (r == fa->rank) {
        entries[i].ptrs[r] = fa->graph_inputs[i];
        continue;
      }
      void* base = nullptr;
      const std::string error = fa->open(handles[r].data() + i * kIpcHandleBytes, &base);
      if (!error.empty()) return error;
      if (offsets[r][i] < 0 || offsets[r][i] % kAllReducePackBytes != 0) {
        return "offsets[" + std::to_string(r) + "][" + std::to_string(i) + "] = " + std::to_string(offsets[r][i]) +
               " is not a non-negative multiple of 16";
      }
      entries[i].ptrs[r] = static_cast<const char*>(base) + offsets[r][i];
    }
  }
  const std::string error = fa->write_slots(entries);
  if (!error.empty()) return error;
  fa->graph_inputs.clear();
  return "";
}

std::string kernelkit::all_reduce_allocate_shared_buffer(int64_t bytes, int64_t* ptr,
                                                         std::vector<int64_t>* handle_bytes) {
  if (bytes <= 0) return "size = " + std::to_string(bytes) + " bytes: a shared buffer needs at least one byte";
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, static_cast<size_t>(bytes));
  if (err != cudaSuccess) return cuda_failure(("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str(), err);
  err = cudaMemset(p, 0, static_cast<size_t>(bytes));
  cudaIpcMemHandle_t ipc;
  if (err == cudaSuccess) err = cudaIpcGetMemHandle(&ipc, p);
  if (err != cudaSuccess) {
    cudaFree(p);
    return cuda_failure("preparing a shared buffer (cudaMemset, cudaIpcGetMemHandle)", err);
  }
  *handle_bytes = bytes_of(ipc);
  *ptr = reinterpret_cast<int64_t>(p);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_allocated.insert(*ptr);
  return "";
}

std::string kernelkit::all_reduce_open_shared_buffer(const std::vector<int64_t>& handle_bytes, int64_t* ptr) {
  if (static_cast<int64_t>(handle_bytes.size()) != kIpcHandleBytes) {
    return "handle holds " + std::to_string(handle_bytes.size()) + " bytes; a CUDA IPC handle is " +
           std::to_string(kIpcHandleBytes);
  }
  cudaIpcMemHandle_t ipc;
  const std::string error = handle_from_bytes(handle_bytes.data(), &ipc);
  if (!error.empty()) return error;
  void* p = nullptr;
  const cudaError_t err = cudaIpcOpenMemHandle(&p, ipc, cudaIpcMemLazyEnablePeerAccess);
  if (err != cudaSuccess) return cuda_failure("cudaIpcOpenMemHandle", err);
  *ptr = reinterpret_cast<int64_t>(p);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_opened.insert(*ptr);
  return "";
}

std::string kernelkit::all_reduce_free_shared_buffer(int64_t ptr) {
  std::lock_guard<std::mutex> lock(g_mutex);
  cudaError_t err;
  if (g_allocated.erase(ptr)) {
    err = cudaFree(reinterpret_cast<void*>(ptr));
  } else if (g_opened.erase(ptr)) {
    err = cudaIpcCloseMemHandle(reinterpret_cast<void*>(ptr));
  } else {
    return "ptr = " + std::to_string(ptr) + " is not a live buffer from allocate_shared_buffer or open_shared_buffer";
  }
  return err == cudaSuccess ? "" : cuda_failure("releasing a shared buffer", err);
}

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/allreduce/all_reduce.h
// is a compile error here, not a second overload.
cudaError_t kernelkit::launch_all_reduce(int64_t fa_handle, const void* inp, void* out, int64_t reg_buffer,
                                         int64_t reg_buffer_sz_bytes, int64_t numel, DType dtype, cudaStream_t stream,
                                         std::string* error) {
  std::lock_guard<std::mutex> lock(g_mutex);
  CustomAllreduce* fa = lookup(fa_handle);
  if (fa == nullptr) {
    *error = bad_handle(fa_handle);
    return cudaSuccess;
  }
  int device = -1;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  if (device != fa->device) {
    *error = "inp is on cuda:" + std::to_string(device) +
             " but the communicator was created on cuda:" + std::to_string(fa->device);
    return cudaSuccess;
  }
  const int64_t bytes = numel * (dtype == DType::kFloat32 ? 4 : 2);
  const void* input = inp;
  if (reg_buffer != 0) {
    const void* staged = reinterpret_cast<const void*>(reg_buffer);
    if (bytes > reg_buffer_sz_bytes) {
      *error = "inp holds " + std::to_string(bytes) +
               " bytes, more than reg_buffer_sz_bytes = " + std::to_string(reg_buffer_sz_bytes);
      return cudaSuccess;
    }
    if (!fa->registered.count(staged)) {
      *error = "reg_buffer = " + std::to_string(reg_buffer) + " is not a buffer of register_buffer";
      return cudaSuccess;
    }
    if (staged != inp) {
      err = cudaMemcpyAsync(const_cast<void*>(staged), inp, bytes, cudaMemcpyDeviceToDevice, stream);
      if (err != cudaSuccess) return err;
    }
    input = staged;
  }
  const RankPtrs* inputs = nullptr;
  auto found = fa->registered.find(input);
  if (found != fa->registered.end()) {
    inputs = found->second;
  } else {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    err = cudaStreamIsCapturing(stream, &status);
    if (err != cudaSuccess) return err;
    if (status != cudaStreamCaptureStatusActive) {
      *error =
          "inp is not a registered buffer: pass reg_buffer (a buffer of register_buffer, which inp is copied "
          "into), or call inside CUDA-graph capture and register_graph_buffers after it";
      return cudaSuccess;
    }
    // Its peers' pointers are not known yet: the launch reads them from this slot, which register_graph_buffers fills.
    if (fa->next_slot + fa->graph_inputs.size() >= fa->end_slot) {
      *error =
          "rank_data is full: no entry left for another captured all_reduce; pass a larger rank_data to "
          "init_custom_ar";
      return cudaSuccess;
    }
    inputs = fa->next_slot + fa->graph_inputs.size();
    fa->graph_inputs.push_back(input);
  }
  return dispatch_dtypes<DType::kBFloat16, DType::kFloat16, DType::kFloat32>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_for_world<T>(*fa, inputs, out, bytes, stream);
  });
}
