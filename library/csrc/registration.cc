// The torch face of kernelkit_ops: bindings (validate, pick the stream, call the launcher),
// op schemas (m.def) and CUDA implementations (m.impl), all on the LibTorch stable ABI
// (TORCH_TARGET_VERSION = 2.10), so one build loads in every torch >= 2.10.
// `kernelkit new` / `kernelkit remove` edit the marked regions; keep entries sorted by op name.
// FP4 ops (`kernelkit new --fp4`) have their binding and m.impl in the fp4-* regions, compiled only
// with KERNELKIT_ENABLE_FP4 (`kernelkit build --fp4`); their m.def is registered in every build.
#include "binding_utils.h"
#include "kernelkit_ops.h"

// What this build was compiled with, as one string in the library: `kernelkit list`/`doctor` read it
// from the file, `kernelkit_ops.fp4_enabled()` from the loaded library (kernelkit/features.py).
#ifdef KERNELKIT_ENABLE_FP4
#define KERNELKIT_FEATURE_FP4 "1"
#else
#define KERNELKIT_FEATURE_FP4 "0"
#endif
extern "C" {
extern __attribute__((visibility("default"), used)) const char kernelkit_features[];
const char kernelkit_features[] = "KERNELKIT_FEATURES:fp4=" KERNELKIT_FEATURE_FP4;
}

namespace kernelkit::binding {
namespace {

using GatedLauncher = cudaError_t (*)(void*, const void*, int64_t, int64_t, int64_t, int64_t, bool, DType, cudaStream_t);

// out[..., d] = act(input[..., :d]) * input[..., d:]
void gated_activation(const char* op, GatedLauncher launch, Tensor& out, const Tensor& input, bool enable_pdl) {
  check_cuda(input, op, "input");
  check_cuda(out, op, "out");
  check_same_device(input, "input", out, "out", op);
  const DType dtype = float_dtype(input, op, "input");
  check_same_dtype(input, "input", out, "out", op);
  KK_CHECK(input.dim() >= 1 && input.size(input.dim() - 1) % 2 == 0, op,
        "input's last dimension must be even (gate and up halves), got shape ", shape_str(input));
  const int64_t d = input.size(input.dim() - 1) / 2;
  bool same_leading = out.dim() == input.dim() && out.size(out.dim() - 1) == d;
  for (int64_t i = 0; same_leading && i + 1 < input.dim(); ++i) same_leading = out.size(i) == input.size(i);
  KK_CHECK(same_leading, op, "out must have shape ", shape_str(input, d), ", got ", shape_str(out), " for input ",
           shape_str(input));
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t out_stride = row_stride(out, op, "out");
  const int64_t rows = num_rows(out);
  if (rows == 0 || d == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch(out.data_ptr(), input.data_ptr(), rows, d, out_stride, in_stride, enable_pdl, dtype,
                      current_cuda_stream(input.get_device_index())),
               op);
}

using NormLauncher = cudaError_t (*)(void*, int64_t, const void*, int64_t, const void*, int64_t, int64_t, double, bool,
                                     DType, cudaStream_t);
using FusedNormLauncher = cudaError_t (*)(void*, int64_t, void*, int64_t, const void*, int64_t, int64_t, double, bool,
                                          DType, cudaStream_t);

// What every RMSNorm variant checks: `x [..., H]` rows and `weight [H]` of one dtype on one device.
DType check_norm_inputs(const char* op, const Tensor& x, const char* x_name, const Tensor& weight, double eps) {
  check_cuda(x, op, x_name);
  check_cuda(weight, op, "weight");
  check_same_device(x, x_name, weight, "weight", op);
  const DType dtype = float_dtype(x, op, x_name);
  check_same_dtype(x, x_name, weight, "weight", op);
  KK_CHECK(x.dim() >= 1, op, x_name, " must have at least one dimension");
  const int64_t hidden = x.size(x.dim() - 1);
  KK_CHECK(weight.dim() == 1 && weight.size(0) == hidden, op, "weight must have shape [", hidden, "] (the last dim of ",
           x_name, "), got ", shape_str(weight));
  check_contiguous(weight, op, "weight");
  KK_CHECK(hidden < (int64_t{1} << 31), op, "hidden size ", hidden, " is too large (max 2^31 - 1)");
  KK_CHECK(eps >= 0.0, op, "eps must be >= 0, got ", eps);
  return dtype;
}

void rms_norm(const char* op, NormLauncher launch, Tensor& out, const Tensor& input, const Tensor& weight, double eps,
              bool enable_pdl) {
  const DType dtype = check_norm_inputs(op, input, "input", weight, eps);
  check_cuda(out, op, "out");
  check_same_device(input, "input", out, "out", op);
  check_same_dtype(input, "input", out, "out", op);
  check_same_shape(input, "input", out, "out", op);
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t out_stride = row_stride(out, op, "out");
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch(out.data_ptr(), out_stride, input.data_ptr(), in_stride, weight.data_ptr(), rows,
                      input.size(input.dim() - 1), eps, enable_pdl, dtype, current_cuda_stream(input.get_device_index())),
               op);
}

void fused_add_rms_norm(const char* op, FusedNormLauncher launch, Tensor& input, Tensor& residual, const Tensor& weight,
                        double eps, bool enable_pdl) {
  const DType dtype = check_norm_inputs(op, input, "input", weight, eps);
  check_cuda(residual, op, "residual");
  check_same_device(input, "input", residual, "residual", op);
  check_same_dtype(input, "input", residual, "residual", op);
  check_same_shape(input, "input", residual, "residual", op);
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t res_stride = row_stride(residual, op, "residual");
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch(input.data_ptr(), in_stride, residual.data_ptr(), res_stride, weight.data_ptr(), rows,
                      input.size(input.dim() - 1), eps, enable_pdl, dtype, current_cuda_stream(input.get_device_index())),
               op);
}

