// bmm_fp8: the torch face of launch_bmm_fp8 (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/gemm/bmm_fp8.h"
#include "gemm/scaled_mm_binding.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

// A / B: float8_e4m3fn. sgl-kernel (cuBLASLt) also takes float8_e5m2 for one of the two; these kernels are e4m3 only.
void check_e4m3(const char* op, const char* arg, const Tensor& t) {
  const ScalarType st = t.scalar_type();
  KK_CHECK(st == ScalarType::Float8_e4m3fn, op, arg, " must be float8_e4m3fn, got ", gemm::dtype_name(st),
           st == ScalarType::Float8_e5m2 ? " (kernelkit's bmm_fp8 takes e4m3 operands only)" : "");
}

void check_scale(const char* op, const char* arg, const Tensor& t) {
  check_scalar_type(t, ScalarType::Float, op, arg);
  KK_CHECK(t.numel() == 1, op, arg, " must hold one value (a per-tensor scale), got shape ", shape_str(t));
}

void bmm_fp8(Tensor out, Tensor A, Tensor B, Tensor A_scale, Tensor B_scale) {
  constexpr const char* op = "bmm_fp8";
  check_e4m3(op, "A", A);
  check_e4m3(op, "B", B);
  KK_CHECK(A.dim() == 3, op, "A must be 3-D [b, m, k], got shape ", shape_str(A));
  KK_CHECK(B.dim() == 3, op, "B must be 3-D [b, k, n] (column-major in each batch, e.g. x.transpose(-2, -1) of a ",
           "contiguous [b, n, k]), got shape ", shape_str(B));
  const int64_t batch = A.size(0), m = A.size(1), k = A.size(2), n = B.size(2);
  KK_CHECK(B.size(0) == batch && B.size(1) == k, op, "A [b, m, k] and B [b, k, n] must share b and k, got shapes ",
           shape_str(A), " and ", shape_str(B));
  gemm::check_size(op, "b", batch);
  gemm::check_size(op, "m", m);
  gemm::check_k_and_n(op, k, n, "A.size(2)", "B.size(2)");
  const gemm::OperandStrides a =
      gemm::check_tma_operand(op, "A", A, 1, 2, true, "row-major in each batch", "row", "pass A.contiguous()");
  const gemm::OperandStrides b = gemm::check_tma_operand(op, "B", B, 2, 1, true, "column-major in each batch", "column",
                                                         "pass x.transpose(-2, -1) of a contiguous [b, n, k] x");
  const DType out_dtype = gemm::check_out_dtype(op, "out", out);
  KK_CHECK(out.dim() == 3 && out.size(0) == batch && out.size(1) == m && out.size(2) == n, op,
           "out must have shape [b, m, n] = [", batch, ", ", m, ", ", n, "], got ", shape_str(out));
  const gemm::OperandStrides o =
      gemm::check_tma_operand(op, "out", out, 1, 2, true, "row-major in each batch", "row", "pass a contiguous out");
  check_scale(op, "A_scale", A_scale);
  check_scale(op, "B_scale", B_scale);
  check_devices(op, {{"A", A}, {"B", B}, {"out", out}, {"A_scale", A_scale}, {"B_scale", B_scale}});
  if (batch == 0 || m == 0 || n == 0) return;  // an empty output: nothing to launch
  const int32_t device = A.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_bmm_fp8(out.data_ptr(), o.vectors, o.batch, A.data_ptr(), a.vectors, a.batch, B.data_ptr(),
                              b.vectors, b.batch, static_cast<const float*>(A_scale.data_ptr()),
                              static_cast<const float*>(B_scale.data_ptr()), batch, m, n, k, out_dtype,
                              current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, bmm_fp8, &kernelkit::binding::bmm_fp8,
                      "bmm_fp8(Tensor! out, Tensor A, Tensor B, Tensor A_scale, Tensor B_scale) -> ()");
