"""kernelkit_ops: LLM-inference CUDA kernels as torch ops (``torch.ops.kernelkit.*``).

A drop-in for sgl-kernel's Python API: ``import kernelkit_ops as sgl_kernel``.
"""

from kernelkit_ops import _library

__version__ = "0.1.0"  # kept equal to the project version by `kernelkit release`

LIBRARY_PATH = _library.load()
fp4_enabled = _library.fp4_enabled  # whether the FP4 kernels are built (`kernelkit build --fp4`)
cutlass_enabled = _library.cutlass_enabled  # whether the CUTLASS GEMM ops are built (CUTLASS headers found)

# kernelkit:exports-begin
from kernelkit_ops.activation.gelu_and_mul import gelu_and_mul
from kernelkit_ops.activation.gelu_tanh_and_mul import gelu_tanh_and_mul
from kernelkit_ops.activation.silu_and_mul import silu_and_mul
from kernelkit_ops.allreduce.all_reduce import all_reduce
from kernelkit_ops.attention.merge_state import merge_state
from kernelkit_ops.attention.merge_state_v2 import merge_state_v2
from kernelkit_ops.gemm.bmm_fp8 import bmm_fp8
from kernelkit_ops.gemm.cutlass_scaled_fp4_mm import cutlass_scaled_fp4_mm
from kernelkit_ops.gemm.fp8_blockwise_scaled_mm import fp8_blockwise_scaled_mm
from kernelkit_ops.gemm.fp8_scaled_mm import fp8_scaled_mm
from kernelkit_ops.gemm.int8_scaled_mm import int8_scaled_mm
from kernelkit_ops.kvcache.concat_mla_absorb_q import concat_mla_absorb_q
from kernelkit_ops.kvcache.concat_mla_k import concat_mla_k
from kernelkit_ops.kvcache.copy_to_gpu_no_ce import copy_to_gpu_no_ce
from kernelkit_ops.kvcache.downcast_fp8 import downcast_fp8
from kernelkit_ops.kvcache.store_kv_cache import store_kv_cache
from kernelkit_ops.kvcache.transfer_kv_all_layer import transfer_kv_all_layer
from kernelkit_ops.kvcache.transfer_kv_all_layer_direct_lf_pf import transfer_kv_all_layer_direct_lf_pf
from kernelkit_ops.kvcache.transfer_kv_all_layer_lf_pf import transfer_kv_all_layer_lf_pf
from kernelkit_ops.kvcache.transfer_kv_all_layer_lf_ph import transfer_kv_all_layer_lf_ph
from kernelkit_ops.kvcache.transfer_kv_all_layer_mla import transfer_kv_all_layer_mla
from kernelkit_ops.kvcache.transfer_kv_all_layer_mla_lf_pf import transfer_kv_all_layer_mla_lf_pf
from kernelkit_ops.kvcache.transfer_kv_direct import transfer_kv_direct
from kernelkit_ops.kvcache.transfer_kv_per_layer import transfer_kv_per_layer
from kernelkit_ops.kvcache.transfer_kv_per_layer_direct_pf_lf import transfer_kv_per_layer_direct_pf_lf
from kernelkit_ops.kvcache.transfer_kv_per_layer_mla import transfer_kv_per_layer_mla
from kernelkit_ops.kvcache.transfer_kv_per_layer_mla_pf_lf import transfer_kv_per_layer_mla_pf_lf
from kernelkit_ops.kvcache.transfer_kv_per_layer_pf_lf import transfer_kv_per_layer_pf_lf
from kernelkit_ops.kvcache.transfer_kv_per_layer_ph_lf import transfer_kv_per_layer_ph_lf
from kernelkit_ops.moe.kimi_k2_moe_fused_gate import kimi_k2_moe_fused_gate
from kernelkit_ops.moe.moe_align_block_size import moe_align_block_size
from kernelkit_ops.moe.moe_fused_gate import moe_fused_gate
from kernelkit_ops.moe.moe_sum import moe_sum
from kernelkit_ops.moe.moe_sum_reduce import moe_sum_reduce
from kernelkit_ops.moe.topk_sigmoid import topk_sigmoid
from kernelkit_ops.moe.topk_softmax import topk_softmax
from kernelkit_ops.norm.fused_add_rmsnorm import fused_add_rmsnorm
from kernelkit_ops.norm.gemma_fused_add_rmsnorm import gemma_fused_add_rmsnorm
from kernelkit_ops.norm.gemma_rmsnorm import gemma_rmsnorm
from kernelkit_ops.norm.rmsnorm import rmsnorm
from kernelkit_ops.quantization.fused_add_rmsnorm_quant_fp8 import fused_add_rmsnorm_quant_fp8
from kernelkit_ops.quantization.scaled_fp4_grouped_quant import scaled_fp4_grouped_quant
from kernelkit_ops.quantization.scaled_fp4_quant import scaled_fp4_quant
from kernelkit_ops.quantization.sgl_per_tensor_quant_fp8 import sgl_per_tensor_quant_fp8
from kernelkit_ops.quantization.sgl_per_token_group_quant_8bit import sgl_per_token_group_quant_8bit
from kernelkit_ops.quantization.sgl_per_token_group_quant_fp8 import sgl_per_token_group_quant_fp8
from kernelkit_ops.quantization.sgl_per_token_group_quant_int8 import sgl_per_token_group_quant_int8
from kernelkit_ops.quantization.sgl_per_token_quant_fp8 import sgl_per_token_quant_fp8
from kernelkit_ops.quantization.silu_and_mul_scaled_fp4_grouped_quant import silu_and_mul_scaled_fp4_grouped_quant
from kernelkit_ops.rope.apply_rope_with_cos_sin_cache_inplace import apply_rope_with_cos_sin_cache_inplace
from kernelkit_ops.sampling.min_p_sampling_from_probs import min_p_sampling_from_probs
from kernelkit_ops.sampling.softmax import softmax
from kernelkit_ops.sampling.top_k_mask_logits import top_k_mask_logits
from kernelkit_ops.sampling.top_k_renorm_probs import top_k_renorm_probs
from kernelkit_ops.sampling.top_k_sampling_from_probs import top_k_sampling_from_probs
from kernelkit_ops.sampling.top_k_top_p_sampling_from_probs import top_k_top_p_sampling_from_probs
from kernelkit_ops.sampling.top_p_renorm_probs import top_p_renorm_probs
from kernelkit_ops.sampling.top_p_sampling_from_probs import top_p_sampling_from_probs

