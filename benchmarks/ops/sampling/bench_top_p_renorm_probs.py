"""`top_p_renorm_probs` benchmark: top-p renormalisation, p = 0.9;
B in {1, 16, 64, 256}, V in {128256, 151936}, fp32 (sampling_bench.py)."""

from sampling_bench import TOP_P, ref_top_p_mask, sampling_bench


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.top_p_renorm_probs(i["probs"], TOP_P)


def reference(i: dict):
    m = ref_top_p_mask(i["probs"], TOP_P)
    return m / m.sum(-1, keepdim=True)


BENCH = sampling_bench("top_p_renorm_probs", kernelkit_impl, reference, writes_rows=True)
