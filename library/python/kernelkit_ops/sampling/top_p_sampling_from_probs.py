"""`top_p_sampling_from_probs`: one token per row from its top-p nucleus, without sorting the vocabulary."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.sampling._common import check_nan as _check_nan
from kernelkit_ops.sampling._common import philox_seed_offset, samples_for, to_tensor_scalar_tuple


def top_p_sampling_from_probs(
    probs: torch.Tensor,
    top_p: torch.Tensor | float,
    indices: torch.Tensor | None = None,
    deterministic: bool = True,
    generator: torch.Generator | None = None,
    check_nan: bool = False,
) -> torch.Tensor:
    """Samples one token per output row from the top-p nucleus of its row of ``probs``, in proportion to them.

    Same signature as ``sgl_kernel.top_p_sampling_from_probs``. A token is kept when the values of its row strictly
    larger than it sum to less than ``top_p`` (FlashInfer's rule: tokens tied at the boundary are kept together; the
    sums are of the given values, not renormalised); zero probabilities are never drawn; ``top_p >= 1`` keeps all.

    Args:
        probs: ``[P, V]`` probabilities (converted with ``.float()``).
        top_p: a float, or a ``[P]`` tensor (one per row of ``probs``; converted with ``.float()``).
        indices: optional ``[B]`` int32/int64: output i samples row ``indices[i]``. Without it B = P.
        deterministic: accepted for compatibility; the kernel is always deterministic.
        generator: the torch CUDA generator to draw from (default: the device's default generator).
        check_nan: raise ``ValueError`` if ``probs`` holds a NaN.

    Returns:
        ``[B]`` int32 token ids.
    """
    if check_nan:
        _check_nan(probs)
    probs = probs.float()
    top_p_arr, top_p_val = to_tensor_scalar_tuple(top_p)
    top_p_arr = top_p_arr.float() if top_p_arr is not None else None
    samples = samples_for(probs, indices)
    seed, offset, rng_state = philox_seed_offset(generator, probs.device)
    torch.ops.kernelkit.top_p_sampling_from_probs.default(
        probs, samples, indices, top_p_arr, float(top_p_val), seed, offset, rng_state, pdl_default(probs, None)
    )
    return samples
