// Programmatic dependent launch (Hopper+): a kernel launched with PDL may start while the previous
// kernel on the stream is still finishing. Kernels begin with `pdl_wait_then_launch_dependents`, before
// any global memory access; on older GPUs, or when the kernel was launched without PDL, it is a no-op,
// so kernels call it unconditionally.
#pragma once

#include <cuda_runtime.h>

namespace kernelkit {

// griddepcontrol.wait: block until the previous kernel has completed and its writes are visible.
// Then griddepcontrol.launch_dependents: the next kernel may launch now. Its CTAs take SM slots as
// ours retire and park in their own wait, so when this grid completes they start with no launch
// latency; a trigger after the last store would launch the next kernel only as our last CTAs finish
// (docs/perf-notes.md, PDL). The trigger comes after the wait, so at most two grids are ever in flight:
// a chain of kernels cannot pile up.
__device__ __forceinline__ void pdl_wait_then_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Launches `kernel<<<grid, block, smem, stream>>>(args...)`, with PDL when `enable_pdl`.
template <typename... KernelArgs, typename... Args>
cudaError_t launch_with_pdl(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                            bool enable_pdl, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = enable_pdl ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace kernelkit
