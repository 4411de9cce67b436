"""`top_k_top_p_sampling_from_probs`: one token per row after a top-k and a top-p filter, in one kernel."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.sampling._common import check_nan as _check_nan
from kernelkit_ops.sampling._common import philox_seed_offset, samples_for, to_tensor_scalar_tuple


def top_k_top_p_sampling_from_probs(
    probs: torch.Tensor,
    top_k: torch.Tensor | int,
    top_p: torch.Tensor | float,
    indices: torch.Tensor | None = None,
    filter_apply_order: str = "top_k_first",
    deterministic: bool = True,
    generator: torch.Generator | None = None,
    check_nan: bool = False,
) -> torch.Tensor:
    """Samples one token per output row after filtering its row of ``probs`` by top-k and top-p.

    Same signature as ``sgl_kernel.top_k_top_p_sampling_from_probs``. ``filter_apply_order``:

    * ``"top_k_first"``: the top-k values (ties at the k-th kept), renormalised, then their top-p nucleus -- what
      sgl-kernel computes as ``top_k_renorm_probs`` followed by ``top_p_sampling_from_probs``, here in one kernel;
    * ``"joint"``: the tokens that pass both filters on the raw row (fewer than k values strictly larger, and those
      sum to less than ``top_p``).

    Anything else raises ``ValueError``. Thresholds are scalars or ``[P]`` tensors (one per row of ``probs``); see
    ``top_k_sampling_from_probs`` and ``top_p_sampling_from_probs`` for the rules and the other arguments.

    Returns:
        ``[B]`` int32 token ids.
    """
    if filter_apply_order not in ("top_k_first", "joint"):
        raise ValueError(f"Invalid filter_apply_order: {filter_apply_order}")
    if check_nan:
        _check_nan(probs)
    probs = probs.float()
    top_k_arr, top_k_val = to_tensor_scalar_tuple(top_k)
    top_k_arr = top_k_arr.int() if top_k_arr is not None else None
    top_p_arr, top_p_val = to_tensor_scalar_tuple(top_p)
    top_p_arr = top_p_arr.float() if top_p_arr is not None else None
    samples = samples_for(probs, indices)
    seed, offset, rng_state = philox_seed_offset(generator, probs.device)
    torch.ops.kernelkit.top_k_top_p_sampling_from_probs.default(
        probs,
        samples,
        indices,
        top_k_arr,
        int(top_k_val),
        top_p_arr,
        float(top_p_val),
        filter_apply_order == "joint",
        seed,
        offset,
        rng_state,
        pdl_default(probs, None),
    )
    return samples
