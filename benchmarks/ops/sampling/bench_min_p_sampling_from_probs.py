"""`min_p_sampling_from_probs` benchmark: min-p sampling, p = 0.1;
B in {1, 16, 64, 256}, V in {128256, 151936}, fp32 (sampling_bench.py)."""

from sampling_bench import MIN_P, ref_min_p_mask, ref_sample, sampling_bench


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.min_p_sampling_from_probs(i["probs"], MIN_P)


def reference(i: dict):
    return ref_sample(ref_min_p_mask(i["probs"], MIN_P))


BENCH = sampling_bench("min_p_sampling_from_probs", kernelkit_impl, reference, writes_rows=False)
