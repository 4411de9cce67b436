"""kernelkit_ops: LLM-inference CUDA kernels as torch ops (``torch.ops.kernelkit.*``).

A drop-in for sgl-kernel's Python API: ``import kernelkit_ops as sgl_kernel``.
"""

from kernelkit_ops import _library

__version__ = "0.1.0"  # kept equal to the project version by `kernelkit release`

LIBRARY_PATH = _library.load()
fp4_enabled = _library.fp4_enabled  # whether the FP4 kernels are built (`kernelkit build --fp4`)

# kernelkit:exports-begin
from kernelkit_ops.activation.gelu_and_mul import gelu_and_mul
from kernelkit_ops.activation.gelu_tanh_and_mul import gelu_tanh_and_mul
from kernelkit_ops.activation.silu_and_mul import silu_and_mul
from kernelkit_ops.norm.fused_add_rmsnorm import fused_add_rmsnorm
from kernelkit_ops.norm.gemma_fused_add_rmsnorm import gemma_fused_add_rmsnorm
from kernelkit_ops.norm.gemma_rmsnorm import gemma_rmsnorm
from kernelkit_ops.norm.rmsnorm import rmsnorm
from kernelkit_ops.quantization.fused_add_rmsnorm_quant_fp8 import fused_add_rmsnorm_quant_fp8
from kernelkit_ops.quantization.scaled_fp4_quant import scaled_fp4_quant
from kernelkit_ops.quantization.sgl_per_tensor_quant_fp8 import sgl_per_tensor_quant_fp8
from kernelkit_ops.quantization.sgl_per_token_group_quant_fp8 import sgl_per_token_group_quant_fp8
from kernelkit_ops.quantization.sgl_per_token_group_quant_int8 import sgl_per_token_group_quant_int8
from kernelkit_ops.quantization.sgl_per_token_quant_fp8 import sgl_per_token_quant_fp8
from kernelkit_ops.rope.apply_rope_with_cos_sin_cache_inplace import apply_rope_with_cos_sin_cache_inplace

# kernelkit:exports-end

__all__ = [
    # kernelkit:all-begin
    "apply_rope_with_cos_sin_cache_inplace",
    "fused_add_rmsnorm",
    "fused_add_rmsnorm_quant_fp8",
    "gelu_and_mul",
    "gelu_tanh_and_mul",
    "gemma_fused_add_rmsnorm",
    "gemma_rmsnorm",
    "rmsnorm",
    "scaled_fp4_quant",
    "sgl_per_tensor_quant_fp8",
    "sgl_per_token_group_quant_fp8",
    "sgl_per_token_group_quant_int8",
    "sgl_per_token_quant_fp8",
    "silu_and_mul",
    # kernelkit:all-end
]

# Ops `kernelkit new` added since the library was built say "run kernelkit build" when called.
_library.explain_unbuilt(__name__, __all__)
