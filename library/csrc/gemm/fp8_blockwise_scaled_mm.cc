// fp8_blockwise_scaled_mm: the torch face of launch_fp8_blockwise_scaled_mm (validate the arguments, pick the stream,
// allocate the workspace, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
//
// Every requirement of the CUTLASS kernel is checked here, by argument, so that CUTLASS never meets a call it cannot
// run: TMA needs 16-byte aligned pointers and strides, the scales come in 128-deep K blocks (K % 128 == 0), and out's
// rows are stored by TMA (N % 8 == 0). M is free (1..), and so is N beyond N % 8 (the last weight block may be
// partial: scales_b has ceil(N/128) columns).
#include "kernelkit_ops/gemm/fp8_blockwise_scaled_mm.h"

#include <torch/csrc/stable/ops.h>

#include <optional>
#include <string>

#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

constexpr int64_t kBlock = 128;
constexpr int64_t kMaxDim = (int64_t{1} << 31) - 8;  // CUTLASS's problem shape is int (M also rounded up to 4)

bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }

std::string strides_str(const Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.stride(i));
  return s + ")";
}

void check_2d(const Tensor& t, const char* op, const char* arg, const char* expected) {
  KK_CHECK(t.dim() == 2, op, arg, " must be 2-D ", expected, ", got shape ", shape_str(t));
}

