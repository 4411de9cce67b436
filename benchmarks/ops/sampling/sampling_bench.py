"""What the sampling benches share: B in {1, 16, 64, 256} x V in {128256, 151936} fp32 rows (issue 23's cases),
softmax-shaped probabilities, and plain-torch references (sort-based top-p, topk, masks, torch.multinomial) timed
eager and under torch.compile. Bytes: the samplers read probs once (B*V*4, the floor); the row ops also write B*V*4.
FlashInfer's own kernels are compared side by side by tools/peer (peer_bench.py --ops sampling)."""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed

BATCHES = (1, 16, 64, 256)
VOCABS = (128256, 151936)
TOP_K, TOP_P, MIN_P = 50, 0.9, 0.1


def cases() -> list[Case]:
    return [Case(tokens=b, dtype="float32", shape=(("vocab", v),)) for v in VOCABS for b in BATCHES]


def make_probs(case: Case) -> dict:
    import torch

    logits = torch.randn(case.tokens, case.size("vocab"), device="cuda") * 3
    return {"probs": torch.softmax(logits, -1), "logits": logits}


def ref_top_k_mask(probs, k):
    import torch

    kth = probs.topk(k, dim=-1).values[:, -1:]
    return torch.where(probs >= kth, probs, torch.zeros_like(probs))


def ref_top_p_mask(probs, p):
    import torch

    sorted_p, idx = probs.sort(dim=-1, descending=True)
    above = sorted_p.cumsum(-1) - sorted_p  # mass strictly before each sorted entry
    keep_sorted = above < p
    keep = torch.zeros_like(keep_sorted).scatter(-1, idx, keep_sorted)
    return torch.where(keep, probs, torch.zeros_like(probs))


def ref_min_p_mask(probs, p):
    import torch

    return torch.where(probs >= probs.amax(-1, keepdim=True) * p, probs, torch.zeros_like(probs))


def ref_sample(masked):
    import torch

    return torch.multinomial(masked, 1).squeeze(-1).int()


def sampling_bench(op: str, call: Callable, reference: Callable, writes_rows: bool) -> OpBench:
    impls: dict[str, Callable] = {"kernelkit": call}
    if installed("flashinfer"):

        def flashinfer_impl(i: dict):
            import flashinfer.sampling as fs

            return FLASHINFER[op](fs, i)

        impls["flashinfer"] = flashinfer_impl
    return OpBench(
        op=op,
        cases=cases(),
        make_inputs=make_probs,
        impls=impls,
        reference=reference,
        bytes_moved=lambda c: c.tokens * c.size("vocab") * 4 * (2 if writes_rows else 1),
    )


FLASHINFER = {
    "softmax": lambda fs, i: fs.softmax(i["logits"]),
    "top_k_renorm_probs": lambda fs, i: fs.top_k_renorm_probs(i["probs"], TOP_K),
    "top_p_renorm_probs": lambda fs, i: fs.top_p_renorm_probs(i["probs"], TOP_P),
    "top_k_mask_logits": lambda fs, i: fs.top_k_mask_logits(i["logits"], TOP_K),
    "top_k_sampling_from_probs": lambda fs, i: fs.top_k_sampling_from_probs(i["probs"], TOP_K),
    "top_p_sampling_from_probs": lambda fs, i: fs.top_p_sampling_from_probs(i["probs"], TOP_P),
    "min_p_sampling_from_probs": lambda fs, i: fs.min_p_sampling_from_probs(i["probs"], MIN_P),
    "top_k_top_p_sampling_from_probs": lambda fs, i: fs.top_k_top_p_sampling_from_probs(i["probs"], TOP_K, TOP_P),
}
