"""`top_p_renorm_probs`: keep each row's top-p nucleus, renormalised; the others 0."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.sampling._common import to_tensor_scalar_tuple


def top_p_renorm_probs(probs: torch.Tensor, top_p: torch.Tensor | float) -> torch.Tensor:
    """Per row, the nucleus (values whose strictly-larger values sum to less than ``top_p``) divided by its sum (at
    least 1e-8), the others 0.

    Same signature and return as ``sgl_kernel.top_p_renorm_probs``: ``probs [P, V]`` is converted with ``.float()``
    and a new float32 ``[P, V]`` tensor is returned. ``top_p``: a float or a ``[P]`` tensor (converted with
    ``.float()``); ``top_p >= 1`` keeps the row (renormalised). Values tied at the boundary are kept together.
    """
    probs = probs.float()
    top_p_arr, top_p_val = to_tensor_scalar_tuple(top_p)
    top_p_arr = top_p_arr.float() if top_p_arr is not None else None
    renorm_probs = torch.empty(probs.shape, dtype=torch.float32, device=probs.device)
    torch.ops.kernelkit.top_p_renorm_probs.default(
        probs, renorm_probs, top_p_arr, float(top_p_val), pdl_default(probs, None)
    )
    return renorm_probs


top_p_renorm_prob = top_p_renorm_probs  # sgl-kernel's alias
