// concat_mla_k: k[t, h] = k_nope[t, h] ++ k_rope[t, 0] (MLA's shared rope row broadcast to every head), as a byte copy
// in 16-byte words (families/concat_rows.cuh).
//
// Bytes: both inputs read once (the broadcast row once per token), the output written once.
#include "kernelkit/families/concat_rows.cuh"
#include "kernelkit_ops/kvcache/concat_mla_k.h"

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/kvcache/concat_mla_k.h
// is a compile error here, not a second overload.
cudaError_t kernelkit::launch_concat_mla_k(const ConcatRowsArgs& args, bool enable_pdl, cudaStream_t stream) {
  return launch_concat_rows(args, enable_pdl, stream);
}
