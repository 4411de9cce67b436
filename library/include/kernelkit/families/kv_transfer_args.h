// What the KV-cache transfer ops (sgl-kernel's kvcacheio) pass from their bindings to their launchers. Plain C++ so
// the bindings (g++) and the kernels (nvcc) share one definition.
//
// The kernel forms (families/kv_transfer.cuh) copy one "item" per index pair: item_bytes bytes of one layer's K (and
// V) of one token slot, from slot src_indices[i] of the source to slot dst_indices[i] of the destination, for every
// layer they cover. Where an item sits depends on its side's layout:
//   layer first (lf)      one buffer per layer [slots, item]:         base + slot * item
//   layer table (lf)      the same, the layers' bases in a table:     table[layer] + slot * item
//   page first (pf)       [slots, layers, item], layout_dim = bytes   base + slot * layout_dim + layer * item
//                         of one slot over all layers
//   page head (ph)        [pages, heads, page_size, layers, item/heads], layout_dim as pf:
//                         base + (slot / P) * P * D + head * P * (D / H) + (slot % P) * (D / H) + layer * item / H
// The page-head forms copy an item as head_num segments of item_bytes / head_num bytes (the heads of one slot are
// not adjacent there); the other forms take one segment (head_num = 1).
//
// The direct forms (families/kv_transfer_direct.cuh) copy with the copy engine: runs of consecutive units (a token
// row, or a page of page_size rows) as one cudaMemcpy(2D)Async each, no SM involved.
#pragma once

#include <cstdint>

namespace kernelkit {

enum class KvLayout : int { kLayerFirst, kLayerTable, kPageFirst, kPageHead };

// One side (source or destination) of a kernel-form transfer.
struct KvSideArgs {
  const void* k;       // buffer base (device or pinned host), or for kLayerTable a table of layer bases (uint64 each)
  const void* v;       // the same for V; nullptr for MLA (one latent buffer)
  int64_t layout_dim;  // pf/ph: bytes of one slot over all layers; unused otherwise
  // Slots the side may address: a slot outside [0, capacity) is skipped (every byte of slots below capacity lies
  // inside the tensors, checked by the binding). INT64_MAX where unknown (layer tables: only negatives skipped).
  int64_t capacity;
};

struct KvTransferArgs {
  KvSideArgs src, dst;
  const int64_t* src_indices;  // device, num_items each
  const int64_t* dst_indices;
  int64_t num_items;
  int64_t item_bytes;   // one layer of one slot (all heads)
  int64_t layer_begin;  // first layer (the per-layer forms' layer_id; 0 for the all-layer forms)
  int64_t num_layers;   // layers per item (1 for the per-layer forms)
  int64_t page_size;    // ph only (1 otherwise)
  int64_t head_num;     // ph only (1 otherwise): segments per item
  int64_t block_quota;  // CTAs at most: the SMs the copy may take from concurrent compute
  int64_t warps_per_block;
};

// One buffer pair of a direct transfer: a K or V buffer of one layer on each side. A unit u of the source starts at
// src + u * src_unit_stride and holds rows_per_unit rows, row r at + r * src_row_stride (bytes); the same for dst.
struct KvDirectPair {
  const char* src;
  char* dst;
  int64_t src_unit_stride, src_row_stride;
  int64_t dst_unit_stride, dst_row_stride;
  int kind;  // cudaMemcpyKind of the pair (host <-> device known from the tensors)
};

struct KvDirectArgs {
  const KvDirectPair* pairs;
  int64_t num_pairs;
  const int64_t* src_units;  // host arrays, num_units each: every unit's index on each side
  const int64_t* dst_units;
  int64_t num_units;
  // A run of units continues while both sides advance by these steps (1 for tokens and pages, page_size for a
  // token-indexed side of a paged copy); a run moves as one copy.
  int64_t src_unit_step, dst_unit_step;
  int64_t rows_per_unit;
  int64_t row_bytes;
};

}  // namespace kernelkit