# kernelkit:exports-end
top_k_renorm_prob = top_k_renorm_probs  # sgl-kernel's aliases
top_p_renorm_prob = top_p_renorm_probs

# isort: split
# Not an op: sgl-kernel's argument of apply_rope_with_cos_sin_cache_inplace's fused KV-cache store.
from kernelkit_ops.rope.apply_rope_with_cos_sin_cache_inplace import FusedSetKVBufferArg

# isort: split
# Not ops: the host functions of the custom all-reduce, exported at the top as sgl-kernel does.
from kernelkit_ops.allreduce.all_reduce import (
    dispose,
    get_graph_buffer_ipc_meta,
    init_custom_ar,
    meta_size,
    register_buffer,
    register_graph_buffers,
)

__all__ = [
    # kernelkit:all-begin
    "all_reduce",
    "apply_rope_with_cos_sin_cache_inplace",
    "bmm_fp8",
    "concat_mla_absorb_q",
    "concat_mla_k",
    "copy_to_gpu_no_ce",
    "cutlass_scaled_fp4_mm",
    "downcast_fp8",
    "fp8_blockwise_scaled_mm",
    "fp8_scaled_mm",
    "fused_add_rmsnorm",
    "fused_add_rmsnorm_quant_fp8",
    "gelu_and_mul",
    "gelu_tanh_and_mul",
    "gemma_fused_add_rmsnorm",
    "gemma_rmsnorm",
    "int8_scaled_mm",
    "kimi_k2_moe_fused_gate",
    "merge_state",
    "merge_state_v2",
    "min_p_sampling_from_probs",
    "moe_align_block_size",
    "moe_fused_gate",
    "moe_sum",
    "moe_sum_reduce",
    "rmsnorm",
    "scaled_fp4_grouped_quant",
    "scaled_fp4_quant",
    "sgl_per_tensor_quant_fp8",
    "sgl_per_token_group_quant_8bit",
    "sgl_per_token_group_quant_fp8",
    "sgl_per_token_group_quant_int8",
    "sgl_per_token_quant_fp8",
    "silu_and_mul",
    "silu_and_mul_scaled_fp4_grouped_quant",
    "softmax",
    "store_kv_cache",
    "top_k_mask_logits",
    "top_k_renorm_probs",
    "top_k_sampling_from_probs",
    "top_k_top_p_sampling_from_probs",
    "top_p_renorm_probs",
    "top_p_sampling_from_probs",
    "topk_sigmoid",
    "topk_softmax",
    "transfer_kv_all_layer",
    "transfer_kv_all_layer_direct_lf_pf",
    "transfer_kv_all_layer_lf_pf",
    "transfer_kv_all_layer_lf_ph",
    "transfer_kv_all_layer_mla",
    "transfer_kv_all_layer_mla_lf_pf",
    "transfer_kv_direct",
    "transfer_kv_per_layer",
    "transfer_kv_per_layer_direct_pf_lf",
    "transfer_kv_per_layer_mla",
    "transfer_kv_per_layer_mla_pf_lf",
    "transfer_kv_per_layer_pf_lf",
    "transfer_kv_per_layer_ph_lf",
    # kernelkit:all-end
    "FusedSetKVBufferArg",
    "dispose",
    "get_graph_buffer_ipc_meta",
    "init_custom_ar",
    "meta_size",
    "register_buffer",
    "register_graph_buffers",
    "top_k_renorm_prob",
    "top_p_renorm_prob",
]

# Ops `kernelkit new` added since the library was built say "run kernelkit build" when called.
_library.explain_unbuilt(__name__, __all__)
