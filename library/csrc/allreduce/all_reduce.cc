// all_reduce: the torch face of the custom all-reduce (validate the arguments, pick the stream, launch), its
// registration, and the host functions that set up and tear down its communicators (init_custom_ar, dispose,
// meta_size, register_buffer, get_graph_buffer_ipc_meta, register_graph_buffers) and their IPC buffers
// (allocate_shared_buffer, open_shared_buffer, free_shared_buffer), registered beside it: sgl-kernel's schemas, in
// this library's namespace.
#include "kernelkit_ops/allreduce/all_reduce.h"

#include <tuple>

#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

// Raises "<fn>: <message>" when a host function of the all-reduce reports a failure.
void check_host(const std::string& error, const char* fn) { KK_CHECK(error.empty(), fn, error); }

void all_reduce(int64_t fa, Tensor inp, Tensor out, int64_t reg_buffer, int64_t reg_buffer_sz_bytes) {
  constexpr const char* op = "all_reduce";
  const DType dtype = float_dtype_in(inp, op, "inp", {DType::kBFloat16, DType::kFloat16, DType::kFloat32});
  check_same_dtype(inp, "inp", out, "out", op);
  KK_CHECK(out.numel() == inp.numel(), op, "out must have inp's ", inp.numel(), " elements, got ", out.numel());
  check_contiguous(inp, op, "inp");
  check_contiguous(out, op, "out");
  check_devices(op, {{"inp", inp}, {"out", out}});
  const int64_t bytes = inp.numel() * static_cast<int64_t>(inp.element_size());
  KK_CHECK(bytes % kAllReducePackBytes == 0, op, "inp holds ", bytes,
           " bytes; the custom all-reduce moves 16-byte packs (use NCCL for other sizes)");
  KK_CHECK(reinterpret_cast<uintptr_t>(inp.data_ptr()) % kAllReducePackBytes == 0 &&
               reinterpret_cast<uintptr_t>(out.data_ptr()) % kAllReducePackBytes == 0,
           op, "inp and out must start on 16-byte boundaries");
  KK_CHECK(reg_buffer_sz_bytes >= 0, op, "reg_buffer_sz_bytes = ", reg_buffer_sz_bytes, " is negative");
  if (reg_buffer == 0) {
    // inp is read by the peers until the end of the call: writing the sum over it would race with them
    const auto* in_begin = static_cast<const char*>(inp.data_ptr());
    const auto* out_begin = static_cast<const char*>(out.data_ptr());
    KK_CHECK(out_begin + bytes <= in_begin || in_begin + bytes <= out_begin, op,
             "out overlaps inp; without reg_buffer the peers read inp while this rank writes out");
  }
  if (inp.numel() == 0) return;  // nothing to launch
  const int32_t device = inp.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  std::string error;
  const cudaError_t err = launch_all_reduce(fa, inp.data_ptr(), out.data_ptr(), reg_buffer, reg_buffer_sz_bytes,
                                            inp.numel(), dtype, current_cuda_stream(device), &error);
  check_host(error, op);
  check_launch(err, op);
}

int64_t init_custom_ar(std::vector<int64_t> ipc_tensors, Tensor rank_data, int64_t rank, bool full_nvlink) {
  constexpr const char* fn = "init_custom_ar";
  KK_CHECK(rank_data.is_cuda(), fn, "rank_data must be a CUDA tensor");
  check_contiguous(rank_data, fn, "rank_data");
  torch::stable::accelerator::DeviceGuard guard(rank_data.get_device_index());
  int64_t handle = 0;
  check_host(
      all_reduce_create(ipc_tensors, rank_data.data_ptr(),
                        rank_data.numel() * static_cast<int64_t>(rank_data.element_size()), rank, full_nvlink, &handle),
      fn);
  return handle;
}

void dispose(int64_t fa) { check_host(all_reduce_dispose(fa), "dispose"); }

int64_t meta_size() { return all_reduce_meta_size(); }

void register_buffer(int64_t fa, std::vector<int64_t> buffer_ptrs) {
  check_host(all_reduce_register_buffer(fa, buffer_ptrs), "register_buffer");
}

std::tuple<std::vector<int64_t>, std::vector<int64_t>> get_graph_buffer_ipc_meta(int64_t fa) {
  std::vector<int64_t> handle_bytes, offsets;
  check_host(all_reduce_graph_buffer_ipc_meta(fa, &handle_bytes, &offsets), "get_graph_buffer_ipc_meta");
  return {handle_bytes, offsets};
}

void register_graph_buffers(int64_t fa, std::vector<std::vector<int64_t>> handles,
                            std::vector<std::vector<int64_t>> offsets) {
  check_host(all_reduce_register_graph_buffers(fa, handles, offsets), "register_graph_buffers");
}

std::tuple<int64_t, std::vector<int64_t>> allocate_shared_buffer(int64_t size) {
  int64_t ptr = 0;
  std::vector<int64_t> handle;
  check_host(all_reduce_allocate_shared_buffer(size, &ptr, &handle), "allocate_shared_buffer");
  return {ptr, handle};
}

int64_t open_shared_buffer(std::vector<int64_t> handle) {
  int64_t ptr = 0;
  check_host(all_reduce_open_shared_buffer(handle, &ptr), "open_shared_buffer");
  return ptr;
}

void free_shared_buffer(int64_t ptr) { check_host(all_reduce_free_shared_buffer(ptr), "free_shared_buffer"); }

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, all_reduce, &kernelkit::binding::all_reduce,
                      "all_reduce(int fa, Tensor inp, Tensor! out, int reg_buffer, int reg_buffer_sz_bytes) -> ()");
KERNELKIT_REGISTER_HOST_FN(kernelkit, init_custom_ar, &kernelkit::binding::init_custom_ar,
                           "init_custom_ar(int[] ipc_tensors, Tensor rank_data, int rank, bool full_nvlink) -> int");
KERNELKIT_REGISTER_HOST_FN(kernelkit, dispose, &kernelkit::binding::dispose, "dispose(int fa) -> ()");
KERNELKIT_REGISTER_HOST_FN(kernelkit, meta_size, &kernelkit::binding::meta_size, "meta_size() -> int");
KERNELKIT_REGISTER_HOST_FN(kernelkit, register_buffer, &kernelkit::binding::register_buffer,
                           "register_buffer(int fa, int[] buffer_ptrs) -> ()");
KERNELKIT_REGISTER_HOST_FN(kernelkit, get_graph_buffer_ipc_meta, &kernelkit::binding::get_graph_buffer_ipc_meta,
                           "get_graph_buffer_ipc_meta(int fa) -> (int[], int[])");
KERNELKIT_REGISTER_HOST_FN(kernelkit, register_graph_buffers, &kernelkit::binding::register_graph_buffers,
                           "register_graph_buffers(int fa, int[][] handles, int[][] offsets) -> ()");
KERNELKIT_REGISTER_HOST_FN(kernelkit, allocate_shared_buffer, &kernelkit::binding::allocate_shared_buffer,
                           "allocate_shared_buffer(int size) -> (int, int[])");
KERNELKIT_REGISTER_HOST_FN(kernelkit, open_shared_buffer, &kernelkit::binding::open_shared_buffer,
                           "open_shared_buffer(int[] handle) -> int");
KERNELKIT_REGISTER_HOST_FN(kernelkit, free_shared_buffer, &kernelkit::binding::free_shared_buffer,
                           "free_shared_buffer(int ptr) -> ()");
