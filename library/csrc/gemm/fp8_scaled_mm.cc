// fp8_scaled_mm: the torch face of launch_fp8_scaled_mm (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/gemm/fp8_scaled_mm.h"
#include "gemm/scaled_mm_binding.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void fp8_scaled_mm(Tensor out, Tensor mat_a, Tensor mat_b, Tensor scales_a, Tensor scales_b,
                   std::optional<Tensor> bias) {
  constexpr const char* op = "fp8_scaled_mm";
  const gemm::ScaledMm p =
      gemm::check_scaled_mm(op, ScalarType::Float8_e4m3fn, out, mat_a, mat_b, scales_a, scales_b, bias);
  // An absent bias stands in as mat_a: nothing to check.
  check_devices(op, {{"mat_a", mat_a},
                     {"mat_b", mat_b},
                     {"scales_a", scales_a},
                     {"scales_b", scales_b},
                     {"out", out},
                     {"bias", bias ? *bias : mat_a}});
  if (p.m == 0 || p.n == 0) return;  // an empty output: nothing to launch
  const int32_t device = mat_a.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_fp8_scaled_mm(out.data_ptr(), p.out.vectors, mat_a.data_ptr(), p.a.vectors, mat_b.data_ptr(),
                                    p.b.vectors, static_cast<const float*>(scales_a.data_ptr()),
                                    static_cast<const float*>(scales_b.data_ptr()), bias ? bias->data_ptr() : nullptr,
                                    p.m, p.n, p.k, p.out_dtype, current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, fp8_scaled_mm, &kernelkit::binding::fp8_scaled_mm,
    "fp8_scaled_mm(Tensor! out, Tensor mat_a, Tensor mat_b, Tensor scales_a, Tensor scales_b, Tensor? bias) -> ()");
