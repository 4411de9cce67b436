// top_k_top_p_sampling_from_probs: the torch face of launch_top_k_top_p_sampling_from_probs (validate the arguments,
// pick the stream, launch) and the op's registration: its schema, and this binding as its CUDA and CPU kernel.
#include "kernelkit_ops/sampling/top_k_top_p_sampling_from_probs.h"
#include "kernelkit/binding.h"
#include "sampling/sampling_binding.h"

namespace kernelkit::binding {
namespace {

void top_k_top_p_sampling_from_probs(Tensor probs, Tensor samples, std::optional<Tensor> indices,
                                     std::optional<Tensor> top_k_arr, int64_t top_k_val,
                                     std::optional<Tensor> top_p_arr, double top_p_val, bool joint, int64_t seed,
                                     int64_t offset, std::optional<Tensor> rng_state, bool enable_pdl) {
  constexpr const char* op = "top_k_top_p_sampling_from_probs";
  check_scalar_type(probs, ScalarType::Float, op, "probs");
  const int64_t stride = check_rows_2d(op, probs, "probs");
  const int64_t rows = probs.size(0);
  const int32_t* k_arr = per_row<int32_t>(op, top_k_arr, "top_k_arr", ScalarType::Int, rows);
  const float* topp_arr = per_row<float>(op, top_p_arr, "top_p_arr", ScalarType::Float, rows);

  const SamplerArgs a = check_sampler_args(op, probs, samples, indices, rng_state);
  // An absent optional tensor stands in as probs: nothing to check.
  check_devices(op, {{"probs", probs},
                     {"samples", samples},
                     {"indices", indices ? *indices : probs},
                     {"top_k_arr", top_k_arr ? *top_k_arr : probs},
                     {"top_p_arr", top_p_arr ? *top_p_arr : probs},
                     {"rng_state", rng_state ? *rng_state : probs}});
  if (a.num_samples == 0) return;  // nothing to launch
  KK_CHECK(probs.size(1) > 0, op, "probs has no columns to sample from");
  const int32_t device = probs.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  check_launch(launch_top_k_top_p_sampling_from_probs(
                   static_cast<const float*>(probs.data_ptr()), stride, rows, probs.size(1),
                   static_cast<int32_t*>(samples.data_ptr()), a.num_samples, a.indices, a.indices_int64, k_arr,
                   top_k_val, topp_arr, static_cast<float>(top_p_val), joint, static_cast<uint64_t>(seed),
                   static_cast<uint64_t>(offset), a.rng_state, enable_pdl, current_cuda_stream(device)),
               op);
}

}  // namespace
}  // namespace kernelkit::binding

KERNELKIT_REGISTER_OP(
    kernelkit, top_k_top_p_sampling_from_probs, &kernelkit::binding::top_k_top_p_sampling_from_probs,
    "top_k_top_p_sampling_from_probs(Tensor probs, Tensor! samples, Tensor? indices, Tensor? top_k_arr, int top_k_val, Tensor? top_p_arr, float top_p_val, bool joint, int seed, int offset, Tensor? rng_state, bool enable_pdl) -> ()");
