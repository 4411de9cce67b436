// store_kv_cache: the torch face of launch_store_kv_cache (validate the arguments, pick the stream, launch) and the
// op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/kvcache/store_kv_cache.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

// Elements per row of t viewed as [t.size(0), -1] (sgl-kernel's view): every dimension after the first dense.
int64_t row_elements(const char* op, const Tensor& t, const char* arg) {
  KK_CHECK(t.dim() >= 1, op, arg, " must have at least one dimension, got a scalar");
  int64_t expected = 1;
  for (int64_t i = t.dim() - 1; i >= 1; --i) {
    KK_CHECK(t.size(i) <= 1 || t.stride(i) == expected, op, arg, " of shape ", shape_str(t),
             " must be contiguous after its first dimension (a [rows, -1] view), got stride ", t.stride(i),
             " in dimension ", i);
    expected *= t.size(i);
  }
  return expected;
}

void store_kv_cache(Tensor k_cache, Tensor v_cache, Tensor loc, Tensor k, Tensor v, bool enable_pdl) {
  constexpr const char* op = "store_kv_cache";
  const int64_t row = row_elements(op, k_cache, "k_cache");
  KK_CHECK(row_elements(op, v_cache, "v_cache") == row && v_cache.size(0) == k_cache.size(0), op,
           "v_cache must have k_cache's rows and row size [", k_cache.size(0), ", ", row, "], got ",
           shape_str(v_cache));
  KK_CHECK(loc.scalar_type() == ScalarType::Int || loc.scalar_type() == ScalarType::Long, op,
           "loc must be int32 or int64, got ", scalar_type_name(loc.scalar_type()));
  KK_CHECK(loc.dim() == 1 && loc.is_contiguous(), op, "loc must be a 1-D contiguous tensor, got shape ",
           shape_str(loc));
  const int64_t tokens = loc.size(0);
  for (const auto& [t, name] : {std::pair<const Tensor&, const char*>{k, "k"}, {v, "v"}}) {
    const int64_t n = row_elements(op, t, name);
    KK_CHECK(t.size(0) == tokens && n == row, op, name, " must have one row of k_cache's row size per slot in loc [",
             tokens, ", ", row, "], got ", shape_str(t));
  }
  const size_t item = k_cache.element_size();
  KK_CHECK(v_cache.element_size() == item && k.element_size() == item && v.element_size() == item, op,
           "k, v, k_cache and v_cache must have one element size (rows are copied as bytes), got ",
           scalar_type_name(k.scalar_type()), ", ", scalar_type_name(v.scalar_type()), ", ",
           scalar_type_name(k_cache.scalar_type()), ", ", scalar_type_name(v_cache.scalar_type()));
  check_devices(op, {{"k_cache", k_cache}, {"v_cache", v_cache}, {"loc", loc}, {"k", k}, {"v", v}});
  if (tokens == 0 || row == 0) return;  // nothing to launch
  const int32_t device = k_cache.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const int64_t b = static_cast<int64_t>(item);
  check_launch(launch_store_kv_cache(k_cache.data_ptr(), v_cache.data_ptr(), k_cache.stride(0) * b,
                                     v_cache.stride(0) * b, k_cache.size(0), loc.data_ptr(),
                                     loc.scalar_type() == ScalarType::Long, k.data_ptr(), v.data_ptr(), k.stride(0) * b,
                                     v.stride(0) * b, tokens, row * b, enable_pdl, current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, store_kv_cache, &kernelkit::binding::store_kv_cache,
    "store_kv_cache(Tensor! k_cache, Tensor! v_cache, Tensor loc, Tensor k, Tensor v, bool enable_pdl) -> ()");