// %g, for the doubles in messages (std::to_string prints 1e-10 as 0.000000).
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// The per-token-group quant ops (fp8, int8): input [..., H] rows of a float dtype, output_q of input's
// shape in the 8-bit type, output_s [..., H / group_size] fp32 with any strides whose leading dims
// collapse into one row stride (row-major, column-major `empty(G, T).T`, TMA-aligned padding), no two
// scales at one address.
struct GroupQuantBound {
  const char* name;
  double value;
  double limit;  // the 8-bit type's most negative (min) or largest (max) value
};
struct GroupQuantLayout {
  DType dtype;
  int64_t rows, hidden, input_row_stride, q_row_stride, s_row_stride, s_group_stride;
};
constexpr int64_t kGroupSizes[] = {16, 32, 64, 128, 256};  // kernelkit/per_token_group_quant.cuh

GroupQuantLayout check_group_quant(const char* op, const Tensor& input, const Tensor& output_q, ScalarType q_type,
                                   const Tensor& output_s, int64_t group_size, double eps, GroupQuantBound qmin,
                                   GroupQuantBound qmax) {
  check_cuda(input, op, "input");
  check_cuda(output_q, op, "output_q");
  check_cuda(output_s, op, "output_s");
  check_same_device(input, "input", output_q, "output_q", op);
  check_same_device(input, "input", output_s, "output_s", op);
  GroupQuantLayout l{};
  l.dtype = float_dtype(input, op, "input");
  check_scalar_type(output_q, q_type, op, "output_q");
  check_scalar_type(output_s, ScalarType::Float, op, "output_s");
  KK_CHECK(input.dim() >= 1, op, "input must have at least one dimension");
  bool known_size = false;
  for (int64_t g : kGroupSizes) known_size = known_size || g == group_size;
  KK_CHECK(known_size, op, "group_size must be one of 16, 32, 64, 128, 256, got ", group_size);
  const int64_t nd = input.dim();
  l.hidden = input.size(nd - 1);
  KK_CHECK(l.hidden % group_size == 0, op, "the last dimension of input (", l.hidden,
           ") must be a multiple of group_size (", group_size, ")");
  check_same_shape(input, "input", output_q, "output_q", op);
  const int64_t groups = l.hidden / group_size;
  bool scale_shape = output_s.dim() == nd && output_s.size(nd - 1) == groups;
  for (int64_t i = 0; scale_shape && i + 1 < nd; ++i) scale_shape = output_s.size(i) == input.size(i);
  KK_CHECK(scale_shape, op, "output_s must have shape ", shape_str(input, groups),
           " (input's leading dims, hidden / group_size), got ", shape_str(output_s));
  l.input_row_stride = row_stride(input, op, "input");
  l.q_row_stride = row_stride(output_q, op, "output_q");
  l.rows = num_rows(input);
  // output_s: the group stride, and the row stride its leading dims collapse into (size-1 dims skipped).
  l.s_group_stride = groups > 1 ? output_s.stride(nd - 1) : 1;
  l.s_row_stride = 0;
  int64_t inner_stride = -1, inner_size = 1;
  for (int64_t i = nd - 2; i >= 0; --i) {
    if (output_s.size(i) == 1) continue;
    KK_CHECK(inner_stride < 0 || output_s.stride(i) == inner_stride * inner_size, op, "output_s of shape ",
             shape_str(output_s), " has leading dimensions that do not collapse into rows with one stride");
    if (inner_stride < 0) l.s_row_stride = output_s.stride(i);
    inner_stride = output_s.stride(i);
    inner_size = output_s.size(i);
  }
  if (l.rows <= 1) l.s_row_stride = groups * l.s_group_stride;
  // Ordered by stride, each stride must step past the extent of the dimension inside it.
  const bool rows_inner = l.s_row_stride <= l.s_group_stride;
  const int64_t in_s = rows_inner ? l.s_row_stride : l.s_group_stride, in_n = rows_inner ? l.rows : groups;
  const int64_t out_s = rows_inner ? l.s_group_stride : l.s_row_stride, out_n = rows_inner ? groups : l.rows;
  const bool disjoint = (in_n <= 1 || in_s >= 1) && (out_n <= 1 || out_s >= (in_n <= 1 ? 1 : in_s * in_n));
  KK_CHECK(l.s_row_stride >= 0 && l.s_group_stride >= 0 && disjoint, op, "output_s of shape ", shape_str(output_s),
           " has negative or overlapping strides (row stride ", l.s_row_stride, ", group stride ", l.s_group_stride,
           "); every scale needs its own element");
  KK_CHECK(std::isfinite(eps) && static_cast<float>(eps) > 0.0f && std::isfinite(static_cast<float>(eps)), op,
           "eps must be a positive finite float32 (it floors absmax so that an all-zero group does not divide by "
           "zero), got ", num(eps));
  KK_CHECK(qmax.value > 0.0 && qmax.value <= qmax.limit, op, qmax.name, " must be in (0, ", num(qmax.limit), "], got ",
           num(qmax.value));
  KK_CHECK(qmin.value >= qmin.limit && qmin.value <= qmax.value, op, qmin.name, " must be in [", num(qmin.limit), ", ",
           qmax.name, " = ", num(qmax.value), "], got ", num(qmin.value));
  return l;
}

