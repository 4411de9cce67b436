// fused_add_rmsnorm: the torch face of launch_fused_add_rmsnorm (validate the tensors, pick the stream, launch) and the
// op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/norm/fused_add_rmsnorm.h"
#include "kernelkit/binding.h"
#include "norm/rmsnorm_binding.h"

namespace kernelkit::binding {
namespace {

void fused_add_rmsnorm(Tensor input, Tensor residual, Tensor weight, double eps, bool enable_pdl) {
  fused_add_rms_norm("fused_add_rmsnorm", launch_fused_add_rmsnorm, input, residual, weight, eps, enable_pdl);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, fused_add_rmsnorm, &kernelkit::binding::fused_add_rmsnorm,
    "fused_add_rmsnorm(Tensor! input, Tensor! residual, Tensor weight, float eps, bool enable_pdl) -> ()");
