"""`top_k_mask_logits`: keep each row's top-k logits; the others -inf."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.sampling._common import to_tensor_scalar_tuple


def top_k_mask_logits(logits: torch.Tensor, top_k: torch.Tensor | int) -> torch.Tensor:
    """Per row, the logits ``>=`` its k-th largest unchanged, the others ``-inf``.

    Same signature and return as ``flashinfer.sampling.top_k_mask_logits``: ``logits [P, V]`` float32, float16 or
    bfloat16, and a new tensor of the same dtype is returned. ``top_k``: an int or a ``[P]`` tensor (converted with
    ``.int()``). Logits tied with the k-th largest are all kept; ``k <= 0`` or ``k >= V`` keeps the row.
    """
    top_k_arr, top_k_val = to_tensor_scalar_tuple(top_k)
    top_k_arr = top_k_arr.int() if top_k_arr is not None else None
    masked_logits = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
    torch.ops.kernelkit.top_k_mask_logits.default(
        logits, masked_logits, top_k_arr, int(top_k_val), pdl_default(logits, None)
    )
    return masked_logits
