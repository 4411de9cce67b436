// scaled_fp4_grouped_quant: the torch face of launch_scaled_fp4_grouped_quant (validate the tensors, pick the stream,
// launch; the checks are the family's, fp4_grouped_binding.h) and the op's registration: its schema, and this binding
// as its CUDA and CPU kernel.
#include "kernelkit_ops/quantization/scaled_fp4_grouped_quant.h"
#include "quantization/fp4_grouped_binding.h"

namespace kernelkit::binding {
namespace {

void scaled_fp4_grouped_quant(Tensor output, Tensor output_scale, Tensor input, Tensor input_global_scale, Tensor mask,
                              bool enable_pdl) {
  fp4_grouped_quant("scaled_fp4_grouped_quant", /*silu_and_mul=*/false, launch_scaled_fp4_grouped_quant, output,
                    output_scale, input, input_global_scale, mask, enable_pdl);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, scaled_fp4_grouped_quant, &kernelkit::binding::scaled_fp4_grouped_quant,
    "scaled_fp4_grouped_quant(Tensor! output, Tensor! output_scale, Tensor input, Tensor input_global_scale, Tensor mask, bool enable_pdl) -> ()");
