// What the scaled GEMM bindings (fp8_scaled_mm, int8_scaled_mm, bmm_fp8) check before a CUTLASS kernel sees the
// tensors. The kernels read A and B and write D with TMA, which needs a 16-byte aligned base address, every stride
// but the innermost in whole 16-byte units, and the innermost dimension contiguous; CUTLASS also wants K a multiple of
// 16 elements and N of 8 (16 bytes of output). Each rule is checked here with a message naming the argument, so a
// caller never meets CUTLASS's own refusal (a bare status code) or, worse, a TMA descriptor it could not encode.
#pragma once

#include <optional>
#include <string>

#include "kernelkit/binding.h"

namespace kernelkit::binding::gemm {

inline const char* dtype_name(ScalarType st) {
  return st == ScalarType::Float8_e5m2 ? "float8_e5m2" : scalar_type_name(st);
}

inline std::string strides_str(const Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.stride(i));
  return s + "]";
}

// M, N, K, the batch and every stride reach CUTLASS as int / TMA as < 2^40 bytes.
inline void check_size(const char* op, const char* what, int64_t value) {
  KK_CHECK(value < (int64_t{1} << 31), op, what, " (", value, ") is too large (max 2^31 - 1)");
}

struct OperandStrides {
  int64_t vectors;  // elements between consecutive rows (A, D) or columns (B)
  int64_t batch;    // elements between consecutive batches
};

// `t` is read or written by TMA as vectors of `inner` contiguous elements along dim `inner_dim`, stepping along dim
// `outer_dim` (and, when `batched`, dim 0). `layout` ("row-major" / "column-major") and `vector` ("row" / "column")
// word the messages; `fix` says how to get a tensor that passes. A dim of size 1 has no meaningful stride in torch:
// the natural one is used there; an empty tensor is not touched, so it is not checked.
inline OperandStrides check_tma_operand(const char* op, const char* arg, const Tensor& t, int64_t outer_dim,
                                        int64_t inner_dim, bool batched, const char* layout, const char* vector,
                                        const char* fix) {
  const int64_t elem = t.scalar_type() == ScalarType::BFloat16 || t.scalar_type() == ScalarType::Half ? 2 : 1;
  const int64_t align = 16 / elem;  // elements in 16 bytes
  const int64_t inner = t.size(inner_dim), outer = t.size(outer_dim);
  OperandStrides s{(inner + align - 1) / align * align, 0};
  s.batch = s.vectors * outer;
  if (t.numel() == 0) return s;  // nothing is read or written through TMA
  KK_CHECK(inner <= 1 || t.stride(inner_dim) == 1, op, arg, " must be ", layout, " (stride(", inner_dim,
           ") == 1), got shape ", shape_str(t), " with strides ", strides_str(t), "; ", fix);
  if (outer > 1) {
    s.vectors = t.stride(outer_dim);
    KK_CHECK(s.vectors >= inner && s.vectors % align == 0, op, arg, "'s ", vector, " stride (", s.vectors,
             " elements, stride(", outer_dim, ")) must be a multiple of ", align,
             " (16 bytes, a TMA requirement) and at least ", inner, "; ", fix);
  }
  s.batch = s.vectors * outer;
  if (batched && t.size(0) > 1) {
    s.batch = t.stride(0);
    KK_CHECK(s.batch > 0 && s.batch % align == 0, op, arg, "'s batch stride (", s.batch,
             " elements, stride(0)) must be a positive multiple of ", align,
             " (16 bytes, a TMA requirement; an expanded batch is not supported); ", fix);
  }
  KK_CHECK(s.vectors * elem < (int64_t{1} << 40) && s.batch * elem < (int64_t{1} << 40), op, arg, "'s strides ",
           strides_str(t), " are too large for TMA (max 2^40 bytes)");
  const auto address = reinterpret_cast<uintptr_t>(t.data_ptr());
  KK_CHECK(address % 16 == 0, op, arg, "'s data must be 16-byte aligned (TMA reads it), got an address ", address % 16,
           " bytes past a 16-byte boundary; ", fix);
  return s;
}

// out: bfloat16 or float16 (out_dtype), returned as the launcher's dtype.
inline DType check_out_dtype(const char* op, const char* arg, const Tensor& out) {
  const ScalarType st = out.scalar_type();
  KK_CHECK(st == ScalarType::BFloat16 || st == ScalarType::Half, op, arg,
           " must be bfloat16 or float16 (the output dtype), got ", dtype_name(st));
  return st == ScalarType::BFloat16 ? DType::kBFloat16 : DType::kFloat16;
}