void fp8_blockwise_scaled_mm(Tensor out, Tensor mat_a, Tensor mat_b, Tensor scales_a, Tensor scales_b) {
  constexpr const char* op = "fp8_blockwise_scaled_mm";
  // Operands: A [M, K] row-major, B [K, N] column-major (w.t() of a contiguous [N, K] weight), both e4m3.
  check_scalar_type(mat_a, ScalarType::Float8_e4m3fn, op, "mat_a");
  check_scalar_type(mat_b, ScalarType::Float8_e4m3fn, op, "mat_b");
  check_2d(mat_a, op, "mat_a", "[M, K]");
  check_2d(mat_b, op, "mat_b", "[K, N]");
  const int64_t m = mat_a.size(0), k = mat_a.size(1), n = mat_b.size(1);
  KK_CHECK(mat_b.size(0) == k, op, "mat_a ", shape_str(mat_a), " and mat_b ", shape_str(mat_b),
           " cannot be multiplied (mat_b must be [K, N] with K = mat_a.size(1) = ", k, ")");
  KK_CHECK(k > 0 && k % kBlock == 0, op, "K = mat_a.size(1) must be a positive multiple of 128 (the scale block), got ",
           k);
  KK_CHECK(n % 8 == 0, op, "N = mat_b.size(1) must be a multiple of 8 (16-byte rows of out), got ", n);
  KK_CHECK(m <= kMaxDim && n <= kMaxDim && k <= kMaxDim, op, "sizes must be below 2^31 - 8, got M = ", m, ", N = ", n,
           ", K = ", k);
  KK_CHECK(mat_a.stride(1) == 1, op, "mat_a must be row-major (stride(1) == 1), got strides ", strides_str(mat_a));
  const int64_t lda = mat_a.stride(0);
  KK_CHECK(m <= 1 || (lda >= k && lda % 16 == 0), op,
           "mat_a's row stride must be >= K and a multiple of 16 (16-byte TMA rows), got ", lda);
  KK_CHECK(mat_b.stride(0) == 1, op,
           "mat_b must be column-major (stride(0) == 1: pass w.t() of a contiguous [N, K] weight), got strides ",
           strides_str(mat_b));
  const int64_t ldb = mat_b.stride(1);
  KK_CHECK(n <= 1 || (ldb >= k && ldb % 16 == 0), op,
           "mat_b's column stride must be >= K and a multiple of 16 (16-byte TMA rows), got ", ldb);
  KK_CHECK(aligned16(mat_a), op, "mat_a's data must be 16-byte aligned (TMA)");
  KK_CHECK(aligned16(mat_b), op, "mat_b's data must be 16-byte aligned (TMA)");

  // Scales: fp32, one per 1 x 128 group of A and per 128 x 128 block of B; any strides (see the header for which
  // layouts are read in place).
  const int64_t k_blocks = k / kBlock, n_blocks = (n + kBlock - 1) / kBlock;
  check_scalar_type(scales_a, ScalarType::Float, op, "scales_a");
  check_scalar_type(scales_b, ScalarType::Float, op, "scales_b");
  KK_CHECK(scales_a.dim() == 2 && scales_a.size(0) == m && scales_a.size(1) == k_blocks, op,
           "scales_a must have shape [M, K/128] = [", m, ", ", k_blocks, "], got ", shape_str(scales_a));
  KK_CHECK(scales_b.dim() == 2 && scales_b.size(0) == k_blocks && scales_b.size(1) == n_blocks, op,
           "scales_b must have shape [K/128, ceil(N/128)] = [", k_blocks, ", ", n_blocks,
           "] (the transposed [N/128, K/128] weight scale), got ", shape_str(scales_b));

  // Output: written by TMA, rows of out_dtype.
  const ScalarType out_type = out.scalar_type();
  KK_CHECK(out_type == ScalarType::BFloat16 || out_type == ScalarType::Half, op,
           "out_dtype must be torch.bfloat16 or torch.float16, got ", scalar_type_name(out_type));
  KK_CHECK(out.dim() == 2 && out.size(0) == m && out.size(1) == n, op, "out must have shape [M, N] = [", m, ", ", n,
           "], got ", shape_str(out));
  KK_CHECK(n <= 1 || out.stride(1) == 1, op, "out must be row-major (stride(1) == 1), got strides ", strides_str(out));
  const int64_t ldd = out.stride(0);
  KK_CHECK(m <= 1 || n == 0 || (ldd >= n && ldd % 8 == 0), op,
           "out's row stride must be >= N and a multiple of 8 elements (16-byte TMA rows), got ", ldd);
  KK_CHECK(aligned16(out), op, "out's data must be 16-byte aligned (TMA)");

  check_devices(op, {{"mat_a", mat_a}, {"mat_b", mat_b}, {"scales_a", scales_a}, {"scales_b", scales_b}, {"out", out}});
  if (m == 0 || n == 0) return;
  const int32_t device = mat_a.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const int arch = current_device_arch();
  KK_CHECK(arch == 90, op, "runs on sm_90 GPUs (H100/H200: CUTLASS's wgmma kernel), this GPU is sm_", arch);

  const Fp8BlockwiseMmArgs args{out.data_ptr(),
                                ldd,
                                mat_a.data_ptr(),
                                lda,
                                mat_b.data_ptr(),
                                ldb,
                                static_cast<const float*>(scales_a.data_ptr()),
                                scales_a.stride(0),
                                scales_a.stride(1),
                                static_cast<const float*>(scales_b.data_ptr()),
                                scales_b.stride(0),
                                scales_b.stride(1),
                                m,
                                n,
                                k,
                                out_type == ScalarType::Half ? DType::kFloat16 : DType::kBFloat16};
  // From torch's caching allocator, stream-ordered: CUDA-graph capture takes it from the graph's pool.
  const size_t workspace_bytes = fp8_blockwise_scaled_mm_workspace_bytes(args);
  std::optional<Tensor> workspace;
  if (workspace_bytes > 0) {
    workspace = torch::stable::new_empty(mat_a, {static_cast<int64_t>(workspace_bytes)}, ScalarType::Byte);
  }
  void* workspace_ptr = workspace ? workspace->data_ptr() : nullptr;
  check_launch(launch_fp8_blockwise_scaled_mm(args, workspace_ptr, workspace_bytes, current_cuda_stream(device)), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, fp8_blockwise_scaled_mm, &kernelkit::binding::fp8_blockwise_scaled_mm,
    "fp8_blockwise_scaled_mm(Tensor! out, Tensor mat_a, Tensor mat_b, Tensor scales_a, Tensor scales_b) -> ()");
