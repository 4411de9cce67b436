"""Bench definitions shared by the grouped NVFP4 quantizers (scaled_fp4_grouped_quant and its SiLU-and-mul
fusion): the masked MoE layout [experts, m, k] with T tokens dealt evenly over the experts (the first T % E
experts one more) and m = 2 * ceil(T / E) rows of room per expert, so half the rows are masked out.

Bytes (what the op must move): the valid rows' input read once (k values, or 2k for the fusion), their codes
(k / 2 bytes) and scales (round_up(k / 16, 4) bytes, padding columns included) written once, the masks and
global scales read:  T * (in_k * itemsize + k / 2 + round_up(k / 16, 4)) + E * 8.
Baselines: the op in plain torch over all l * m rows (eager and torch.compile). sgl-kernel's kernels need a
Blackwell GPU, so they are not timed here.
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, token_sweep

FP8_MAX = 448.0
E2M1_MAX = 6.0


def rows_per_expert(case: Case) -> int:
    return 2 * max(1, -(-case.tokens // case.size("experts")))


def torch_grouped_quant(x, gs, mask):
    """The op in plain torch (every row, masked or not): block max, e4m3 scale, e2m1 codes by thresholds,
    packing, each expert's 128x4 swizzle; returned as sgl-kernel's views."""
    import torch

    n_exp, m, k = x.shape
    xf = x.float().reshape(n_exp, m, k // 16, 16)
    g = gs.float().reshape(n_exp, 1, 1)
    vmax = xf.abs().nan_to_num(nan=0.0).amax(dim=-1)
    sf = (g * (vmax / E2M1_MAX)).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    sf_value = sf.float()
    inv = torch.where(sf_value == 0, torch.zeros_like(sf_value), 1.0 / (sf_value / g))
    y = xf * inv.unsqueeze(-1)
    a = y.abs()
    code = (a > 0.25).to(torch.uint8) + (a >= 0.75) + (a > 1.25) + (a >= 1.75) + (a > 2.5) + (a >= 3.5) + (a > 5.0)
    code = torch.where(torch.isnan(y), 7, code | (torch.signbit(y).to(torch.uint8) << 3)).to(torch.uint8)
    code = code.reshape(n_exp, m, k)
    packed = code[..., 0::2] | (code[..., 1::2] << 4)
    rows, cols = (m + 127) // 128 * 128, (k // 16 + 3) // 4 * 4
    padded = torch.zeros(n_exp, rows, cols, dtype=torch.uint8, device=x.device)
    padded[:, :m, : k // 16] = sf.view(torch.uint8)
    tiles = padded.reshape(n_exp, rows // 128, 4, 32, cols // 4, 4).permute(0, 1, 4, 3, 2, 5).contiguous()
    scales = tiles.view(torch.float8_e4m3fn)  # (l, rm, rk, 32, 4, 4)
    return packed.permute(1, 2, 0), scales.permute(3, 4, 1, 5, 2, 0)


def grouped_bench(op: str, *, silu_and_mul: bool, sizes: list[tuple[int, int]]) -> OpBench:
    """`sizes`: (experts, k) pairs, k the quantized width (the fused op reads 2k per row)."""
    in_factor = 2 if silu_and_mul else 1

    def make_inputs(case: Case) -> dict:
        import torch

        n_exp, k, t = case.size("experts"), case.size("hidden"), case.tokens
        m = rows_per_expert(case)
        x = torch.randn(n_exp, m, in_factor * k, device="cuda", dtype=getattr(torch, case.dtype))
        mask = torch.tensor([t // n_exp + (e < t % n_exp) for e in range(n_exp)], dtype=torch.int32, device="cuda")
        gs = torch.full((n_exp,), FP8_MAX * E2M1_MAX / 4.0, device="cuda")  # randn: amax ~4
        return {"args": (x, gs, mask)}

    def kernelkit_impl(inputs: dict):
        import kernelkit_ops

        return getattr(kernelkit_ops, op)(*inputs["args"])

    def kernelkit_no_pdl(inputs: dict):
        """The same call with enable_pdl=False: what programmatic dependent launch adds (torch.compile has none)."""
        import kernelkit_ops

        return getattr(kernelkit_ops, op)(*inputs["args"], enable_pdl=False)

    def reference(inputs: dict):
        import torch

        x, gs, mask = inputs["args"]
        if silu_and_mul:
            k = x.shape[-1] // 2
            x = (torch.nn.functional.silu(x[..., :k].float()) * x[..., k:].float()).to(x.dtype)
        return torch_grouped_quant(x, gs, mask)

    impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
    if silu_and_mul:

        def kernelkit_unfused(inputs: dict):
            """silu_and_mul, then scaled_fp4_grouped_quant: what the fusion saves (the [l, m, k] round trip)."""
            import kernelkit_ops

            x, gs, mask = inputs["args"]
            return kernelkit_ops.scaled_fp4_grouped_quant(kernelkit_ops.silu_and_mul(x), gs, mask)

        impls["kernelkit_unfused"] = kernelkit_unfused

    def bytes_moved(case: Case) -> int:
        n_exp, k, t = case.size("experts"), case.size("hidden"), case.tokens
        return t * (in_factor * k * case.itemsize + k // 2 + (k // 16 + 3) // 4 * 4) + n_exp * 8

    cases = [c for n_exp, k in sizes for c in token_sweep("bfloat16", experts=n_exp, hidden=k)]
    return OpBench(
        op=op,
        cases=cases,
        make_inputs=make_inputs,
        impls=impls,
        reference=reference,
        bytes_moved=bytes_moved,
        flops=lambda case: case.tokens * case.size("hidden") * (4 + 6 * (in_factor - 1)),
    )
