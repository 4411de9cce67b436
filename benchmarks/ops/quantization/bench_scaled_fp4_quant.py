"""scaled_fp4_quant benchmark (FP4 builds only): kernelkit vs a PyTorch reference (eager and torch.compile).

Bytes: the input read once (2 bytes per value), the packed e2m1 values written (1/2 byte per value), the
padded swizzled scale tensor written (one byte per 16 values, rows padded to 128, blocks to 4), the
global scale read. hidden 4096 and 7168, bf16, T in {1, 128, 2048, 16384}. sgl-kernel's version needs
a Blackwell GPU, so it is not timed here.
"""

from __future__ import annotations

from kernelkit.benchspec import Case, OpBench, token_sweep

FP8_MAX = 448.0
E2M1_MAX = 6.0


def make_inputs(case: Case) -> dict:
    import torch

    x = torch.randn(case.tokens, case.size("hidden"), device="cuda", dtype=getattr(torch, case.dtype))
    gs = (FP8_MAX * E2M1_MAX / x.float().abs().amax()).reshape(1)
    return {"input": x, "global_scale": gs}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.scaled_fp4_quant(inputs["input"], inputs["global_scale"])


def kernelkit_no_pdl(inputs: dict):
    """The same call with enable_pdl=False: what programmatic dependent launch adds (torch.compile has none)."""
    import kernelkit_ops

    return kernelkit_ops.scaled_fp4_quant(inputs["input"], inputs["global_scale"], enable_pdl=False)


def reference(inputs: dict):
    """The op in plain torch: block max, e4m3 scale, e2m1 codes by thresholds, packing, 128x4 swizzle."""
    import torch

    x, gs = inputs["input"], inputs["global_scale"]
    m, n = x.shape
    xf = x.float().reshape(m, n // 16, 16)
    vmax = xf.abs().nan_to_num(nan=0.0).amax(dim=-1)
    sf = (gs * (vmax / E2M1_MAX)).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    sf_value = sf.float()
    inv = torch.where(sf_value == 0, torch.zeros_like(sf_value), 1.0 / (sf_value / gs))
    y = xf * inv.unsqueeze(-1)
    a = y.abs()
    code = (a > 0.25).to(torch.uint8) + (a >= 0.75) + (a > 1.25) + (a >= 1.75) + (a > 2.5) + (a >= 3.5) + (a > 5.0)
    code = torch.where(torch.isnan(y), 7, code | (torch.signbit(y).to(torch.uint8) << 3)).to(torch.uint8).reshape(m, n)
    packed = code[:, 0::2] | (code[:, 1::2] << 4)
    rows, cols = (m + 127) // 128 * 128, (n // 16 + 3) // 4 * 4
    padded = torch.zeros(rows, cols, dtype=torch.uint8, device=x.device)
    padded[:m, : n // 16] = sf.view(torch.uint8)
    swizzled = padded.reshape(rows // 128, 4, 32, cols // 4, 4).permute(0, 3, 2, 1, 4).reshape(rows, cols)
    return packed, swizzled.view(torch.float8_e4m3fn)


def bytes_moved(case: Case) -> int:
    t, h = case.tokens, case.size("hidden")
    scales = (t + 127) // 128 * 128 * ((h // 16 + 3) // 4 * 4)
    return t * h * case.itemsize + t * h // 2 + scales + 4


BENCH = OpBench(
    op="scaled_fp4_quant",
    cases=token_sweep("bfloat16", hidden=4096) + token_sweep("bfloat16", hidden=7168),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl},
    reference=reference,
    bytes_moved=bytes_moved,
    flops=lambda case: case.tokens * case.size("hidden") * 4,  # abs/max, scale, convert: a few per value
)
