// The launcher of store_kv_cache: defined by its kernel (csrc/kvcache/store_kv_cache.cu), called by its binding
// (csrc/kvcache/store_kv_cache.cc). Both include this header, so a signature that drifts fails to compile.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kernelkit {

// store_kv_cache: k_cache[loc[t]] = k[t] and v_cache[loc[t]] = v[t] for every token t < tokens, each row
// row_bytes bytes copied bit for bit (any dtype). Strides in bytes; loc is int32 or int64 (loc_is_int64). A slot
// outside [0, cache_rows) is skipped.
cudaError_t launch_store_kv_cache(void* k_cache, void* v_cache, int64_t k_cache_stride, int64_t v_cache_stride,
                                  int64_t cache_rows, const void* loc, bool loc_is_int64, const void* k, const void* v,
                                  int64_t k_stride, int64_t v_stride, int64_t tokens, int64_t row_bytes,
                                  bool enable_pdl, cudaStream_t stream);

}  // namespace kernelkit