// The quantization ops' outputs. output_q: float8_e4m3fn with input's shape, rows of one stride.
int64_t check_fp8_output(const char* op, const Tensor& input, const Tensor& output_q) {
  check_cuda(output_q, op, "output_q");
  check_same_device(input, "input", output_q, "output_q", op);
  check_scalar_type(output_q, ScalarType::Float8_e4m3fn, op, "output_q");
  check_same_shape(input, "input", output_q, "output_q", op);
  return row_stride(output_q, op, "output_q");
}

// output_s of the per-token ops: one float32 per row of input, contiguous, shaped input.shape[:-1] + [1]
// (what sglang allocates) or input.shape[:-1].
void check_row_scales(const char* op, const Tensor& input, const Tensor& output_s) {
  check_cuda(output_s, op, "output_s");
  check_same_device(input, "input", output_s, "output_s", op);
  check_scalar_type(output_s, ScalarType::Float, op, "output_s");
  const int64_t lead = input.dim() - 1;
  bool ok = output_s.dim() == lead || (output_s.dim() == lead + 1 && output_s.size(lead) == 1);
  for (int64_t i = 0; ok && i < lead; ++i) ok = output_s.size(i) == input.size(i);
  std::string rows = "[";
  for (int64_t i = 0; i < lead; ++i) rows += (i ? ", " : "") + std::to_string(input.size(i));
  KK_CHECK(ok, op, "output_s must have shape ", shape_str(input, 1), " or ", rows + "]",
           " (one scale per row of input ", shape_str(input), "), got ", shape_str(output_s));
  check_contiguous(output_s, op, "output_s");
}

