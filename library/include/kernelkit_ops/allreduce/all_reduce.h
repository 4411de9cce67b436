// The custom all-reduce: its launcher and the host functions that manage its state (one CustomAllreduce per
// communicator, named by an int handle), all defined in csrc/allreduce/all_reduce.cu and called by its binding
// (csrc/allreduce/all_reduce.cc). Both include this header, so a signature that drifts fails to compile.
//
// The host functions return an empty string on success and otherwise the message the binding raises: their failures
// are bad handles, exhausted tables and CUDA IPC errors, each worth a sentence.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernelkit/core/dtype.h"

namespace kernelkit {

inline constexpr int kAllReduceMaxRanks = 8;
// Messages are reduced in 16-byte packs: sizes and buffers must be multiples of this.
inline constexpr int64_t kAllReducePackBytes = 16;

// Bytes of the signal block at the start of every rank's meta buffer (the scratch of the two-shot algorithm follows
// it, so a meta buffer holds all_reduce_meta_size() + the largest message).
int64_t all_reduce_meta_size();

// A new communicator of ipc_ptrs.size() ranks (2, 4, 6 or 8): ipc_ptrs[r] is rank r's meta buffer as mapped into this
// process (this rank's own at ipc_ptrs[rank]), zeroed before any rank's first all_reduce; rank_data is a device buffer
// of rank_data_bytes that holds the peer pointers of registered buffers (64 bytes each).
std::string all_reduce_create(const std::vector<int64_t>& ipc_ptrs, void* rank_data, int64_t rank_data_bytes,
                              int64_t rank, bool full_nvlink, int64_t* handle);

std::string all_reduce_dispose(int64_t handle);

// Registers one buffer per rank (ipc_ptrs[r]: rank r's, mapped here) for the eager path: an all_reduce that names
// ipc_ptrs[rank] as its reg_buffer copies its input there and reads the peers' copies.
std::string all_reduce_register_buffer(int64_t handle, const std::vector<int64_t>& ipc_ptrs);

// The inputs of all_reduce calls captured into CUDA graphs since the last register_graph_buffers: their IPC handles
// (64 bytes each, concatenated, one int per byte) and their offsets inside their allocations.
std::string all_reduce_graph_buffer_ipc_meta(int64_t handle, std::vector<int64_t>* handle_bytes,
                                             std::vector<int64_t>* offsets);

// Every rank's graph_buffer_ipc_meta (handles[r], offsets[r]), opened here and written where the captured launches
// read their peer pointers.
std::string all_reduce_register_graph_buffers(int64_t handle, const std::vector<std::vector<int64_t>>& handles,
                                              const std::vector<std::vector<int64_t>>& offsets);

// Shared buffers for the communicator: allocated (zeroed) with an IPC handle to give the peers, opened from a peer's
// handle, and released (closed if opened, freed if allocated).
std::string all_reduce_allocate_shared_buffer(int64_t bytes, int64_t* ptr, std::vector<int64_t>* handle_bytes);
std::string all_reduce_open_shared_buffer(const std::vector<int64_t>& handle_bytes, int64_t* ptr);
std::string all_reduce_free_shared_buffer(int64_t ptr);

// out = the sum over ranks of every rank's inp (numel elements of dtype, in 16-byte packs). With reg_buffer (a
// registered buffer of reg_buffer_sz_bytes) inp is copied there first; without (0), inp itself must be registered
// or the stream capturing (its peers' pointers are filled in by register_graph_buffers). The handle-level checks
// come back through *error (empty when none); the CUDA status of the launch is returned.
cudaError_t launch_all_reduce(int64_t fa, const void* inp, void* out, int64_t reg_buffer, int64_t reg_buffer_sz_bytes,
                              int64_t numel, DType dtype, cudaStream_t stream, std::string* error);

}  // namespace kernelkit
