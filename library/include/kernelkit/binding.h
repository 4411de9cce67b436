// Helpers for the binding layer: stable-ABI tensors in, checked raw pointers out, and the registration
// of an op. Every check names the op and the argument, so a user sees what to fix, not where it broke.
// Only binding TUs (csrc/<category>/<op>.cc) include this; kernels stay pure CUDA.
#pragma once

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernelkit/core/dtype.h"

namespace kernelkit::binding {

using torch::headeronly::ScalarType;
using torch::stable::Tensor;

// Messages are built with std::string/std::to_string only: no iostreams, whose locale machinery
// crashed when this TU was built with gcc 13 and loaded next to torch (seen on the GPU machine).
inline void append(std::string& msg, const char* part) { msg += part; }
inline void append(std::string& msg, const std::string& part) { msg += part; }
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
inline void append(std::string& msg, T part) {
  msg += std::to_string(part);
}

// Throws std::runtime_error("<op>: <parts...>"), which torch surfaces as RuntimeError in Python.
template <typename... Parts>
[[noreturn]] void fail(const char* op, const Parts&... parts) {
  std::string msg = op;
  msg += ": ";
  (append(msg, parts), ...);
  throw std::runtime_error(msg);
}

}  // namespace kernelkit::binding

// A macro so the message parts (shape strings, ...) are only built when the check fails.
#define KK_CHECK(cond, op, ...)                                 \
  do {                                                          \
    if (!(cond)) ::kernelkit::binding::fail((op), __VA_ARGS__); \
  } while (0)

namespace kernelkit::binding {

// "[4, 16]"; with last_dim >= 0, the shape with its last size replaced (an expected output shape).
inline std::string shape_str(const Tensor& t, int64_t last_dim = -1) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(i + 1 == t.dim() && last_dim >= 0 ? last_dim : t.size(i));
  }
  return s + "]";
}

inline const char* scalar_type_name(ScalarType st) {
  switch (st) {
    case ScalarType::Float: return "float32";
    case ScalarType::Half: return "float16";
    case ScalarType::BFloat16: return "bfloat16";
    case ScalarType::Double: return "float64";
    case ScalarType::Int: return "int32";
    case ScalarType::Long: return "int64";
    case ScalarType::Char: return "int8";
    case ScalarType::Byte: return "uint8";
    case ScalarType::Bool: return "bool";
    case ScalarType::Float8_e4m3fn: return "float8_e4m3fn";
    default: return "an unsupported dtype";
  }
}

// bf16/fp16/fp32 -> launcher dtype; anything else is refused by name.
inline DType float_dtype(const Tensor& t, const char* op, const char* arg) {
  switch (t.scalar_type()) {
    case ScalarType::Float: return DType::kFloat32;
    case ScalarType::Half: return DType::kFloat16;
    case ScalarType::BFloat16: return DType::kBFloat16;
    default: break;
  }
  fail(op, arg, " must be bfloat16, float16 or float32, got ", scalar_type_name(t.scalar_type()));
}

// float_dtype restricted to the dtypes an op was compiled for.
inline DType float_dtype_in(const Tensor& t, const char* op, const char* arg, std::initializer_list<DType> allowed) {
  const DType dtype = float_dtype(t, op, arg);
  for (DType a : allowed) {
    if (a == dtype) return dtype;
  }
  std::string names;
  for (DType a : allowed) names += std::string(names.empty() ? "" : ", ") + dtype_name(a);
  fail(op, arg, " must be one of ", names, ", got ", dtype_name(dtype));
}

inline void check_same_shape(const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b, const char* op) {
  bool same = a.dim() == b.dim();
  for (int64_t i = 0; same && i < a.dim(); ++i) same = a.size(i) == b.size(i);
  KK_CHECK(same, op, arg_b, " must have the shape of ", arg_a, " ", shape_str(a), ", got ", shape_str(b));
}

// out must have shape input.shape[:-1] (one value per row of input).
inline void check_row_reduction_shape(const Tensor& input, const char* arg_in, const Tensor& out, const char* arg_out,
                                      const char* op) {
  bool same = input.dim() >= 1 && out.dim() == input.dim() - 1;
  for (int64_t i = 0; same && i < out.dim(); ++i) same = out.size(i) == input.size(i);
  KK_CHECK(same, op, arg_out, " must have shape ", arg_in, ".shape[:-1] (one value per row of ", shape_str(input),
           "), got ", shape_str(out));
}

inline void check_contiguous(const Tensor& t, const char* op, const char* arg) {
  KK_CHECK(t.is_contiguous(), op, arg, " must be contiguous (call .contiguous())");
}

struct NamedTensor {
  const char* name;
  const Tensor& tensor;
};

// Every tensor is a CUDA tensor on the device of the first. A binding calls this once, after its dtype,
// shape and value checks: the op is registered for CPU tensors too (KERNELKIT_REGISTER_OP), so a CPU
// tensor meets those checks first and then this message, never a dispatcher error.
inline void check_devices(const char* op, std::initializer_list<NamedTensor> tensors) {
  const NamedTensor* first = nullptr;
  for (const NamedTensor& t : tensors) {
    KK_CHECK(t.tensor.is_cuda(), op, t.name, " must be a CUDA tensor");
    if (first == nullptr) {
      first = &t;
      continue;
    }
    KK_CHECK(t.tensor.get_device_index() == first->tensor.get_device_index(), op, first->name, " and ", t.name,
             " must be on the same device, got cuda:", first->tensor.get_device_index(),
             " and cuda:", t.tensor.get_device_index());
  }
}

