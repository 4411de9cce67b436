// Helpers for the binding layer: stable-ABI tensors in, checked raw pointers out.
// Every check names the op and the argument, so a user sees what to fix, not where it broke.
#pragma once

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include "kernelkit/dtype.h"

namespace kernelkit::binding {

using torch::stable::Tensor;
using torch::headeronly::ScalarType;

// Raises RuntimeError("<op>: <message>") in Python when `cond` is false.
template <typename... Parts>
inline void check(bool cond, const char* op, const Parts&... parts) {
  if (cond) return;
  std::ostringstream msg;
  msg << op << ": ";
  (msg << ... << parts);
  throw std::runtime_error(msg.str());
}

inline std::string shape_str(const Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); ++i) s << (i ? ", " : "") << t.size(i);
  s << "]";
  return s.str();
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
  check(false, op, arg, " must be bfloat16, float16 or float32, got ", scalar_type_name(t.scalar_type()));
  return DType::kFloat32;
}

inline void check_cuda(const Tensor& t, const char* op, const char* arg) {
  check(t.is_cuda(), op, arg, " must be a CUDA tensor");
}

inline void check_same_device(const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b,
                              const char* op) {
  check(a.get_device_index() == b.get_device_index(), op, arg_a, " and ", arg_b,
        " must be on the same device, got cuda:", a.get_device_index(), " and cuda:", b.get_device_index());
}

inline void check_same_dtype(const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b,
                             const char* op) {
  check(a.scalar_type() == b.scalar_type(), op, arg_b, " must have the dtype of ", arg_a, " (",
        scalar_type_name(a.scalar_type()), "), got ", scalar_type_name(b.scalar_type()));
}

// A tensor [..., N] viewed as rows of N contiguous elements: the last dim must be dense and
// all leading dims must collapse into one row stride. Returns that stride (in elements).
inline int64_t row_stride(const Tensor& t, const char* op, const char* arg) {
  const int64_t nd = t.dim();
  check(nd >= 1, op, arg, " must have at least one dimension");
  check(t.size(nd - 1) <= 1 || t.stride(nd - 1) == 1, op, arg,
        " must be contiguous in its last dimension (stride ", t.stride(nd - 1), ")");
  if (nd == 1) return t.size(0);
  const int64_t stride = t.stride(nd - 2);
  for (int64_t i = nd - 3; i >= 0; --i) {
    check(t.size(i) <= 1 || t.stride(i) == t.stride(i + 1) * t.size(i + 1), op, arg, " of shape ",
          shape_str(t), " has leading dimensions that do not collapse into rows with one stride; "
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
  check(get_stream != nullptr, "kernelkit",
        "this torch build has no CUDA support (aoti_torch_get_current_cuda_stream not found)");
  void* stream = nullptr;
  check(get_stream(device_index, &stream) == 0, "kernelkit", "could not get the current CUDA stream");
  return static_cast<cudaStream_t>(stream);
}

inline void check_launch(cudaError_t err, const char* op) {
  check(err == cudaSuccess, op, "CUDA error: ", cudaGetErrorString(err));
}

}  // namespace kernelkit::binding
