"""`top_p_sampling_from_probs` benchmark: top-p sampling, p = 0.9;
B in {1, 16, 64, 256}, V in {128256, 151936}, fp32 (sampling_bench.py)."""

from sampling_bench import TOP_P, ref_sample, ref_top_p_mask, sampling_bench


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.top_p_sampling_from_probs(i["probs"], TOP_P)


def reference(i: dict):
    return ref_sample(ref_top_p_mask(i["probs"], TOP_P))


BENCH = sampling_bench("top_p_sampling_from_probs", kernelkit_impl, reference, writes_rows=False)
