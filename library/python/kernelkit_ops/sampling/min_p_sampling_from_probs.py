"""`min_p_sampling_from_probs`: one token per row from the values >= min_p times the row's max."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.sampling._common import check_nan as _check_nan
from kernelkit_ops.sampling._common import philox_seed_offset, samples_for, to_tensor_scalar_tuple


def min_p_sampling_from_probs(
    probs: torch.Tensor,
    min_p: torch.Tensor | float,
    indices: torch.Tensor | None = None,
    deterministic: bool = True,
    generator: torch.Generator | None = None,
    check_nan: bool = False,
) -> torch.Tensor:
    """Samples one token per output row from the values ``>= min_p * max(row)``, in proportion to them.

    Same signature as ``sgl_kernel.min_p_sampling_from_probs`` (`min-p sampling <https://arxiv.org/abs/2407.01082>`_).
    The threshold is the fp32 product ``max * min_p`` and values equal to it are kept (FlashInfer's rule); zero
    probabilities are never drawn.

    Args:
        probs: ``[P, V]`` probabilities (converted with ``.float()``).
        min_p: a float, or a ``[P]`` tensor (one per row of ``probs``; converted with ``.float()``).
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
    min_p_arr, min_p_val = to_tensor_scalar_tuple(min_p)
    min_p_arr = min_p_arr.float() if min_p_arr is not None else None
    samples = samples_for(probs, indices)
    seed, offset, rng_state = philox_seed_offset(generator, probs.device)
    torch.ops.kernelkit.min_p_sampling_from_probs.default(
        probs, samples, indices, min_p_arr, float(min_p_val), seed, offset, rng_state, pdl_default(probs, None)
    )
    return samples
