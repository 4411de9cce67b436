// concat_mla_absorb_q: the torch face of launch_concat_mla_absorb_q (validate the arguments, pick the stream, launch)
// and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/kvcache/concat_mla_absorb_q.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void concat_mla_absorb_q(Tensor a, Tensor b, Tensor out, bool enable_pdl) {
  constexpr const char* op = "concat_mla_absorb_q";
  KK_CHECK(a.dim() == 3, op, "a must be 3-D [num_tokens, num_heads, a_dim], got ", shape_str(a));
  KK_CHECK(b.dim() == 3 && b.size(0) == a.size(0) && b.size(1) == a.size(1), op,
           "b must be 3-D [num_tokens, num_heads, b_dim] with [num_tokens, num_heads] = [", a.size(0), ", ", a.size(1),
           "], got ", shape_str(b));
  KK_CHECK(
      out.dim() == 3 && out.size(0) == a.size(0) && out.size(1) == a.size(1) && out.size(2) == a.size(2) + b.size(2),
      op, "out must have shape [num_tokens, num_heads, a_dim + b_dim] = [", a.size(0), ", ", a.size(1), ", ",
      a.size(2) + b.size(2), "], got ", shape_str(out));
  check_same_dtype(a, "a", b, "b", op);
  check_same_dtype(a, "a", out, "out", op);
  for (const auto& [x, name] : {std::pair<const Tensor&, const char*>{a, "a"}, {b, "b"}, {out, "out"}}) {
    KK_CHECK(x.size(2) <= 1 || x.stride(2) == 1, op, name, " must be contiguous in its last dimension (stride ",
             x.stride(2), ")");
  }
  check_devices(op, {{"a", a}, {"b", b}, {"out", out}});
  if (out.numel() == 0) return;  // nothing to launch
  const int32_t device = a.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const int64_t e = static_cast<int64_t>(a.element_size());
  const ConcatRowsArgs args{out.data_ptr(),  a.data_ptr(),    b.data_ptr(),      a.size(0),         a.size(1),
                            a.size(2) * e,   b.size(2) * e,   out.stride(0) * e, out.stride(1) * e, a.stride(0) * e,
                            a.stride(1) * e, b.stride(0) * e, b.stride(1) * e};
  check_launch(launch_concat_mla_absorb_q(args, enable_pdl, current_cuda_stream(device)), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, concat_mla_absorb_q, &kernelkit::binding::concat_mla_absorb_q,
                      "concat_mla_absorb_q(Tensor a, Tensor b, Tensor! out, bool enable_pdl) -> ()");
