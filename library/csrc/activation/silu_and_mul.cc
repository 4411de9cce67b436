// silu_and_mul: the torch face of launch_silu_and_mul (validate the tensors, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/activation/silu_and_mul.h"
#include "activation/gated_activation_binding.h"
#include "kernelkit/binding.h"

namespace kernelkit::binding {
namespace {

void silu_and_mul(Tensor out, Tensor input, bool enable_pdl) {
  gated_activation("silu_and_mul", launch_silu_and_mul, out, input, enable_pdl);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, silu_and_mul, &kernelkit::binding::silu_and_mul,
                      "silu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()");
