// What the sampling bindings check: [rows, V] inputs with a dense last dim, their outputs, per-row thresholds,
// `indices` and the device-side RNG state.
#pragma once

#include <optional>

#include "kernelkit/binding.h"

namespace kernelkit::binding {

// A 2-D [rows, V] input whose rows are dense (a row slice of a wider buffer is fine); returns its row stride.
inline int64_t check_rows_2d(const char* op, const Tensor& t, const char* arg) {
  KK_CHECK(t.dim() == 2, op, arg, " must be 2-D [batch, vocab], got ", shape_str(t));
  KK_CHECK(t.size(1) < (int64_t{1} << 31), op, arg, " has ", t.size(1), " columns (max 2^31 - 1)");
  const int64_t stride = row_stride(t, op, arg);
  KK_CHECK(t.size(0) <= 1 || stride >= t.size(1), op, arg, " rows overlap (row stride ", stride, " < ", t.size(1), ")");
  return stride;
}

// An output with the input's shape, contiguous, of the given dtype.
inline void check_rows_out(const char* op, const Tensor& in, const char* arg_in, const Tensor& out, const char* arg,
                           ScalarType dtype) {
  check_scalar_type(out, dtype, op, arg);
  check_same_shape(in, arg_in, out, arg, op);
  check_contiguous(out, op, arg);
}

// A per-row threshold tensor: 1-D, one value per row of `rows`, contiguous, of `dtype`; nullptr when absent.
template <typename Ptr>
inline const Ptr* per_row(const char* op, const std::optional<Tensor>& t, const char* arg, ScalarType dtype,
                          int64_t rows) {
  if (!t) return nullptr;
  check_scalar_type(*t, dtype, op, arg);
  KK_CHECK(t->dim() == 1 && t->size(0) == rows, op, arg, " must have shape [", rows,
           "] (one value per row of the input), got ", shape_str(*t));
  check_contiguous(*t, op, arg);
  return static_cast<const Ptr*>(t->data_ptr());
}

// The samplers' shared arguments: samples int32 [B] (B = indices' length, or the rows of probs), indices int32/int64
// [B], rng_state int64 [2] (seed, offset).
struct SamplerArgs {
  int64_t num_samples;
  const void* indices;
  bool indices_int64;
  const int64_t* rng_state;
};

inline SamplerArgs check_sampler_args(const char* op, const Tensor& probs, const Tensor& samples,
                                      const std::optional<Tensor>& indices, const std::optional<Tensor>& rng_state) {
  SamplerArgs a{probs.size(0), nullptr, false, nullptr};
  if (indices) {
    KK_CHECK(indices->scalar_type() == ScalarType::Int || indices->scalar_type() == ScalarType::Long, op,
             "indices must be int32 or int64, got ", scalar_type_name(indices->scalar_type()));
    KK_CHECK(indices->dim() == 1, op, "indices must be 1-D, got ", shape_str(*indices));
    check_contiguous(*indices, op, "indices");
    a.num_samples = indices->size(0);
    a.indices = indices->data_ptr();
    a.indices_int64 = indices->scalar_type() == ScalarType::Long;
  }
  check_scalar_type(samples, ScalarType::Int, op, "samples");
  KK_CHECK(samples.dim() == 1 && samples.size(0) == a.num_samples, op, "samples must have shape [", a.num_samples,
           "] (one per ", indices ? "index" : "row of probs", "), got ", shape_str(samples));
  check_contiguous(samples, op, "samples");
  KK_CHECK(a.num_samples < (int64_t{1} << 28), op, "at most 2^28 samples per call, got ", a.num_samples);
  if (rng_state) {
    check_scalar_type(*rng_state, ScalarType::Long, op, "rng_state");
    KK_CHECK(rng_state->dim() == 1 && rng_state->size(0) == 2, op, "rng_state must have shape [2] (seed, offset), got ",
             shape_str(*rng_state));
    check_contiguous(*rng_state, op, "rng_state");
    a.rng_state = static_cast<const int64_t*>(rng_state->data_ptr());
  }
  return a;
}

}  // namespace kernelkit::binding
