// softmax: the torch face of launch_softmax (validate the arguments, pick the stream, launch) and the op's
// registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/sampling/softmax.h"
#include "kernelkit/binding.h"
#include "sampling/sampling_binding.h"

namespace kernelkit::binding {
namespace {

void softmax(Tensor logits, Tensor probs, std::optional<Tensor> temperature_arr, double temperature_val,
             bool enable_pdl) {
  constexpr const char* op = "softmax";
  const DType dtype = float_dtype(logits, op, "logits");
  const int64_t stride = check_rows_2d(op, logits, "logits");
  const int64_t rows = logits.size(0);
  check_rows_out(op, logits, "logits", probs, "probs", ScalarType::Float);
  const float* temp_arr = per_row<float>(op, temperature_arr, "temperature_arr", ScalarType::Float, rows);
  // An absent optional tensor stands in as logits: nothing to check.
  check_devices(
      op, {{"logits", logits}, {"probs", probs}, {"temperature_arr", temperature_arr ? *temperature_arr : logits}});
  if (logits.numel() == 0) return;  // nothing to launch
  const int32_t device = logits.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_softmax(logits.data_ptr(), stride, static_cast<float*>(probs.data_ptr()), temp_arr,
                              static_cast<float>(temperature_val), rows, logits.size(1), enable_pdl, dtype,
                              current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, softmax, &kernelkit::binding::softmax,
    "softmax(Tensor logits, Tensor! probs, Tensor? temperature_arr, float temperature_val, bool enable_pdl) -> ()");
