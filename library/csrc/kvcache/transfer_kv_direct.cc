// transfer_kv_direct: the torch face of launch_transfer_kv_direct (validate the arguments, read the indices on the
// host, plan the copies, issue them on the current stream) and the op's registration: its schema, and this binding as
// its CUDA and CPU kernel. Shared checks: kvcache/kv_transfer_binding.h.
#include "kernelkit_ops/kvcache/transfer_kv_direct.h"
#include "kernelkit/binding.h"
#include "kvcache/kv_transfer_binding.h"

#include <algorithm>
#include <string>
#include <vector>

namespace kernelkit::binding {
namespace {

void transfer_kv_direct(std::vector<Tensor> src_layers, std::vector<Tensor> dst_layers, Tensor src_indices,
                        Tensor dst_indices, int64_t page_size) {
  constexpr const char* op = "transfer_kv_direct";
  KK_CHECK(src_layers.size() == dst_layers.size(), op,
           "src_layers and dst_layers must hold the same number of buffers, got ", src_layers.size(), " and ",
           dst_layers.size());
  const int64_t n = check_kv_direct_indices(op, src_indices, dst_indices, page_size);
  std::vector<KvRows> src_rows, dst_rows;
  int64_t src_fewest = INT64_MAX, dst_fewest = INT64_MAX;
  std::vector<NamedTensor> all{{"src_indices", src_indices}, {"dst_indices", dst_indices}};
  std::vector<std::string> names;
  names.reserve(2 * src_layers.size());
  for (size_t i = 0; i < src_layers.size(); ++i) {
    names.push_back("src_layers[" + std::to_string(i) + "]");
    names.push_back("dst_layers[" + std::to_string(i) + "]");
    src_rows.push_back(kv_rows(op, src_layers[i], names[2 * i]));
    dst_rows.push_back(kv_rows(op, dst_layers[i], names[2 * i + 1]));
    KK_CHECK(
        src_layers[i].scalar_type() == dst_layers[i].scalar_type() && src_rows[i].row_bytes == dst_rows[i].row_bytes,
        op, names[2 * i + 1], " must have rows of ", names[2 * i], "'s dtype and size (",
        scalar_type_name(src_layers[i].scalar_type()), ", ", src_rows[i].row_bytes, " bytes), got ",
        scalar_type_name(dst_layers[i].scalar_type()), ", ", dst_rows[i].row_bytes, " bytes");
    KK_CHECK(src_rows[i].row_bytes == src_rows[0].row_bytes, op, names[2 * i], " must have the row size of ", names[0],
             " (", src_rows[0].row_bytes, " bytes: one copy plan serves every buffer), got ", src_rows[i].row_bytes);
    src_fewest = std::min(src_fewest, src_rows[i].rows);
    dst_fewest = std::min(dst_fewest, dst_rows[i].rows);
  }
  for (size_t i = 0; i < src_layers.size(); ++i) {
    all.push_back({names[2 * i].c_str(), src_layers[i]});
    all.push_back({names[2 * i + 1].c_str(), dst_layers[i]});
  }
  const int32_t device = check_kv_direct_devices(op, all);
  if (n == 0 || src_layers.empty()) return;  // nothing to copy
  torch::stable::accelerator::DeviceGuard guard(device);
  const cudaStream_t stream = current_cuda_stream(device);
  // One unit per index (a token row); a run continues while both indices step by one.
  const std::vector<int64_t> src_units =
      kv_units(op, "src_indices", kv_host_indices(op, src_indices, stream), 1, 1, 1, src_fewest, "src_layers");
  const std::vector<int64_t> dst_units =
      kv_units(op, "dst_indices", kv_host_indices(op, dst_indices, stream), 1, 1, 1, dst_fewest, "dst_layers");
  std::vector<KvDirectPair> pairs;
  for (size_t i = 0; i < src_layers.size(); ++i) {
    pairs.push_back({static_cast<const char*>(src_layers[i].data_ptr()), static_cast<char*>(dst_layers[i].data_ptr()),
                     src_rows[i].row_stride, src_rows[i].row_stride, dst_rows[i].row_stride, dst_rows[i].row_stride,
                     kv_copy_kind(src_layers[i], dst_layers[i])});
  }
  const KvDirectArgs a{pairs.data(),
                       static_cast<int64_t>(pairs.size()),
                       src_units.data(),
                       dst_units.data(),
                       static_cast<int64_t>(src_units.size()),
                       1,
                       1,
                       1,
                       src_rows[0].row_bytes};
  check_launch(launch_transfer_kv_direct(a, stream), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, transfer_kv_direct, &kernelkit::binding::transfer_kv_direct,
    "transfer_kv_direct(Tensor[] src_layers, Tensor[] dst_layers, Tensor src_indices, Tensor dst_indices, "
    "int page_size) -> ()");