// kernelkit:bindings-begin
// query/key as [T, heads, head_size]: 2-D [T, heads * head_size] rows or 3-D [T, heads, head_size],
// each head's dims contiguous; (token, head) strides in elements. Sizes-1 dims get dense strides, so
// a lone token or head never forces narrow vectors.
struct RopeHeads {
  int64_t heads, token_stride, head_stride;
};
RopeHeads rope_heads(const Tensor& t, const char* arg, int64_t num_tokens, int64_t head_size) {
  constexpr const char* op = "apply_rope_with_cos_sin_cache_inplace";
  KK_CHECK(t.dim() == 2 || t.dim() == 3, op, arg, " must be [T, heads * head_size] or [T, heads, head_size], got ",
           shape_str(t));
  KK_CHECK(t.size(0) == num_tokens, op, arg, " must have one row per position (", num_tokens, "), got shape ",
           shape_str(t));
  const int64_t last = t.size(t.dim() - 1);
  KK_CHECK(last <= 1 || t.stride(t.dim() - 1) == 1, op, arg, " must be contiguous in its last dimension (stride ",
           t.stride(t.dim() - 1), ")");
  RopeHeads v{};
  if (t.dim() == 2) {
    KK_CHECK(last % head_size == 0, op, arg, "'s last dimension (", last, ") must be a multiple of head_size (",
             head_size, ")");
    v.heads = last / head_size;
    v.head_stride = head_size;
  } else {
    KK_CHECK(last == head_size, op, arg, "'s last dimension must be head_size (", head_size, "), got shape ",
             shape_str(t));
    v.heads = t.size(1);
    v.head_stride = v.heads > 1 ? t.stride(1) : head_size;
  }
  if (v.heads == 0) return RopeHeads{0, 0, 0};  // nothing of it is touched
  v.token_stride = num_tokens > 1 ? t.stride(0) : v.heads * v.head_stride;
  // Written in place, so no two (token, head) rows may overlap (e.g. an expand()ed tensor): ordered by
  // stride, each stride must step past the extent of the dims below it.
  const bool heads_inner = v.head_stride <= v.token_stride;
  const int64_t inner = heads_inner ? v.head_stride : v.token_stride, inner_n = heads_inner ? v.heads : num_tokens;
  const int64_t outer = heads_inner ? v.token_stride : v.head_stride, outer_n = heads_inner ? num_tokens : v.heads;
  const bool disjoint = (inner_n <= 1 || inner >= head_size) &&
                        (outer_n <= 1 || outer >= (inner_n <= 1 ? head_size : inner * inner_n));
  KK_CHECK(disjoint, op, arg, " of shape ", shape_str(t), " has overlapping heads or rows (strides ", v.token_stride,
           ", ", v.head_stride, "); it is written in place, pass a tensor without overlaps");
  return v;
}
void apply_rope_with_cos_sin_cache_inplace(Tensor positions, Tensor query, Tensor key, int64_t head_size,
                                           Tensor cos_sin_cache, bool is_neox, Tensor position_errors) {
  constexpr const char* op = "apply_rope_with_cos_sin_cache_inplace";
  check_cuda(query, op, "query");
  check_cuda(key, op, "key");
  check_cuda(positions, op, "positions");
  check_cuda(cos_sin_cache, op, "cos_sin_cache");
  check_cuda(position_errors, op, "position_errors");
  check_same_device(query, "query", key, "key", op);
  check_same_device(query, "query", positions, "positions", op);
  check_same_device(query, "query", cos_sin_cache, "cos_sin_cache", op);
  check_same_device(query, "query", position_errors, "position_errors", op);
  const DType dtype = float_dtype_in(query, op, "query", {DType::kBFloat16, DType::kFloat16});
  check_same_dtype(query, "query", key, "key", op);
  const ScalarType pos_type = positions.scalar_type();
  KK_CHECK(pos_type == ScalarType::Long || pos_type == ScalarType::Int, op, "positions must be int64 or int32, got ",
           scalar_type_name(pos_type));
  KK_CHECK(cos_sin_cache.scalar_type() == ScalarType::Float, op, "cos_sin_cache must be float32, got ",
           scalar_type_name(cos_sin_cache.scalar_type()));
  KK_CHECK(position_errors.scalar_type() == ScalarType::Long, op, "position_errors must be int64, got ",
           scalar_type_name(position_errors.scalar_type()));
  KK_CHECK(head_size > 0, op, "head_size must be positive, got ", head_size);
  KK_CHECK(positions.dim() == 1, op, "positions must be 1-D [T], got shape ", shape_str(positions));
  check_contiguous(positions, op, "positions");
  const int64_t num_tokens = positions.size(0);
  KK_CHECK(num_tokens <= INT32_MAX, op, "positions has ", num_tokens, " tokens; at most 2^31 - 1 are supported");
  KK_CHECK(cos_sin_cache.dim() == 2, op, "cos_sin_cache must be 2-D [max_pos, rotary_dim], got shape ",
           shape_str(cos_sin_cache));
  const int64_t max_pos = cos_sin_cache.size(0);
  const int64_t rotary_dim = cos_sin_cache.size(1);
  KK_CHECK(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_size, op,
           "cos_sin_cache's last dimension (rotary_dim = ", rotary_dim,
           ") must be even, positive and at most head_size (", head_size, ")");
  KK_CHECK(rotary_dim <= 2048, op, "rotary_dim (cos_sin_cache's last dimension) must be at most 2048, got ",
           rotary_dim);
  KK_CHECK(cos_sin_cache.stride(1) == 1, op,
           "cos_sin_cache must be contiguous in its last dimension (stride ", cos_sin_cache.stride(1), ")");
  const int64_t cache_row_stride = max_pos > 1 ? cos_sin_cache.stride(0) : rotary_dim;
  KK_CHECK(position_errors.numel() == 0 || (position_errors.numel() == 4 && position_errors.is_contiguous()), op,
           "position_errors must be empty (no recording) or a contiguous int64 tensor of 4 elements, got shape ",
           shape_str(position_errors));
  const RopeHeads q = rope_heads(query, "query", num_tokens, head_size);
  const RopeHeads k = rope_heads(key, "key", num_tokens, head_size);
  if (num_tokens == 0 || q.heads + k.heads == 0) return;
  torch::stable::accelerator::DeviceGuard guard(query.get_device_index());
  check_launch(launch_apply_rope_with_cos_sin_cache_inplace(
                   query.data_ptr(), key.data_ptr(), positions.data_ptr(),
                   static_cast<const float*>(cos_sin_cache.data_ptr()),
                   position_errors.numel() ? static_cast<int64_t*>(position_errors.data_ptr()) : nullptr, num_tokens,
                   q.heads, k.heads, rotary_dim, q.token_stride, q.head_stride, k.token_stride, k.head_stride,
                   cache_row_stride, max_pos, pos_type == ScalarType::Long, is_neox, dtype,
                   current_cuda_stream(query.get_device_index())),
               op);
}

