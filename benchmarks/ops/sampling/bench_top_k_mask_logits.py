"""`top_k_mask_logits` benchmark: top-k logit mask, k = 50;
B in {1, 16, 64, 256}, V in {128256, 151936}, fp32 (sampling_bench.py)."""

from sampling_bench import TOP_K, sampling_bench


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.top_k_mask_logits(i["logits"], TOP_K)


def reference(i: dict):
    x = i["logits"]
    return x.masked_fill(x < x.topk(TOP_K, -1).values[:, -1:], float("-inf"))


BENCH = sampling_bench("top_k_mask_logits", kernelkit_impl, reference, writes_rows=True)
