// concat_mla_absorb_q: out[i, j] = a[i, j] ++ b[i, j] (MLA's absorbed q: the latent part and the rope part), as a byte
// copy in 16-byte words (families/concat_rows.cuh).
//
// Bytes: both inputs read once (the broadcast row once per token), the output written once.
#include "kernelkit/families/concat_rows.cuh"
#include "kernelkit_ops/kvcache/concat_mla_absorb_q.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/kvcache/concat_mla_absorb_q.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_concat_mla_absorb_q(const ConcatRowsArgs& args, bool enable_pdl, cudaStream_t stream) {
  return launch_concat_rows(args, enable_pdl, stream);
}
