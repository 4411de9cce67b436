// transfer_kv_per_layer_direct_pf_lf: the torch face of launch_transfer_kv_per_layer_direct_pf_lf (validate the
// arguments, read the indices on the host, plan the copies, issue them on the current stream) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel. Shared checks: kvcache/kv_transfer_binding.h.
#include "kernelkit_ops/kvcache/transfer_kv_per_layer_direct_pf_lf.h"
#include "kernelkit/binding.h"
#include "kvcache/kv_transfer_binding.h"

#include <algorithm>
#include <string>
#include <vector>

namespace kernelkit::binding {
namespace {

void transfer_kv_per_layer_direct_pf_lf(std::vector<Tensor> src_ptrs, std::vector<Tensor> dst_ptrs, Tensor src_indices,
                                        Tensor dst_indices, int64_t layer_id, int64_t page_size) {
  constexpr const char* op = "transfer_kv_per_layer_direct_pf_lf";
  KK_CHECK(src_ptrs.size() == 1 || src_ptrs.size() == 2, op,
           "src_ptrs must hold one page-first pool (MLA) or two (K and V), got ", src_ptrs.size());
  const int64_t pools = static_cast<int64_t>(src_ptrs.size());
  KK_CHECK(!dst_ptrs.empty() && static_cast<int64_t>(dst_ptrs.size()) % pools == 0, op,
           "dst_ptrs must hold one layer buffer per layer for each of the ", pools, " pool(s), got ", dst_ptrs.size());
  const int64_t layers = static_cast<int64_t>(dst_ptrs.size()) / pools;
  check_kv_layer_id(op, layer_id);
  const int64_t n = check_kv_direct_indices(op, src_indices, dst_indices, page_size);
  std::vector<KvPool> pool;
  int64_t pages = INT64_MAX;
  for (int64_t k = 0; k < pools; ++k) {
    pool.push_back(check_kv_pool(op, src_ptrs[k], "src_ptrs[" + std::to_string(k) + "]", layer_id + layers, page_size));
    pages = std::min(pages, pool.back().pages);
  }
  std::vector<KvRows> rows;
  const int64_t fewest = check_kv_layer_buffers(op, dst_ptrs, "dst_ptrs", src_ptrs[0], pool[0], "src_ptrs[0]", rows);
  if (pools == 2) {
    KK_CHECK(src_ptrs[1].scalar_type() == src_ptrs[0].scalar_type() && pool[1].row_bytes == pool[0].row_bytes, op,
             "src_ptrs[1] must have src_ptrs[0]'s dtype and row size");
  }
  std::vector<NamedTensor> all{{"src_indices", src_indices}, {"dst_indices", dst_indices}};
  for (const Tensor& t : src_ptrs) all.push_back({"src_ptrs", t});
  for (const Tensor& t : dst_ptrs) all.push_back({"dst_ptrs", t});
  const int32_t device = check_kv_direct_devices(op, all);
  if (n == 0) return;  // nothing to copy
  torch::stable::accelerator::DeviceGuard guard(device);
  const cudaStream_t stream = current_cuda_stream(device);
  // A unit is a page: its source is the pool page src_indices[i * P] / P, its destination the rows
  // dst_indices[i * P] .. + P (sgl-kernel reads only each page's first index).
  const std::vector<int64_t> src_units =
      kv_units(op, "src_indices", kv_host_indices(op, src_indices, stream), page_size, page_size, 1, pages, "src_ptrs");
  const std::vector<int64_t> dst_units = kv_units(op, "dst_indices", kv_host_indices(op, dst_indices, stream),
                                                  page_size, 1, page_size, fewest, "dst_ptrs");
  std::vector<KvDirectPair> pairs;
  for (int64_t k = 0; k < pools; ++k) {
    for (int64_t l = 0; l < layers; ++l) {
      const KvPool& p = pool[k];
      const Tensor& dst = dst_ptrs[k * layers + l];
      const KvRows& r = rows[k * layers + l];
      pairs.push_back({static_cast<const char*>(p.t->data_ptr()) + (layer_id + l) * p.layer_stride,
                       static_cast<char*>(dst.data_ptr()), p.page_stride, p.row_bytes, r.row_stride, r.row_stride,
                       kv_copy_kind(*p.t, dst)});
    }
  }
  const KvDirectArgs a{pairs.data(),
                       static_cast<int64_t>(pairs.size()),
                       src_units.data(),
                       dst_units.data(),
                       static_cast<int64_t>(src_units.size()),
                       1,
                       page_size,
                       page_size,
                       pool[0].row_bytes};
  check_launch(launch_transfer_kv_per_layer_direct_pf_lf(a, stream), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, transfer_kv_per_layer_direct_pf_lf,
                      &kernelkit::binding::transfer_kv_per_layer_direct_pf_lf,
                      "transfer_kv_per_layer_direct_pf_lf(Tensor[] src_ptrs, Tensor[] dst_ptrs, Tensor src_indices, "
                      "Tensor dst_indices, int layer_id, int page_size) -> ()");