inline void check_scalar_type(const Tensor& t, ScalarType expected, const char* op, const char* arg) {
  KK_CHECK(t.scalar_type() == expected, op, arg, " must be ", scalar_type_name(expected), ", got ",
           scalar_type_name(t.scalar_type()));
}

inline void check_same_dtype(const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b, const char* op) {
  KK_CHECK(a.scalar_type() == b.scalar_type(), op, arg_b, " must have the dtype of ", arg_a, " (",
           scalar_type_name(a.scalar_type()), "), got ", scalar_type_name(b.scalar_type()));
}

// A tensor [..., N] viewed as rows of N contiguous elements: the last dim must be dense and
// all leading dims must collapse into one row stride. Returns that stride (in elements).
inline int64_t row_stride(const Tensor& t, const char* op, const char* arg) {
  const int64_t nd = t.dim();
  KK_CHECK(nd >= 1, op, arg, " must have at least one dimension");
  KK_CHECK(t.size(nd - 1) <= 1 || t.stride(nd - 1) == 1, op, arg, " must be contiguous in its last dimension (stride ",
           t.stride(nd - 1), ")");
  if (nd == 1) return t.size(0);
  const int64_t stride = t.stride(nd - 2);
  for (int64_t i = nd - 3; i >= 0; --i) {
    KK_CHECK(t.size(i) <= 1 || t.stride(i) == t.stride(i + 1) * t.size(i + 1), op, arg, " of shape ", shape_str(t),
             " has leading dimensions that do not collapse into rows with one stride; "
             "pass a tensor whose leading dimensions are contiguous (e.g. call .contiguous())");
  }
  return stride;
}

inline int64_t num_rows(const Tensor& t) {
  return t.dim() == 0 || t.size(t.dim() - 1) == 0 ? 0 : t.numel() / t.size(t.dim() - 1);
}

// The current CUDA stream of `device_index`, as torch sees it (torch.cuda.stream(...) is honoured).
// Found in the already-loaded libtorch_cuda at first use, so this library links only libtorch_cpu
// and one build works against any torch >= 2.10, CPU or CUDA build.
inline cudaStream_t current_cuda_stream(int32_t device_index) {
  using GetStreamFn = int32_t (*)(int32_t, void**);
  static GetStreamFn get_stream = []() -> GetStreamFn {
    void* sym = nullptr;
    if (void* lib = dlopen("libtorch_cuda.so", RTLD_LAZY | RTLD_NOLOAD)) {
      sym = dlsym(lib, "aoti_torch_get_current_cuda_stream");
    }
    if (!sym) sym = dlsym(RTLD_DEFAULT, "aoti_torch_get_current_cuda_stream");
    return reinterpret_cast<GetStreamFn>(sym);
  }();
  KK_CHECK(get_stream != nullptr, "kernelkit",
           "this torch build has no CUDA support (aoti_torch_get_current_cuda_stream not found)");
  void* stream = nullptr;
  KK_CHECK(get_stream(device_index, &stream) == 0, "kernelkit", "could not get the current CUDA stream");
  return static_cast<cudaStream_t>(stream);
}

// The current device's compute capability as 10 * major + minor (90 for H100/H200, 100 for B200/GB200), asked of
// the runtime once per device: for bindings whose kernels exist for one arch only and refuse other GPUs by name.
// 0 when the runtime cannot say.
inline int current_device_arch() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached[kMaxDevices] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 0;
  if (device >= 0 && device < kMaxDevices && cached[device].load(std::memory_order_relaxed) != 0) {
    return cached[device].load(std::memory_order_relaxed);
  }
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    return 0;
  }
  const int arch = 10 * major + minor;
  if (device >= 0 && device < kMaxDevices) cached[device].store(arch, std::memory_order_relaxed);
  return arch;
}

inline void check_launch(cudaError_t err, const char* op) {
  KK_CHECK(err == cudaSuccess, op, "CUDA error: ", cudaGetErrorString(err));
}

}  // namespace kernelkit::binding

// Registers op `name` in torch namespace `ns`: its schema, and `fn` as its CUDA kernel and as its CPU
// kernel. On CPU tensors the binding validates and then refuses them by name (check_devices), which is
// the message a caller needs, and which lets a machine without a GPU test every check of the binding.
#define KERNELKIT_REGISTER_OP(ns, name, fn, schema)                        \
  STABLE_TORCH_LIBRARY_FRAGMENT(ns, m) { m.def(schema); }                  \
  STABLE_TORCH_LIBRARY_IMPL(ns, CUDA, m) { m.impl(#name, TORCH_BOX(fn)); } \
  STABLE_TORCH_LIBRARY_IMPL(ns, CPU, m) { m.impl(#name, TORCH_BOX(fn)); }  \
  static_assert(true, "KERNELKIT_REGISTER_OP is used as a statement: end it with ';'")

// Registers host function `name` in torch namespace `ns`: the state an op keeps between calls (the custom
// all-reduce's communicator handles, its IPC buffers) is set up by functions that take no tensor to dispatch on, so
// they are registered once for every backend (CompositeExplicitAutograd) and run on the host. They are not ops of
// their own in the house's sense (`kernelkit check` and `list` count the KERNELKIT_REGISTER_OP of a binding file):
// the binding file of the op they serve registers them beside it.
#define KERNELKIT_REGISTER_HOST_FN(ns, name, fn, schema)                                        \
  STABLE_TORCH_LIBRARY_FRAGMENT(ns, m) { m.def(schema); }                                       \
  STABLE_TORCH_LIBRARY_IMPL(ns, CompositeExplicitAutograd, m) { m.impl(#name, TORCH_BOX(fn)); } \
  static_assert(true, "KERNELKIT_REGISTER_HOST_FN is used as a statement: end it with ';'")