void fused_add_rmsnorm(Tensor input, Tensor residual, Tensor weight, double eps, bool enable_pdl) {
  fused_add_rms_norm("fused_add_rmsnorm", launch_fused_add_rmsnorm, input, residual, weight, eps, enable_pdl);
}

void fused_add_rmsnorm_quant_fp8(Tensor input, Tensor residual, Tensor weight, Tensor output_q, Tensor output_s,
                                 double eps, bool enable_pdl) {
  constexpr const char* op = "fused_add_rmsnorm_quant_fp8";
  const DType dtype = check_norm_inputs(op, input, "input", weight, eps);
  check_cuda(residual, op, "residual");
  check_same_device(input, "input", residual, "residual", op);
  check_same_dtype(input, "input", residual, "residual", op);
  check_same_shape(input, "input", residual, "residual", op);
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t res_stride = row_stride(residual, op, "residual");
  const int64_t q_stride = check_fp8_output(op, input, output_q);
  check_row_scales(op, input, output_s);
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_fused_add_rmsnorm_quant_fp8(output_q.data_ptr(), q_stride,
                                                  static_cast<float*>(output_s.data_ptr()), input.data_ptr(),
                                                  in_stride, residual.data_ptr(), res_stride, weight.data_ptr(), rows,
                                                  input.size(input.dim() - 1), eps, enable_pdl, dtype,
                                                  current_cuda_stream(input.get_device_index())),
               op);
}

void gelu_and_mul(Tensor out, Tensor input, bool enable_pdl) {
  gated_activation("gelu_and_mul", launch_gelu_and_mul, out, input, enable_pdl);
}

void gelu_tanh_and_mul(Tensor out, Tensor input, bool enable_pdl) {
  gated_activation("gelu_tanh_and_mul", launch_gelu_tanh_and_mul, out, input, enable_pdl);
}

void gemma_fused_add_rmsnorm(Tensor input, Tensor residual, Tensor weight, double eps, bool enable_pdl) {
  fused_add_rms_norm("gemma_fused_add_rmsnorm", launch_gemma_fused_add_rmsnorm, input, residual, weight, eps, enable_pdl);
}

void gemma_rmsnorm(Tensor out, Tensor input, Tensor weight, double eps, bool enable_pdl) {
  rms_norm("gemma_rmsnorm", launch_gemma_rmsnorm, out, input, weight, eps, enable_pdl);
}

