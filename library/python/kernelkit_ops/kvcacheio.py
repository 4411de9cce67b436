"""Stand-in for sgl-kernel's ``sgl_kernel.kvcacheio`` module: the KV-cache transfers under the names code written
for it imports (``from sgl_kernel.kvcacheio import transfer_kv_per_layer, ...``)."""

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

__all__ = [
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
]
