"""`top_k_renorm_probs`: keep each row's top-k probabilities, renormalised; the others 0."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.sampling._common import to_tensor_scalar_tuple


def top_k_renorm_probs(probs: torch.Tensor, top_k: torch.Tensor | int) -> torch.Tensor:
    """Per row, the values ``>=`` its k-th largest divided by their sum (at least 1e-8), the others 0.

    Same signature and return as ``sgl_kernel.top_k_renorm_probs``: ``probs [P, V]`` is converted with ``.float()``
    and a new float32 ``[P, V]`` tensor is returned. ``top_k``: an int or a ``[P]`` tensor (converted with
    ``.int()``). Values tied with the k-th largest are all kept (FlashInfer's pivot rule); ``k <= 0`` or ``k >= V``
    keeps the row (renormalised).
    """
    probs = probs.float()
    top_k_arr, top_k_val = to_tensor_scalar_tuple(top_k)
    top_k_arr = top_k_arr.int() if top_k_arr is not None else None
    renorm_probs = torch.empty(probs.shape, dtype=torch.float32, device=probs.device)
    torch.ops.kernelkit.top_k_renorm_probs.default(
        probs, renorm_probs, top_k_arr, int(top_k_val), pdl_default(probs, None)
    )
    return renorm_probs


top_k_renorm_prob = top_k_renorm_probs  # sgl-kernel's alias
