// What concat_mla_k and concat_mla_absorb_q pass from their bindings to their launchers: out[t, h] = x[t, h] ++ y[t, h]
// over the last dimension, rows copied as bytes; y's head stride may be 0 (one row broadcast to every head). Plain
// C++ so the bindings (g++) and the kernels (nvcc) share one definition.
#pragma once

#include <cstdint>

namespace kernelkit {

struct ConcatRowsArgs {
  void* out;
  const void* x;
  const void* y;
  int64_t tokens, heads;
  int64_t x_bytes, y_bytes;  // the two parts of an output row
  // Strides in bytes.
  int64_t out_token_stride, out_head_stride;
  int64_t x_token_stride, x_head_stride;
  int64_t y_token_stride, y_head_stride;
};

}  // namespace kernelkit
