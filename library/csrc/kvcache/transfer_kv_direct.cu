// transfer_kv_direct: runs of token rows between two lists of [slots, ...] buffers (K then V of each layer), one
// copy-engine copy per run and buffer (families/kv_transfer_direct.cuh). No kernel: the copy engine moves the bytes
// while the SMs compute.
#include "kernelkit/families/kv_transfer_direct.cuh"
#include "kernelkit_ops/kvcache/transfer_kv_direct.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/transfer_kv_direct.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_transfer_kv_direct(const KvDirectArgs& args, cudaStream_t stream) {
  return launch_kv_direct(args, stream);
}
