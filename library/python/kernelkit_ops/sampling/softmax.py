"""`softmax`: FlashInfer's online safe softmax over the vocabulary, with a scalar or per-row temperature."""

from __future__ import annotations

from numbers import Real

import torch

from kernelkit_ops._defaults import pdl_default

_KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_TEMPERATURE_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def softmax(
    logits: torch.Tensor,
    temperature: torch.Tensor | float | None = None,
    enable_pdl: bool | None = None,
) -> torch.Tensor:
    """``softmax(logits / temperature, dim=-1)`` in float32, one read and one write of ``logits``.

    Same signature as ``flashinfer.sampling.softmax``. ``logits``: ``[B, V]`` float32/float16/bfloat16 (read as is;
    other float dtypes are converted with ``.float()``). ``temperature``: None (1.0), a real scalar, or a 1-D tensor
    of B values on logits' device (float16/bfloat16/float32/float64; converted with ``.float()``); anything else
    raises ``TypeError``/``ValueError`` as FlashInfer does. ``enable_pdl``: programmatic dependent launch, None = on
    for sm_90+. Returns a new float32 ``[B, V]`` tensor.
    """
    if isinstance(temperature, torch.Tensor):
        if temperature.ndim != 1:
            raise ValueError(
                f"temperature tensor must be 1D with one value per logits row, got shape {tuple(temperature.shape)}"
            )
        if temperature.size(0) != logits.size(0):
            raise ValueError(
                f"temperature tensor length must equal logits.size(0) ({logits.size(0)}), got {temperature.size(0)}"
            )
        if temperature.device != logits.device:
            raise ValueError(
                f"temperature tensor must be on the same device as logits ({logits.device}), got {temperature.device}"
            )
        if temperature.dtype not in _TEMPERATURE_DTYPES:
            raise ValueError(
                f"temperature tensor must have dtype float16, bfloat16, float32, or float64, got {temperature.dtype}"
            )
        temperature_arr, temperature_val = temperature.float(), 0.0
    elif temperature is None:
        temperature_arr, temperature_val = None, 1.0
    elif isinstance(temperature, bool) or not isinstance(temperature, Real):
        raise TypeError(
            "temperature must be None, a real scalar, or a 1D floating-point tensor with one value per logits row"
        )
    else:
        temperature_arr, temperature_val = None, float(temperature)
    if logits.dtype not in _KERNEL_DTYPES:
        logits = logits.float()
    probs = torch.empty(logits.shape, dtype=torch.float32, device=logits.device)
    torch.ops.kernelkit.softmax.default(
        logits, probs, temperature_arr, temperature_val, pdl_default(logits, enable_pdl)
    )
    return probs