void rmsnorm(Tensor out, Tensor input, Tensor weight, double eps, bool enable_pdl) {
  rms_norm("rmsnorm", launch_rmsnorm, out, input, weight, eps, enable_pdl);
}

void sgl_per_tensor_quant_fp8(Tensor input, Tensor output_q, Tensor output_s, bool is_static, Tensor workspace,
                              bool enable_pdl) {
  constexpr const char* op = "sgl_per_tensor_quant_fp8";
  check_cuda(input, op, "input");
  const DType dtype = float_dtype(input, op, "input");
  int64_t in_stride = row_stride(input, op, "input");
  int64_t q_stride = check_fp8_output(op, input, output_q);
  check_cuda(output_s, op, "output_s");
  check_same_device(input, "input", output_s, "output_s", op);
  check_scalar_type(output_s, ScalarType::Float, op, "output_s");
  KK_CHECK(output_s.numel() == 1 && output_s.dim() <= 1, op, "output_s must have shape [1] (or []), got ",
           shape_str(output_s));
  check_cuda(workspace, op, "workspace");
  check_same_device(input, "input", workspace, "workspace", op);
  check_scalar_type(workspace, ScalarType::Float, op, "workspace");
  check_contiguous(workspace, op, "workspace");
  KK_CHECK(is_static || workspace.numel() >= 1, op,
           "workspace must hold at least one float32 for a dynamic scale (the Python wrapper allocates it), got ",
           shape_str(workspace));
  int64_t rows = num_rows(input);
  if (rows == 0) return;
  int64_t hidden = input.size(input.dim() - 1);
  if (input.is_contiguous() && output_q.is_contiguous()) {  // one flat row: no per-vector row arithmetic
    hidden = input.numel();
    rows = 1;
    in_stride = q_stride = hidden;
  }
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_sgl_per_tensor_quant_fp8(output_q.data_ptr(), q_stride, static_cast<float*>(output_s.data_ptr()),
                                               input.data_ptr(), in_stride, rows, hidden, is_static,
                                               static_cast<float*>(workspace.data_ptr()), workspace.numel(), enable_pdl,
                                               dtype, current_cuda_stream(input.get_device_index())),
               op);
}

void sgl_per_token_group_quant_fp8(Tensor input, Tensor output_q, Tensor output_s, int64_t group_size, double eps,
                                   double fp8_min, double fp8_max, bool scale_ue8m0, bool enable_pdl) {
  constexpr const char* op = "sgl_per_token_group_quant_fp8";
  const GroupQuantLayout l = check_group_quant(op, input, output_q, ScalarType::Float8_e4m3fn, output_s, group_size, eps,
                                               {"fp8_min", fp8_min, -448.0}, {"fp8_max", fp8_max, 448.0});
  if (l.rows == 0 || l.hidden == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_sgl_per_token_group_quant_fp8(output_q.data_ptr(), l.q_row_stride,
                                                    static_cast<float*>(output_s.data_ptr()), l.s_row_stride,
                                                    l.s_group_stride, input.data_ptr(), l.input_row_stride, l.rows,
                                                    l.hidden, group_size, eps, fp8_min, fp8_max, scale_ue8m0, enable_pdl,
                                                    l.dtype, current_cuda_stream(input.get_device_index())),
               op);
}

void sgl_per_token_group_quant_int8(Tensor input, Tensor output_q, Tensor output_s, int64_t group_size, double eps,
                                    double int8_min, double int8_max, bool enable_pdl) {
  constexpr const char* op = "sgl_per_token_group_quant_int8";
  const GroupQuantLayout l = check_group_quant(op, input, output_q, ScalarType::Char, output_s, group_size, eps,
                                               {"int8_min", int8_min, -128.0}, {"int8_max", int8_max, 127.0});
  if (l.rows == 0 || l.hidden == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_sgl_per_token_group_quant_int8(output_q.data_ptr(), l.q_row_stride,
                                                     static_cast<float*>(output_s.data_ptr()), l.s_row_stride,
                                                     l.s_group_stride, input.data_ptr(), l.input_row_stride, l.rows,
                                                     l.hidden, group_size, eps, int8_min, int8_max, enable_pdl, l.dtype,
                                                     current_cuda_stream(input.get_device_index())),
               op);
}

