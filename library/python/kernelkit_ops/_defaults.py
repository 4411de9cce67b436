"""Defaults the wrappers fill in before calling the torch op; the C++ binding validates everything else."""

from __future__ import annotations

import torch

# Whether programmatic dependent launch is on by default, per device index (-1: a tensor on no CUDA
# device, e.g. a CPU tensor on its way to the binding's refusal). torch.cuda.get_device_capability
# takes several µs per call, as much as the rest of a wrapper; a dict lookup takes tens of ns.
_PDL_BY_DEVICE: dict[int, bool] = {-1: False}


def pdl_default(x: torch.Tensor, enable_pdl: bool | None) -> bool:
    """sgl-kernel's default: programmatic dependent launch wherever the GPU has it (sm_90+)."""
    if enable_pdl is not None:
        return bool(enable_pdl)
    index = x.get_device()
    pdl = _PDL_BY_DEVICE.get(index)
    return _probe_pdl(index) if pdl is None else pdl


def _probe_pdl(index: int) -> bool:
    """The capability behind pdl_default, asked once per device."""
    # Fake CUDA tensors on a machine without a GPU (FakeTensorMode, tracing) have no capability to ask.
    if index < 0 or not torch.cuda.is_available():
        return False
    pdl = torch.cuda.get_device_capability(index)[0] >= 9
    if not torch.compiler.is_compiling():  # a traced call leaves the cache to eager ones
        _PDL_BY_DEVICE[index] = pdl
    return pdl
