// Checks the kvcacheio transfers share (sgl-kernel's transfer_kv_* ops), each message naming the op, the argument,
// what is expected and what came: the launch knobs, the index tensors, the K/V buffers (device memory, or pinned host
// memory the GPU reads and writes through unified addressing), the layer tables of the all-layer forms, and the
// slots a buffer holds in its layout (slots past them are skipped by the kernel, not written out of bounds).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernelkit/binding.h"
#include "kernelkit/families/kv_transfer_args.h"

namespace kernelkit::binding {

constexpr int64_t kKvUnknownCapacity = INT64_MAX;

inline int64_t kv_nbytes(const Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

// item_size and sgl-kernel's two launch knobs (kernel forms).
inline void check_kv_knobs(const char* op, int64_t item_size, int64_t block_quota, int64_t num_warps_per_block) {
  KK_CHECK(item_size > 0, op, "item_size must be positive (bytes of one layer of one token slot), got ", item_size);
  KK_CHECK(block_quota >= 1 && block_quota <= INT32_MAX, op,
           "block_quota must be in [1, 2^31) (the CTAs the copy may use), got ", block_quota);
  KK_CHECK(num_warps_per_block >= 1 && num_warps_per_block <= 32, op, "num_warps_per_block must be in [1, 32], got ",
           num_warps_per_block);
}

inline void check_kv_layer_id(const char* op, int64_t layer_id) {
  KK_CHECK(layer_id >= 0, op, "layer_id must be >= 0, got ", layer_id);
}

inline void check_kv_num_layers(const char* op, int64_t num_layers) {
  KK_CHECK(num_layers >= 0 && num_layers <= INT32_MAX, op, "num_layers must be in [0, 2^31), got ", num_layers);
}

// A page-first/page-head layout_dim holds every layer's item of one slot: layers [0, layers_end) must fit in it.
inline void check_kv_layout_dim(const char* op, const char* arg, int64_t layout_dim, int64_t item_size,
                                int64_t layers_end) {
  KK_CHECK(layout_dim > 0, op, arg, " must be positive (bytes of one token slot over all layers), got ", layout_dim);
  KK_CHECK(layers_end <= layout_dim / item_size, op, arg, " (", layout_dim, " bytes per slot) must hold ", layers_end,
           " layers of item_size ", item_size, " bytes (", layers_end * item_size, " bytes)");
}

// The page-head geometry: head_num segments per item, page_size slots per page.
inline void check_kv_page_head(const char* op, int64_t item_size, int64_t layout_dim, int64_t page_size,
                               int64_t head_num) {
  KK_CHECK(page_size >= 1 && page_size <= INT32_MAX, op, "page_size must be in [1, 2^31), got ", page_size);
  KK_CHECK(head_num >= 1 && head_num <= INT32_MAX, op, "head_num must be in [1, 2^31), got ", head_num);
  KK_CHECK(item_size % head_num == 0, op, "item_size (", item_size, ") must be a multiple of head_num (", head_num,
           "): each head is item_size / head_num bytes");
  KK_CHECK(layout_dim % head_num == 0, op, "the layout dim (", layout_dim, ") must be a multiple of head_num (",
           head_num, ")");
}

// The flat chunk index of one item fits 31 bits (the kernel splits launches over items, not within one).
inline void check_kv_item_chunks(const char* op, int64_t item_size, int64_t num_layers, int64_t nkv) {
  KK_CHECK(item_size * num_layers * nkv < (int64_t{1} << 31), op, "one slot's transfer (item_size ", item_size, " x ",
           num_layers, " layers x ", nkv, ") must be below 2 GiB");
}

// src_indices / dst_indices: int64, contiguous, one length. Returns it.
inline int64_t check_kv_indices(const char* op, const Tensor& src_indices, const Tensor& dst_indices) {
  check_scalar_type(src_indices, ScalarType::Long, op, "src_indices");
  check_scalar_type(dst_indices, ScalarType::Long, op, "dst_indices");
  check_contiguous(src_indices, op, "src_indices");
  check_contiguous(dst_indices, op, "dst_indices");
  KK_CHECK(src_indices.numel() == dst_indices.numel(), op,
           "src_indices and dst_indices must have the same length, got ", src_indices.numel(), " and ",
           dst_indices.numel());
  return src_indices.numel();
}

// A buffer of a kernel form is addressed as bytes from its first element: it must be dense.
inline void check_kv_buffer(const char* op, const Tensor& t, const char* arg) {
  KK_CHECK(t.is_contiguous(), op, arg, " must be contiguous (it is addressed as bytes: slot * item_size), got shape ",
           shape_str(t), " with other strides");
}

// A table of layer base addresses (what x.data_ptr() gives): 1-D contiguous int64 or uint64, num_layers entries
// (at least that many where sgl-kernel does not check the length).
inline void check_kv_table(const char* op, const Tensor& t, const char* arg, int64_t num_layers, bool exact) {
  const ScalarType st = t.scalar_type();
  KK_CHECK(st == ScalarType::Long || st == ScalarType::UInt64, op, arg,
           " must be int64 or uint64 (one data_ptr() per layer), got ",
           st == ScalarType::UInt64 ? "uint64" : scalar_type_name(st));
  KK_CHECK(t.dim() == 1 && t.is_contiguous(), op, arg, " must be a 1-D contiguous tensor, got shape ", shape_str(t));
  if (exact) {
    KK_CHECK(t.size(0) == num_layers, op, arg, " must have num_layers (", num_layers, ") entries, got ", t.size(0));
  } else {
    KK_CHECK(t.size(0) >= num_layers, op, arg, " must have at least num_layers (", num_layers, ") entries, got ",
             t.size(0));
  }
}

// Slots of a buffer in each layout (every byte a slot below it touches lies inside the tensor).
inline int64_t kv_lf_capacity(const Tensor& t, int64_t item_size) { return kv_nbytes(t) / item_size; }

inline int64_t kv_pf_capacity(const Tensor& t, int64_t item_size, int64_t layout_dim, int64_t layers_end) {
  const int64_t bytes = kv_nbytes(t), first = layers_end * item_size;  // bytes slot 0 reaches
  return bytes < first ? 0 : (bytes - first) / layout_dim + 1;
}

inline int64_t kv_ph_capacity(const char* op, const Tensor& t, const char* arg, int64_t page_size, int64_t layout_dim) {
  const int64_t slots = kv_nbytes(t) / (page_size * layout_dim) * page_size;
  KK_CHECK(slots <= INT32_MAX, op, arg, " holds ", slots, " page-head slots; at most 2^31 - 1 are supported");
  return slots;
}

// The device pointer of a buffer the kernel reads or writes: a CUDA tensor on `device`, or a CPU tensor in pinned
// (page-locked) memory, which the GPU reaches over the bus. Pageable memory is refused: the GPU cannot address it.
inline const void* kv_device_ptr(const char* op, const Tensor& t, const char* arg, int32_t device) {
  if (t.is_cuda()) {
    KK_CHECK(t.get_device_index() == device, op, arg, " must be on the indices' device cuda:", device,
             " or in pinned host memory, got cuda:", t.get_device_index());
    return t.data_ptr();
  }
  KK_CHECK(t.is_cpu(), op, arg, " must be a CUDA tensor or a pinned CPU tensor");
  if (t.numel() == 0) return t.data_ptr();  // never addressed: no slot lies inside it
  cudaPointerAttributes attr{};
  // A query, but one CUDA may refuse inside a stream capture in global mode: relaxed for this thread, then back.
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  cudaThreadExchangeStreamCaptureMode(&mode);
  const cudaError_t err = cudaPointerGetAttributes(&attr, t.data_ptr());
  cudaThreadExchangeStreamCaptureMode(&mode);
  if (err != cudaSuccess) cudaGetLastError();  // clear it: the refusal below says what to do
  KK_CHECK(err == cudaSuccess && (attr.type == cudaMemoryTypeHost || attr.type == cudaMemoryTypeManaged) &&
               attr.devicePointer != nullptr,
           op, arg,
           " is a CPU tensor in pageable memory: the GPU reads and writes it directly, so it must be pinned "
           "(x.pin_memory(), or pin_memory=True when allocating)");
  return attr.devicePointer;
}

// Indices on one CUDA device (the kernel reads them there); returns it.
inline int32_t check_kv_index_devices(const char* op, const Tensor& src_indices, const Tensor& dst_indices) {
  check_devices(op, {{"src_indices", src_indices}, {"dst_indices", dst_indices}});
  return src_indices.get_device_index();
}

// The arguments every kernel form fills the same way; the caller sets src, dst (and a page-head geometry).
inline KvTransferArgs kv_transfer_args(const Tensor& src_indices, const Tensor& dst_indices, int64_t item_size,
                                       int64_t layer_begin, int64_t num_layers, int64_t block_quota,
                                       int64_t num_warps_per_block) {
  KvTransferArgs a{};
  a.src_indices = static_cast<const int64_t*>(src_indices.data_ptr());
  a.dst_indices = static_cast<const int64_t*>(dst_indices.data_ptr());
  a.num_items = src_indices.numel();
  a.item_bytes = item_size;
  a.layer_begin = layer_begin;
  a.num_layers = num_layers;
  a.page_size = 1;
  a.head_num = 1;
  a.block_quota = block_quota;
  a.warps_per_block = num_warps_per_block;
  return a;
}

// ---------------- the direct forms ----------------

// Rows of a [rows, ...] tensor: every dimension after the first dense (the row stride is free).
struct KvRows {
  int64_t rows, row_bytes, row_stride;  // bytes
};

inline KvRows kv_rows(const char* op, const Tensor& t, const std::string& arg) {
  KK_CHECK(t.dim() >= 1, op, arg, " must have at least one dimension, got a scalar");
  int64_t expected = 1;
  for (int64_t i = t.dim() - 1; i >= 1; --i) {
    KK_CHECK(t.size(i) <= 1 || t.stride(i) == expected, op, arg, " of shape ", shape_str(t),
             " must be contiguous after its first dimension, got stride ", t.stride(i), " in dimension ", i);
    expected *= t.size(i);
  }
  const int64_t b = static_cast<int64_t>(t.element_size());
  return {t.size(0), expected * b, t.stride(0) * b};
}

// The direct forms' index checks: int64, contiguous, one length, a whole number of pages (sgl-kernel's checks).
inline int64_t check_kv_direct_indices(const char* op, const Tensor& src_indices, const Tensor& dst_indices,
                                       int64_t page_size) {
  const int64_t n = check_kv_indices(op, src_indices, dst_indices);
  KK_CHECK(page_size > 0, op, "page_size must be positive, got ", page_size);
  KK_CHECK(n % page_size == 0, op, "src_indices length (", n, ") must be a multiple of page_size (", page_size, ")");
  return n;
}

// Every CUDA tensor among `tensors` on one device, and at least one (whose stream the copies go to); returns it.
inline int32_t check_kv_direct_devices(const char* op, const std::vector<NamedTensor>& tensors) {
  int32_t device = -1;
  const char* first = nullptr;
  for (const NamedTensor& t : tensors) {
    if (!t.tensor.is_cuda()) continue;
    if (first == nullptr) {
      first = t.name;
      device = t.tensor.get_device_index();
      continue;
    }
    KK_CHECK(t.tensor.get_device_index() == device, op, first, " and ", t.name,
             " must be on the same device, got cuda:", device, " and cuda:", t.tensor.get_device_index());
  }
  KK_CHECK(first != nullptr, op, "needs a CUDA tensor among its buffers and indices (the copies run on its stream)");
  return device;
}

// The indices as host values: read in place from a CPU tensor, copied (and waited for) from a CUDA one, as
// sgl-kernel's .cpu() does.
inline std::vector<int64_t> kv_host_indices(const char* op, const Tensor& t, cudaStream_t stream) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  if (out.empty()) return out;
  if (!t.is_cuda()) {
    const auto* p = static_cast<const int64_t*>(t.data_ptr());
    out.assign(p, p + out.size());
    return out;
  }
  check_launch(cudaMemcpyAsync(out.data(), t.data_ptr(), out.size() * sizeof(int64_t), cudaMemcpyDeviceToHost, stream),
               op);
  check_launch(cudaStreamSynchronize(stream), op);
  return out;
}

inline int kv_copy_kind(const Tensor& src, const Tensor& dst) {
  if (src.is_cuda()) return dst.is_cuda() ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost;
  return dst.is_cuda() ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost;
}

// The units a direct transfer copies, from the host indices: the first index of every `step` (a page's first
// slot, or every index for single rows), divided by `div` (a page-first side counts pages) or not (a token row).
// Each unit covers `len` of the `size` rows or pages its tensors hold, which must contain it.
inline std::vector<int64_t> kv_units(const char* op, const char* arg, const std::vector<int64_t>& idx, int64_t step,
                                     int64_t div, int64_t len, int64_t size, const char* what) {
  std::vector<int64_t> units(idx.size() / static_cast<size_t>(step));
  for (size_t i = 0; i < units.size(); ++i) {
    const int64_t pos = static_cast<int64_t>(i) * step, v = idx[static_cast<size_t>(pos)];
    KK_CHECK(v >= 0 && v / div <= size - len, op, arg, "[", pos, "] = ", v, " is out of range: ", what, " hold ", size,
             div > 1 ? " pages" : " rows", len > 1 && div == 1 ? " (and a page takes " : "",
             len > 1 && div == 1 ? std::to_string(len) + " rows from it)" : std::string());
    units[i] = v / div;
  }
  return units;
}

// A page-first pool [pages, layers, page_size, ...]: contiguous, with the layers and page rows the copy reads.
struct KvPool {
  const Tensor* t;
  int64_t pages, layer_stride, page_stride, row_bytes;
};

inline KvPool check_kv_pool(const char* op, const Tensor& t, const std::string& arg, int64_t layers_end,
                            int64_t page_size) {
  KK_CHECK(t.dim() >= 3 && t.is_contiguous(), op, arg,
           " must be a contiguous page-first pool [pages, layers, page_size, ...], got shape ", shape_str(t));
  KK_CHECK(t.size(1) >= layers_end, op, arg, " holds ", t.size(1), " layers, the copy needs ", layers_end);
  KK_CHECK(t.size(2) >= page_size, op, arg, " holds pages of ", t.size(2), " rows, page_size is ", page_size);
  // Strides from the sizes: a contiguous tensor's size-1 dimensions may carry any stride.
  int64_t row = static_cast<int64_t>(t.element_size());
  for (int64_t i = 3; i < t.dim(); ++i) row *= t.size(i);
  return {&t, t.size(0), t.size(2) * row, t.size(1) * t.size(2) * row, row};
}

// The layer-first buffers of one side: each [rows, ...] dense after the first dimension, of the pools' dtype and
// row size. Returns the fewest rows among them.
inline int64_t check_kv_layer_buffers(const char* op, const std::vector<Tensor>& bufs, const char* arg,
                                      const Tensor& pool, const KvPool& p, const char* pool_arg,
                                      std::vector<KvRows>& rows) {
  int64_t fewest = INT64_MAX;
  for (size_t i = 0; i < bufs.size(); ++i) {
    const std::string name = std::string(arg) + "[" + std::to_string(i) + "]";
    rows.push_back(kv_rows(op, bufs[i], name));
    KK_CHECK(bufs[i].scalar_type() == pool.scalar_type() && rows.back().row_bytes == p.row_bytes, op, name,
             " must have rows of ", pool_arg, "'s dtype and row size (", p.row_bytes, " bytes), got ",
             rows.back().row_bytes, " bytes of ", scalar_type_name(bufs[i].scalar_type()));
    fewest = std::min(fewest, rows.back().rows);
  }
  return fewest;
}

}  // namespace kernelkit::binding