void sgl_per_token_quant_fp8(Tensor input, Tensor output_q, Tensor output_s, bool enable_pdl) {
  constexpr const char* op = "sgl_per_token_quant_fp8";
  check_cuda(input, op, "input");
  const DType dtype = float_dtype(input, op, "input");
  const int64_t in_stride = row_stride(input, op, "input");
  const int64_t hidden = input.size(input.dim() - 1);
  KK_CHECK(hidden < (int64_t{1} << 31), op, "hidden size ", hidden, " is too large (max 2^31 - 1)");
  const int64_t q_stride = check_fp8_output(op, input, output_q);
  check_row_scales(op, input, output_s);
  const int64_t rows = num_rows(input);
  if (rows == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_sgl_per_token_quant_fp8(output_q.data_ptr(), q_stride, static_cast<float*>(output_s.data_ptr()),
                                              input.data_ptr(), in_stride, rows, hidden, enable_pdl, dtype,
                                              current_cuda_stream(input.get_device_index())),
               op);
}

void silu_and_mul(Tensor out, Tensor input, bool enable_pdl) {
  gated_activation("silu_and_mul", launch_silu_and_mul, out, input, enable_pdl);
}
// kernelkit:bindings-end

#ifdef KERNELKIT_ENABLE_FP4
// kernelkit:fp4-bindings-begin
void scaled_fp4_quant(Tensor output, Tensor input, Tensor output_scale, Tensor input_global_scale, bool enable_pdl) {
  constexpr const char* op = "scaled_fp4_quant";
  check_cuda(input, op, "input");
  check_cuda(output, op, "output");
  check_cuda(output_scale, op, "output_scale");
  check_cuda(input_global_scale, op, "input_global_scale");
  check_same_device(input, "input", output, "output", op);
  check_same_device(input, "input", output_scale, "output_scale", op);
  check_same_device(input, "input", input_global_scale, "input_global_scale", op);
  const DType dtype = float_dtype_in(input, op, "input", {DType::kBFloat16, DType::kFloat16});
  KK_CHECK(input.dim() == 2, op, "input must be 2-D [m, n], got shape ", shape_str(input));
  const int64_t m = input.size(0), n = input.size(1);
  KK_CHECK(n % 16 == 0, op, "input's last dimension (", n, ") must be a multiple of 16 (one scale per 16 values)");
  KK_CHECK(n <= (int64_t{1} << 30) && m <= INT32_MAX, op, "input of shape ", shape_str(input), " is too large");
  const int64_t in_stride = row_stride(input, op, "input");
  check_scalar_type(output, ScalarType::Byte, op, "output");
  KK_CHECK(output.dim() == 2 && output.size(0) == m && output.size(1) == n / 2, op, "output must have shape [", m,
           ", ", n / 2, "] (two FP4 values per byte), got ", shape_str(output));
  check_contiguous(output, op, "output");
  KK_CHECK(reinterpret_cast<uintptr_t>(output.data_ptr()) % 8 == 0, op, "output must be 8-byte aligned");
  // The scales as sgl-kernel allocates them (int32 [padded_m, padded_blocks / 4]) or as the bytes they
  // are (float8_e4m3fn or uint8 [padded_m, padded_blocks]).
  const int64_t padded_m = (m + 127) / 128 * 128, padded_blocks = (n / 16 + 3) / 4 * 4;
  const ScalarType st = output_scale.scalar_type();
  const int64_t scale_cols = st == ScalarType::Int ? padded_blocks / 4 : padded_blocks;
  KK_CHECK(st == ScalarType::Int || st == ScalarType::Float8_e4m3fn || st == ScalarType::Byte, op,
           "output_scale must be float8_e4m3fn (or int32 / uint8 holding the e4m3 bytes), got ", scalar_type_name(st));
  KK_CHECK(output_scale.dim() == 2 && output_scale.size(0) == padded_m && output_scale.size(1) == scale_cols, op,
           "output_scale must have shape [", padded_m, ", ", scale_cols, "] (rows padded to 128, blocks of 16 to 4",
           st == ScalarType::Int ? ", 4 scales per int32" : "", "), got ", shape_str(output_scale));
  check_contiguous(output_scale, op, "output_scale");
  check_scalar_type(input_global_scale, ScalarType::Float, op, "input_global_scale");
  KK_CHECK(input_global_scale.numel() == 1, op, "input_global_scale must hold one value, got shape ",
           shape_str(input_global_scale));
  if (m == 0 || n == 0) return;
  torch::stable::accelerator::DeviceGuard guard(input.get_device_index());
  check_launch(launch_scaled_fp4_quant(output.data_ptr(), output_scale.data_ptr(), input.data_ptr(), in_stride, m, n,
                                       static_cast<const float*>(input_global_scale.data_ptr()), enable_pdl, dtype,
                                       current_cuda_stream(input.get_device_index())),
               op);
}
// kernelkit:fp4-bindings-end
#endif  // KERNELKIT_ENABLE_FP4

}  // namespace
}  // namespace kernelkit::binding

