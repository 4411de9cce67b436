"""`top_k_sampling_from_probs`: one token per row from its top-k probabilities, without sorting the vocabulary."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.sampling._common import check_nan as _check_nan
from kernelkit_ops.sampling._common import philox_seed_offset, samples_for, to_tensor_scalar_tuple


def top_k_sampling_from_probs(
    probs: torch.Tensor,
    top_k: torch.Tensor | int,
    indices: torch.Tensor | None = None,
    deterministic: bool = True,
    generator: torch.Generator | None = None,
    check_nan: bool = False,
) -> torch.Tensor:
    """Samples one token per output row from the top-k values of its row of ``probs``, in proportion to them.

    Same signature as ``flashinfer.sampling.top_k_sampling_from_probs`` / ``sgl_kernel.top_k_sampling_from_probs``
    (without FlashInfer's ``seed``/``offset``/``return_valid``). A token is kept when fewer than k values of its row
    are strictly larger (values tied with the k-th largest are all kept, FlashInfer's rule); zero probabilities are
    never drawn. ``k <= 0`` or ``k >= V`` keeps the whole row.

    Args:
        probs: ``[P, V]`` probabilities (converted with ``.float()``), rows need not sum to 1.
        top_k: an int, or a ``[P]`` tensor (one k per row of ``probs``; converted with ``.int()``).
        indices: optional ``[B]`` int32/int64: output i samples row ``indices[i]`` (per-row thresholds follow the
            probs row). Without it B = P.
        deterministic: accepted for compatibility; the kernel is always deterministic.
        generator: the torch CUDA generator to draw from (default: the device's default generator).
        check_nan: raise ``ValueError`` if ``probs`` holds a NaN (synchronises, as upstream).

    Returns:
        ``[B]`` int32 token ids.
    """
    if check_nan:
        _check_nan(probs)
    probs = probs.float()
    top_k_arr, top_k_val = to_tensor_scalar_tuple(top_k)
    top_k_arr = top_k_arr.int() if top_k_arr is not None else None
    samples = samples_for(probs, indices)
    seed, offset, rng_state = philox_seed_offset(generator, probs.device)
    torch.ops.kernelkit.top_k_sampling_from_probs.default(
        probs, samples, indices, top_k_arr, int(top_k_val), seed, offset, rng_state, pdl_default(probs, None)
    )
    return samples