// K a multiple of 16 (CUTLASS's TMA alignment of the K-major operands), N of 8 (16 bytes of a bf16/fp16 output row).
inline void check_k_and_n(const char* op, int64_t k, int64_t n, const char* k_from, const char* n_from) {
  KK_CHECK(k % 16 == 0, op, "K (", k_from, " = ", k, ") must be a multiple of 16 (16-byte rows for TMA)");
  KK_CHECK(n % 8 == 0, op, "N (", n_from, " = ", n, ") must be a multiple of 8 (16-byte output rows for TMA)");
  check_size(op, "K", k);
  check_size(op, "N", n);
}

// The operands and shapes of fp8_scaled_mm / int8_scaled_mm, checked: everything the launcher needs.
struct ScaledMm {
  int64_t m, n, k;
  OperandStrides a, b, out;
  DType out_dtype;
};

// mat_a [M, K] row-major, mat_b [K, N] column-major, both `operand`; out [M, N] bf16/fp16 with N contiguous;
// scales_a one float32 per row (M values: [M] or [M, 1]), scales_b one per column (N values: [N] or [N, 1]),
// contiguous; bias None or N values of out's dtype, contiguous. sgl-kernel's rules, with the strides it assumes
// packed checked instead (any 16-byte multiple works here).
inline ScaledMm check_scaled_mm(const char* op, ScalarType operand, const Tensor& out, const Tensor& mat_a,
                                const Tensor& mat_b, const Tensor& scales_a, const Tensor& scales_b,
                                const std::optional<Tensor>& bias) {
  const char* operand_name = dtype_name(operand);
  KK_CHECK(mat_a.scalar_type() == operand, op, "mat_a must be ", operand_name, ", got ",
           dtype_name(mat_a.scalar_type()));
  KK_CHECK(mat_b.scalar_type() == operand, op, "mat_b must be ", operand_name, ", got ",
           dtype_name(mat_b.scalar_type()));
  KK_CHECK(mat_a.dim() == 2, op, "mat_a must be 2-D [M, K], got shape ", shape_str(mat_a));
  KK_CHECK(mat_b.dim() == 2, op,
           "mat_b must be 2-D [K, N] (a column-major view such as weight.t() of a [N, K] weight), got shape ",
           shape_str(mat_b));
  ScaledMm r{mat_a.size(0), mat_b.size(1), mat_a.size(1), {}, {}, {}, DType::kBFloat16};
  KK_CHECK(mat_b.size(0) == r.k, op, "mat_a [M, K] and mat_b [K, N] must share K, got shapes ", shape_str(mat_a),
           " and ", shape_str(mat_b));
  check_size(op, "M", r.m);
  check_k_and_n(op, r.k, r.n, "mat_a.size(1)", "mat_b.size(1)");
  r.a = check_tma_operand(op, "mat_a", mat_a, 0, 1, false, "row-major", "row", "pass mat_a.contiguous()");
  r.b = check_tma_operand(op, "mat_b", mat_b, 1, 0, false, "column-major", "column",
                          "pass weight.t() of a contiguous [N, K] weight");

  r.out_dtype = check_out_dtype(op, "out", out);
  KK_CHECK(out.dim() == 2 && out.size(0) == r.m && out.size(1) == r.n, op, "out must have shape [M, N] = [", r.m, ", ",
           r.n, "], got ", shape_str(out));
  r.out = check_tma_operand(op, "out", out, 0, 1, false, "row-major", "row", "pass a contiguous out");

  check_scalar_type(scales_a, ScalarType::Float, op, "scales_a");
  KK_CHECK(scales_a.numel() == r.m, op, "scales_a must hold one float32 per row of mat_a (shape [", r.m, "] or [", r.m,
           ", 1]), got shape ", shape_str(scales_a));
  check_contiguous(scales_a, op, "scales_a");
  check_scalar_type(scales_b, ScalarType::Float, op, "scales_b");
  KK_CHECK(scales_b.numel() == r.n, op, "scales_b must hold one float32 per column of mat_b (shape [", r.n, "] or [",
           r.n, ", 1]), got shape ", shape_str(scales_b));
  check_contiguous(scales_b, op, "scales_b");
  if (bias) {
    KK_CHECK(bias->scalar_type() == out.scalar_type(), op, "bias must have the output dtype (",
             dtype_name(out.scalar_type()), "), got ", dtype_name(bias->scalar_type()));
    KK_CHECK(bias->numel() == r.n, op, "bias must hold one value per column of mat_b (shape [", r.n, "]), got shape ",
             shape_str(*bias));
    check_contiguous(*bias, op, "bias");
  }
  return r;
}

}  // namespace kernelkit::binding::gemm
