// Asynchronous 16-byte global -> shared copies (cp.async, sm_80+). The bytes travel without holding a
// register, so a kernel can keep more of them in flight than its register budget would allow; each
// thread that reads back only the slots it wrote itself needs no barrier, just cp_async_wait_all.
#pragma once

namespace kernelkit {

__device__ __forceinline__ void cp_async_16(void* smem_dst, const void* gmem_src) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(gmem_src) : "memory");
}

__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

}  // namespace kernelkit