STABLE_TORCH_LIBRARY(kernelkit, m) {
  // kernelkit:schemas-begin
  m.def("apply_rope_with_cos_sin_cache_inplace(Tensor positions, Tensor! query, Tensor! key, int head_size, Tensor cos_sin_cache, bool is_neox, Tensor! position_errors) -> ()");
  m.def("fused_add_rmsnorm(Tensor! input, Tensor! residual, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("fused_add_rmsnorm_quant_fp8(Tensor input, Tensor! residual, Tensor weight, Tensor! output_q, Tensor! output_s, float eps, bool enable_pdl) -> ()");
  m.def("gelu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()");
  m.def("gelu_tanh_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()");
  m.def("gemma_fused_add_rmsnorm(Tensor! input, Tensor! residual, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("gemma_rmsnorm(Tensor! out, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("rmsnorm(Tensor! out, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("scaled_fp4_quant(Tensor! output, Tensor input, Tensor! output_scale, Tensor input_global_scale, bool enable_pdl) -> ()");
  m.def("sgl_per_tensor_quant_fp8(Tensor input, Tensor! output_q, Tensor! output_s, bool is_static, Tensor! workspace, bool enable_pdl) -> ()");
  m.def("sgl_per_token_group_quant_fp8(Tensor input, Tensor! output_q, Tensor! output_s, int group_size, float eps, float fp8_min, float fp8_max, bool scale_ue8m0, bool enable_pdl) -> ()");
  m.def("sgl_per_token_group_quant_int8(Tensor input, Tensor! output_q, Tensor! output_s, int group_size, float eps, float int8_min, float int8_max, bool enable_pdl) -> ()");
  m.def("sgl_per_token_quant_fp8(Tensor input, Tensor! output_q, Tensor! output_s, bool enable_pdl) -> ()");
  m.def("silu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()");
  // kernelkit:schemas-end
}

STABLE_TORCH_LIBRARY_IMPL(kernelkit, CUDA, m) {
  // kernelkit:impls-begin
  m.impl("apply_rope_with_cos_sin_cache_inplace", TORCH_BOX(&kernelkit::binding::apply_rope_with_cos_sin_cache_inplace));
  m.impl("fused_add_rmsnorm", TORCH_BOX(&kernelkit::binding::fused_add_rmsnorm));
  m.impl("fused_add_rmsnorm_quant_fp8", TORCH_BOX(&kernelkit::binding::fused_add_rmsnorm_quant_fp8));
  m.impl("gelu_and_mul", TORCH_BOX(&kernelkit::binding::gelu_and_mul));
  m.impl("gelu_tanh_and_mul", TORCH_BOX(&kernelkit::binding::gelu_tanh_and_mul));
  m.impl("gemma_fused_add_rmsnorm", TORCH_BOX(&kernelkit::binding::gemma_fused_add_rmsnorm));
  m.impl("gemma_rmsnorm", TORCH_BOX(&kernelkit::binding::gemma_rmsnorm));
  m.impl("rmsnorm", TORCH_BOX(&kernelkit::binding::rmsnorm));
  m.impl("sgl_per_tensor_quant_fp8", TORCH_BOX(&kernelkit::binding::sgl_per_tensor_quant_fp8));
  m.impl("sgl_per_token_group_quant_fp8", TORCH_BOX(&kernelkit::binding::sgl_per_token_group_quant_fp8));
  m.impl("sgl_per_token_group_quant_int8", TORCH_BOX(&kernelkit::binding::sgl_per_token_group_quant_int8));
  m.impl("sgl_per_token_quant_fp8", TORCH_BOX(&kernelkit::binding::sgl_per_token_quant_fp8));
  m.impl("silu_and_mul", TORCH_BOX(&kernelkit::binding::silu_and_mul));
  // kernelkit:impls-end
#ifdef KERNELKIT_ENABLE_FP4
  // kernelkit:fp4-impls-begin
  m.impl("scaled_fp4_quant", TORCH_BOX(&kernelkit::binding::scaled_fp4_quant));
  // kernelkit:fp4-impls-end
#endif  // KERNELKIT_ENABLE_FP4
}
