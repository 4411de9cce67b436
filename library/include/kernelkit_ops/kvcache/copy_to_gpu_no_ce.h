// The launcher of copy_to_gpu_no_ce: defined by its kernel (csrc/kvcache/copy_to_gpu_no_ce.cu), called by its binding
// (csrc/kvcache/copy_to_gpu_no_ce.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kernelkit {

// The most int32 values copy_to_gpu_no_ce carries: they travel as kernel parameters (4 KiB of them, within the
// 32 KiB parameter space of sm_70+ under CUDA 12.1+).
constexpr int64_t kCopyToGpuNoCeMax = 1024;

// copy_to_gpu_no_ce: output[i] = host_input[i] for i < n (1 <= n <= kCopyToGpuNoCeMax), int32, with no copy-engine
// transfer: the host values are read now, into the launch's parameters, and one kernel stores them to output (device
// memory) on stream.
cudaError_t launch_copy_to_gpu_no_ce(const int32_t* host_input, int32_t* output, int64_t n, cudaStream_t stream);

}  // namespace kernelkit
