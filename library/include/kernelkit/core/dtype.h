// The element types a launcher understands. Plain C++ (no torch, no CUDA) so that
// launcher declarations stay includable from both the .cu files and the binding TU.
#pragma once

namespace kernelkit {

enum class DType : int {
  kFloat32 = 0,
  kFloat16 = 1,
  kBFloat16 = 2,
};

inline const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
  }
  return "unknown";
}

}  // namespace kernelkit
