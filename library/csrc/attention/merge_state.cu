// merge_state: v = w_a * v_a + w_b * v_b with weights from the two states' base-2 log-sum-exps (FlashInfer's
// MergeState, which sgl-kernel's merge_state calls); the merged LSE in the same base (families/merge_state.cuh has the
// math and the edge cases).
//
// Bytes: v_a, v_b read and v_merged written once (3 * T*H*D elements) plus 12 bytes of LSE per (token, head).
#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/families/merge_state.cuh"
#include "kernelkit_ops/attention/merge_state.h"

// Defined by its qualified name: a definition that drifts from the declaration in kernelkit_ops/attention/merge_state.h
// is a compile error here, not a second overload.
cudaError_t kernelkit::launch_merge_state(const MergeStateArgs& args, bool enable_pdl, DType dtype,
                                          cudaStream_t stream) {
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_merge_state_family<LseBase::kTwo, T>(args, enable_pdl, stream);
  });
}
