// cutlass_scaled_fp4_mm: the torch face of launch_cutlass_scaled_fp4_mm (validate the arguments, check the GPU,
// allocate the workspace, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
//
// Every requirement of the CUTLASS kernel is checked here, by argument, so that CUTLASS never meets a call it cannot
// run: TMA needs 16-byte aligned pointers and rows (K % 32: 16 bytes of packed e2m1; out's rows a multiple of 8
// elements), and the scales are read in the padded 128x4 swizzled layout, so their shapes must be the padded ones.
// The kernel exists for sm_100a only: any other GPU (an H100 is compute capability 9.0) is refused by name before
// anything is sized or launched, never with CUDA's "no kernel image" error.
#include "kernelkit_ops/gemm/cutlass_scaled_fp4_mm.h"

#include <torch/csrc/stable/ops.h>

#include <optional>
#include <string>

#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

constexpr int64_t kBlock = 16;                         // values per e4m3 scale
constexpr int64_t kMaxDim = (int64_t{1} << 31) - 128;  // CUTLASS's problem shape is int (scales padded to 128)

bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

std::string strides_str(const Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.stride(i));
  return s + ")";
}

// A packed e2m1 operand [rows, K/2]: uint8, 2-D.
void check_operand_type(const Tensor& t, const char* op, const char* arg, const char* shape) {
  check_scalar_type(t, ScalarType::Byte, op, arg);
  KK_CHECK(t.dim() == 2, op, arg, " must be 2-D ", shape, " (two e2m1 values per byte), got shape ", shape_str(t));
}

// ... whose rows TMA reads: contiguous, the row stride a multiple of 16 bytes, the data 16-byte aligned.
void check_operand_rows(const Tensor& t, const char* op, const char* arg) {
  KK_CHECK(t.size(1) <= 1 || t.stride(1) == 1, op, arg, " must be row-major (stride(1) == 1), got strides ",
           strides_str(t));
  KK_CHECK(t.size(0) <= 1 || (t.stride(0) >= t.size(1) && t.stride(0) % 16 == 0), op, arg,
           "'s row stride must be >= K/2 and a multiple of 16 bytes (TMA rows), got ", t.stride(0));
  KK_CHECK(aligned16(t), op, arg, "'s data must be 16-byte aligned (TMA)");
}

// A block scale: e4m3, 2-D [round_up(rows, 128), round_up(K/16, 4)], contiguous (the swizzle is its byte order).
void check_scale(const Tensor& t, const char* op, const char* arg, const char* rows_name, int64_t rows, int64_t k) {
  check_scalar_type(t, ScalarType::Float8_e4m3fn, op, arg);
  const int64_t padded_rows = round_up(rows, 128), padded_cols = round_up(k / kBlock, 4);
  KK_CHECK(t.dim() == 2 && t.size(0) == padded_rows && t.size(1) == padded_cols, op, arg,
           " must have the padded swizzled shape [round_up(", rows_name, ", 128), round_up(K/16, 4)] = [", padded_rows,
           ", ", padded_cols, "] (what scaled_fp4_quant returns), got ", shape_str(t));
  KK_CHECK(t.is_contiguous(), op, arg, " must be contiguous (its bytes are the 128x4 swizzled layout), got strides ",
           strides_str(t));
  KK_CHECK(aligned16(t), op, arg, "'s data must be 16-byte aligned (TMA)");
}

