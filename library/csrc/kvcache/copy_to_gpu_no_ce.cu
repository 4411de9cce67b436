// copy_to_gpu_no_ce: a small int32 host array to device memory without the copy engine. The values are packed into
// the kernel's parameters (which the launch carries to the GPU with the command itself) and one block stores them.
// A cudaMemcpyAsync from host memory would go through a DMA engine, which can queue behind large concurrent
// transfers (KV-cache offload) and, from pageable memory, synchronizes the host; a kernel launch does neither.
//
// The parameter block is sized to the next capacity of 64, 256 or 1024 values, so a short list does not ship 4 KiB.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernelkit_ops/kvcache/copy_to_gpu_no_ce.h"

namespace kernelkit {
namespace {

template <int CAP>
struct Values {
  int32_t v[CAP];
};

template <int CAP>
__global__ void copy_to_gpu_no_ce_kernel(const __grid_constant__ Values<CAP> values, int32_t* out, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = values.v[i];
}

template <int CAP>
cudaError_t launch_cap(const int32_t* host_input, int32_t* output, int n, cudaStream_t stream) {
  Values<CAP> values{};
  std::memcpy(values.v, host_input, static_cast<size_t>(n) * sizeof(int32_t));
  const int threads = std::min(CAP, 256);
  copy_to_gpu_no_ce_kernel<CAP><<<1, threads, 0, stream>>>(values, output, n);
  return cudaGetLastError();
}

}  // namespace
}  // namespace kernelkit

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/kvcache/
// copy_to_gpu_no_ce.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_copy_to_gpu_no_ce(const int32_t* host_input, int32_t* output, int64_t n,
                                                cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (n > kCopyToGpuNoCeMax) return cudaErrorInvalidValue;
  const int count = static_cast<int>(n);
  if (count <= 64) return launch_cap<64>(host_input, output, count, stream);
  if (count <= 256) return launch_cap<256>(host_input, output, count, stream);
  return launch_cap<1024>(host_input, output, count, stream);
}
