// transfer_kv_all_layer_direct_lf_pf: the torch face of launch_transfer_kv_all_layer_direct_lf_pf (validate the
// arguments, read the indices on the host, plan the copies, issue them on the current stream) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel. Shared checks: kvcache/kv_transfer_binding.h.
#include "kernelkit_ops/kvcache/transfer_kv_all_layer_direct_lf_pf.h"
#include "kernelkit/binding.h"
#include "kvcache/kv_transfer_binding.h"

#include <algorithm>
#include <string>
#include <vector>

namespace kernelkit::binding {
namespace {

void transfer_kv_all_layer_direct_lf_pf(std::vector<Tensor> src_ptrs, std::vector<Tensor> dst_ptrs, Tensor src_indices,
                                        Tensor dst_indices, int64_t page_size) {
  constexpr const char* op = "transfer_kv_all_layer_direct_lf_pf";
  KK_CHECK(dst_ptrs.size() == 1 || dst_ptrs.size() == 2, op,
           "dst_ptrs must hold one page-first pool (MLA) or two (K and V), got ", dst_ptrs.size());
  const int64_t pools = static_cast<int64_t>(dst_ptrs.size());
  KK_CHECK(!src_ptrs.empty() && static_cast<int64_t>(src_ptrs.size()) % pools == 0, op,
           "src_ptrs must hold one layer buffer per layer for each of the ", pools, " pool(s), got ", src_ptrs.size());
  const int64_t layers = static_cast<int64_t>(src_ptrs.size()) / pools;
  const int64_t n = check_kv_direct_indices(op, src_indices, dst_indices, page_size);
  std::vector<KvPool> pool;
  int64_t pages = INT64_MAX;
  for (int64_t k = 0; k < pools; ++k) {
    pool.push_back(check_kv_pool(op, dst_ptrs[k], "dst_ptrs[" + std::to_string(k) + "]", layers, page_size));
    pages = std::min(pages, pool.back().pages);
  }
  std::vector<KvRows> rows;
  const int64_t fewest = check_kv_layer_buffers(op, src_ptrs, "src_ptrs", dst_ptrs[0], pool[0], "dst_ptrs[0]", rows);
  if (pools == 2) {
    KK_CHECK(dst_ptrs[1].scalar_type() == dst_ptrs[0].scalar_type() && pool[1].row_bytes == pool[0].row_bytes, op,
             "dst_ptrs[1] must have dst_ptrs[0]'s dtype and row size");
  }
  std::vector<NamedTensor> all{{"src_indices", src_indices}, {"dst_indices", dst_indices}};
  for (const Tensor& t : src_ptrs) all.push_back({"src_ptrs", t});
  for (const Tensor& t : dst_ptrs) all.push_back({"dst_ptrs", t});
  const int32_t device = check_kv_direct_devices(op, all);
  if (n == 0) return;  // nothing to copy
  torch::stable::accelerator::DeviceGuard guard(device);
  const cudaStream_t stream = current_cuda_stream(device);
  // A unit is a page: its source the rows src_indices[i * P] .. + P, its destination the pool page
  // dst_indices[i * P] / P (sgl-kernel reads only each page's first index).
  const std::vector<int64_t> src_units = kv_units(op, "src_indices", kv_host_indices(op, src_indices, stream),
                                                  page_size, 1, page_size, fewest, "src_ptrs");
  const std::vector<int64_t> dst_units =
      kv_units(op, "dst_indices", kv_host_indices(op, dst_indices, stream), page_size, page_size, 1, pages, "dst_ptrs");
  std::vector<KvDirectPair> pairs;
  for (int64_t k = 0; k < pools; ++k) {
    for (int64_t l = 0; l < layers; ++l) {
      const KvPool& p = pool[k];
      const Tensor& src = src_ptrs[k * layers + l];
      const KvRows& r = rows[k * layers + l];
      pairs.push_back({static_cast<const char*>(src.data_ptr()),
                       static_cast<char*>(p.t->data_ptr()) + l * p.layer_stride, r.row_stride, r.row_stride,
                       p.page_stride, p.row_bytes, kv_copy_kind(src, *p.t)});
    }
  }
  const KvDirectArgs a{pairs.data(),
                       static_cast<int64_t>(pairs.size()),
                       src_units.data(),
                       dst_units.data(),
                       static_cast<int64_t>(src_units.size()),
                       page_size,
                       1,
                       page_size,
                       pool[0].row_bytes};
  check_launch(launch_transfer_kv_all_layer_direct_lf_pf(a, stream), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, transfer_kv_all_layer_direct_lf_pf,
                      &kernelkit::binding::transfer_kv_all_layer_direct_lf_pf,
                      "transfer_kv_all_layer_direct_lf_pf(Tensor[] src_ptrs, Tensor[] dst_ptrs, Tensor src_indices, "
                      "Tensor dst_indices, int page_size) -> ()");
