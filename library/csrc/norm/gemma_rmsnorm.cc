// gemma_rmsnorm: the torch face of launch_gemma_rmsnorm (validate the tensors, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/norm/gemma_rmsnorm.h"
#include "kernelkit/binding.h"
#include "norm/rmsnorm_binding.h"

namespace kernelkit::binding {
namespace {

void gemma_rmsnorm(Tensor out, Tensor input, Tensor weight, double eps, bool enable_pdl) {
  rms_norm("gemma_rmsnorm", launch_gemma_rmsnorm, out, input, weight, eps, enable_pdl);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(kernelkit, gemma_rmsnorm, &kernelkit::binding::gemma_rmsnorm,
                      "gemma_rmsnorm(Tensor! out, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
