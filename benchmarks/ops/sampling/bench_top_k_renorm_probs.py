"""`top_k_renorm_probs` benchmark: top-k renormalisation, k = 50;
B in {1, 16, 64, 256}, V in {128256, 151936}, fp32 (sampling_bench.py)."""

from sampling_bench import TOP_K, ref_top_k_mask, sampling_bench


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.top_k_renorm_probs(i["probs"], TOP_K)


def reference(i: dict):
    m = ref_top_k_mask(i["probs"], TOP_K)
    return m / m.sum(-1, keepdim=True)


BENCH = sampling_bench("top_k_renorm_probs", kernelkit_impl, reference, writes_rows=True)
