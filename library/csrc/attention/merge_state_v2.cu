// merge_state_v2: v = w_a * v_a + w_b * v_b with weights from the two states' natural-log log-sum-exps; an infinite LSE
// counts as -inf (an empty partial state); the merged LSE in the same base (families/merge_state.cuh has the math and
// the edge cases).
//
// Bytes: v_a, v_b read and v_merged written once (3 * T*H*D elements) plus 12 bytes of LSE per (token, head).
#include "kernelkit/core/dispatch.cuh"
#include "kernelkit/families/merge_state.cuh"
#include "kernelkit_ops/attention/merge_state_v2.h"

// Defined by its qualified name: a definition that drifts from the declaration in
// kernelkit_ops/attention/merge_state_v2.h is a compile error here, not a second overload.
cudaError_t kernelkit::launch_merge_state_v2(const MergeStateArgs& args, bool enable_pdl, DType dtype,
                                             cudaStream_t stream) {
  return dispatch_float_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return launch_merge_state_family<LseBase::kE, T>(args, enable_pdl, stream);
  });
}
