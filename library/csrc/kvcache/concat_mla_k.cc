// concat_mla_k: the torch face of launch_concat_mla_k (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/kvcache/concat_mla_k.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void concat_mla_k(Tensor k, Tensor k_nope, Tensor k_rope, bool enable_pdl) {
  constexpr const char* op = "concat_mla_k";
  KK_CHECK(k_nope.dim() == 3, op, "k_nope must be 3-D [num_tokens, num_heads, nope_dim], got ", shape_str(k_nope));
  const int64_t t = k_nope.size(0), h = k_nope.size(1), n = k_nope.size(2);
  KK_CHECK(k_rope.dim() == 3 && k_rope.size(0) == t && k_rope.size(1) == 1, op,
           "k_rope must be 3-D [num_tokens, 1, rope_dim] with num_tokens = ", t, ", got ", shape_str(k_rope));
  const int64_t r = k_rope.size(2);
  KK_CHECK(k.dim() == 3 && k.size(0) == t && k.size(1) == h && k.size(2) == n + r, op,
           "k must have shape [num_tokens, num_heads, nope_dim + rope_dim] = [", t, ", ", h, ", ", n + r, "], got ",
           shape_str(k));
  check_same_dtype(k, "k", k_nope, "k_nope", op);
  check_same_dtype(k, "k", k_rope, "k_rope", op);
  for (const auto& [x, name] :
       {std::pair<const Tensor&, const char*>{k, "k"}, {k_nope, "k_nope"}, {k_rope, "k_rope"}}) {
    KK_CHECK(x.size(2) <= 1 || x.stride(2) == 1, op, name, " must be contiguous in its last dimension (stride ",
             x.stride(2), ")");
  }
  check_devices(op, {{"k", k}, {"k_nope", k_nope}, {"k_rope", k_rope}});
  if (k.numel() == 0) return;  // nothing to launch
  const int32_t device = k.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const int64_t b = static_cast<int64_t>(k.element_size());
  const ConcatRowsArgs args{k.data_ptr(),
                            k_nope.data_ptr(),
                            k_rope.data_ptr(),
                            t,
                            h,
                            n * b,
                            r * b,
                            k.stride(0) * b,
                            k.stride(1) * b,
                            k_nope.stride(0) * b,
                            k_nope.stride(1) * b,
                            k_rope.stride(0) * b,
                            0};
  check_launch(launch_concat_mla_k(args, enable_pdl, current_cuda_stream(device)), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, concat_mla_k, &kernelkit::binding::concat_mla_k,
                      "concat_mla_k(Tensor! k, Tensor k_nope, Tensor k_rope, bool enable_pdl) -> ()");
