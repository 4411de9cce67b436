// rmsnorm: the torch face of launch_rmsnorm (validate the tensors, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/norm/rmsnorm.h"
#include "kernelkit/binding.h"
#include "norm/rmsnorm_binding.h"

namespace kernelkit::binding {
namespace {

void rmsnorm(Tensor out, Tensor input, Tensor weight, double eps, bool enable_pdl) {
  rms_norm("rmsnorm", launch_rmsnorm, out, input, weight, eps, enable_pdl);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, rmsnorm, &kernelkit::binding::rmsnorm,
                      "rmsnorm(Tensor! out, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