void cutlass_scaled_fp4_mm(Tensor out, Tensor a, Tensor b, Tensor block_scale_a, Tensor block_scale_b, Tensor alpha) {
  constexpr const char* op = "cutlass_scaled_fp4_mm";
  // Operands: a [M, K/2], b [N, K/2] (the weight, as sgl-kernel takes it), packed e2m1.
  check_operand_type(a, op, "a", "[M, K/2]");
  check_operand_type(b, op, "b", "[N, K/2]");
  const int64_t m = a.size(0), n = b.size(0), k = 2 * a.size(1);
  KK_CHECK(b.size(1) == a.size(1), op, "a ", shape_str(a), " and b ", shape_str(b),
           " cannot be multiplied (both must be [rows, K/2] with the same K/2)");
  KK_CHECK(k > 0 && k % kFp4MmKAlign == 0, op, "K = 2 * a.size(1) must be a positive multiple of ", kFp4MmKAlign,
           " (16-byte rows of packed e2m1), got ", k);
  KK_CHECK(n % kFp4MmOutAlign == 0, op, "N = b.size(0) must be a multiple of ", kFp4MmOutAlign,
           " (16-byte rows of out), got ", n);
  KK_CHECK(m <= kMaxDim && n <= kMaxDim && k <= kMaxDim, op, "sizes must be below 2^31 - 128, got M = ", m, ", N = ", n,
           ", K = ", k);
  check_operand_rows(a, op, "a");
  check_operand_rows(b, op, "b");

  check_scale(block_scale_a, op, "block_scale_a", "M", m, k);
  check_scale(block_scale_b, op, "block_scale_b", "N", n, k);
  check_scalar_type(alpha, ScalarType::Float, op, "alpha");
  KK_CHECK(alpha.numel() == 1, op, "alpha must hold one value (1 / (global_scale_a * global_scale_b)), got shape ",
           shape_str(alpha));

  // Output: written by TMA, rows of out_dtype.
  const ScalarType out_type = out.scalar_type();
  KK_CHECK(out_type == ScalarType::BFloat16 || out_type == ScalarType::Half, op,
           "out_dtype must be torch.bfloat16 or torch.float16, got ", scalar_type_name(out_type));
  KK_CHECK(out.dim() == 2 && out.size(0) == m && out.size(1) == n, op, "out must have shape [M, N] = [", m, ", ", n,
           "], got ", shape_str(out));
  KK_CHECK(n <= 1 || out.stride(1) == 1, op, "out must be row-major (stride(1) == 1), got strides ", strides_str(out));
  const int64_t ldd = out.stride(0);
  KK_CHECK(m <= 1 || n == 0 || (ldd >= n && ldd % kFp4MmOutAlign == 0), op,
           "out's row stride must be >= N and a multiple of 8 elements (16-byte TMA rows), got ", ldd);
  KK_CHECK(aligned16(out), op, "out's data must be 16-byte aligned (TMA)");

  check_devices(op, {{"a", a},
                     {"b", b},
                     {"block_scale_a", block_scale_a},
                     {"block_scale_b", block_scale_b},
                     {"alpha", alpha},
                     {"out", out}});
  if (m == 0 || n == 0) return;
  const int32_t device = a.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const int arch = current_device_arch();
  KK_CHECK(arch == 100, op,
           "runs on sm_100 GPUs only (B200/GB200: its CUTLASS kernel uses Blackwell's block-scaled tensor cores and is "
           "compiled for sm_100a), this GPU has compute capability ",
           arch / 10, ".", arch % 10);

  const ScaledFp4MmArgs args{out.data_ptr(),
                             m <= 1 ? round_up(n, kFp4MmOutAlign) : ldd,  // one row: any stride TMA accepts
                             a.data_ptr(),
                             m <= 1 ? k / 2 : a.stride(0),
                             b.data_ptr(),
                             n <= 1 ? k / 2 : b.stride(0),
                             block_scale_a.data_ptr(),
                             block_scale_b.data_ptr(),
                             static_cast<const float*>(alpha.data_ptr()),
                             m,
                             n,
                             k,
                             out_type == ScalarType::Half ? DType::kFloat16 : DType::kBFloat16};
  // From torch's caching allocator, stream-ordered: CUDA-graph capture takes it from the graph's pool.
  const size_t workspace_bytes = cutlass_scaled_fp4_mm_workspace_bytes(args);
  std::optional<Tensor> workspace;
  if (workspace_bytes > 0) {
    workspace = torch::stable::new_empty(a, {static_cast<int64_t>(workspace_bytes)}, ScalarType::Byte);
  }
  void* workspace_ptr = workspace ? workspace->data_ptr() : nullptr;
  check_launch(launch_cutlass_scaled_fp4_mm(args, workspace_ptr, workspace_bytes, current_cuda_stream(device)), op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, cutlass_scaled_fp4_mm, &kernelkit::binding::cutlass_scaled_fp4_mm,
                      "cutlass_scaled_fp4_mm(Tensor! out, Tensor a, Tensor b, Tensor block_scale_a, "
                      "Tensor block_scale_b, Tensor alpha) -> ()");
