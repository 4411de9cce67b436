"""Drop-in compatibility of the sampling ops: the signatures of sgl-kernel's `sgl_kernel/sampling.py` (newest, with
`indices`, `generator`, `check_nan`) and of FlashInfer's `flashinfer/sampling.py` for the ops sgl-kernel takes from it
(`top_k_sampling_from_probs`, `top_k_mask_logits`, `softmax`), written out here as literals; the aliases; the errors
upstream raises; and (GPU) the worked examples of FlashInfer's docstrings. Self-contained: neither library is needed."""

from __future__ import annotations

import inspect

import kernelkit_ops as sgl_kernel
import pytest
import torch

_E = inspect.Parameter.empty
# name -> [(parameter, default)], from upstream's source (sgl-kernel sampling.py; FlashInfer 0.7.2 sampling.py without
# its seed/offset/return_valid extras).
SIGNATURES = {
    "top_k_renorm_probs": [("probs", _E), ("top_k", _E)],
    "top_p_renorm_probs": [("probs", _E), ("top_p", _E)],
    "top_p_sampling_from_probs": [("probs", _E), ("top_p", _E), ("indices", None), ("deterministic", True),
                                  ("generator", None), ("check_nan", False)],
    "top_k_top_p_sampling_from_probs": [("probs", _E), ("top_k", _E), ("top_p", _E), ("indices", None),
                                        ("filter_apply_order", "top_k_first"), ("deterministic", True),
                                        ("generator", None), ("check_nan", False)],
    "min_p_sampling_from_probs": [("probs", _E), ("min_p", _E), ("indices", None), ("deterministic", True),
                                  ("generator", None), ("check_nan", False)],
    "top_k_sampling_from_probs": [("probs", _E), ("top_k", _E), ("indices", None), ("deterministic", True),
                                  ("generator", None), ("check_nan", False)],
    "top_k_mask_logits": [("logits", _E), ("top_k", _E)],
    "softmax": [("logits", _E), ("temperature", None), ("enable_pdl", None)],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature(name):
    params = inspect.signature(getattr(sgl_kernel, name)).parameters
    assert [(p.name, p.default) for p in params.values()] == SIGNATURES[name]
    assert all(p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params.values())


def test_aliases():
    assert sgl_kernel.top_k_renorm_prob is sgl_kernel.top_k_renorm_probs
    assert sgl_kernel.top_p_renorm_prob is sgl_kernel.top_p_renorm_probs


def test_errors_raised_before_the_kernel():
    probs = torch.rand(2, 8)
    with pytest.raises(ValueError, match="Invalid filter_apply_order: bogus"):
        sgl_kernel.top_k_top_p_sampling_from_probs(probs, 2, 0.5, filter_apply_order="bogus")
    probs[0, 3] = float("nan")
    for fn, thr in ((sgl_kernel.top_p_sampling_from_probs, 0.5), (sgl_kernel.top_k_sampling_from_probs, 2),
                    (sgl_kernel.min_p_sampling_from_probs, 0.1)):  # fmt: skip
        with pytest.raises(ValueError, match="Input probs contains NaN."):
            fn(probs, thr, check_nan=True)
    for order in ("top_k_first", "joint"):
        with pytest.raises(ValueError, match="Input probs contains NaN."):
            sgl_kernel.top_k_top_p_sampling_from_probs(probs, 2, 0.5, filter_apply_order=order, check_nan=True)


# FlashInfer's docstring examples (values printed to 4 decimals there).
NORM_PROB = [[0.2499, 0.2592, 0.1085, 0.2718, 0.1106], [0.2205, 0.0942, 0.2912, 0.3452, 0.0489],
             [0.2522, 0.1602, 0.2346, 0.1532, 0.2000], [0.1543, 0.3182, 0.2062, 0.0958, 0.2255]]  # fmt: skip
RENORM_K3 = [[0.3201, 0.3319, 0.0000, 0.3480, 0.0000], [0.2573, 0.0000, 0.3398, 0.4028, 0.0000],
             [0.3672, 0.0000, 0.3416, 0.0000, 0.2912], [0.0000, 0.4243, 0.2750, 0.0000, 0.3007]]  # fmt: skip
LOGITS = [[1.9269, 1.4873, 0.9007, -2.1055, -0.7581], [1.0783, 0.8008, 1.6806, 0.3559, -0.6866],
          [-0.4934, 0.2415, -0.2316, 0.0418, -0.2516], [0.8599, -0.3097, -0.3957, 0.8034, -0.6216]]  # fmt: skip
SOFTMAX_IN = [[0.8823, 0.9150, 0.3829, 0.9593, 0.3904], [0.6009, 0.2566, 0.7936, 0.9408, 0.1332],
              [0.9346, 0.5936, 0.8694, 0.5677, 0.7411], [0.4294, 0.8854, 0.5739, 0.2666, 0.6274]]  # fmt: skip
SOFTMAX_OUT = [[0.2309, 0.2385, 0.1401, 0.2493, 0.1412], [0.2019, 0.1431, 0.2448, 0.2837, 0.1265],
               [0.2401, 0.1707, 0.2249, 0.1664, 0.1979], [0.1724, 0.2719, 0.1991, 0.1465, 0.2101]]  # fmt: skip


@pytest.mark.gpu
def test_flashinfer_docstring_examples():
    probs = torch.tensor(NORM_PROB, device="cuda")
    torch.testing.assert_close(sgl_kernel.top_k_renorm_probs(probs, 3).cpu(), torch.tensor(RENORM_K3), atol=2e-4,
                               rtol=0)  # fmt: skip
    # top_k = 1: the argmax of each row, whatever the draw.
    assert sgl_kernel.top_k_sampling_from_probs(probs, 1).tolist() == [3, 3, 0, 1]
    logits = torch.tensor(LOGITS, device="cuda")
    masked = sgl_kernel.top_k_mask_logits(logits, 3).cpu()
    keep = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 0, 1, 0]], dtype=torch.bool)
    assert torch.equal(masked, torch.where(keep, logits.cpu(), torch.tensor(float("-inf"))))
    out = sgl_kernel.softmax(torch.tensor(SOFTMAX_IN, device="cuda"), temperature=1.0)
    torch.testing.assert_close(out.cpu(), torch.tensor(SOFTMAX_OUT), atol=2e-4, rtol=0)


@pytest.mark.gpu
def test_return_conventions():
    probs = torch.softmax(torch.randn(6, 100, device="cuda"), -1)
    for s in (sgl_kernel.top_k_sampling_from_probs(probs, 5), sgl_kernel.top_p_sampling_from_probs(probs, 0.9),
              sgl_kernel.min_p_sampling_from_probs(probs, 0.1),
              sgl_kernel.top_k_top_p_sampling_from_probs(probs, 5, 0.9)):  # fmt: skip
        assert s.dtype == torch.int32 and s.shape == (6,)
    idx = torch.tensor([0, 0, 5], device="cuda")
    assert sgl_kernel.top_p_sampling_from_probs(probs, 0.9, indices=idx).shape == (3,)
    half = probs.half()
    assert sgl_kernel.top_k_renorm_probs(half, 5).dtype == torch.float32  # probs.float(), as sgl-kernel
    assert sgl_kernel.top_k_mask_logits(half, 5).dtype == torch.float16  # FlashInfer keeps the dtype
    assert sgl_kernel.softmax(half).dtype == torch.float32
