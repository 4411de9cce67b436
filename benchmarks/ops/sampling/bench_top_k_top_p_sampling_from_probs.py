"""`top_k_top_p_sampling_from_probs` benchmark: top-k then top-p sampling (top_k_first), k = 50, p = 0.9;
B in {1, 16, 64, 256}, V in {128256, 151936}, fp32 (sampling_bench.py)."""

from sampling_bench import TOP_K, TOP_P, ref_sample, ref_top_k_mask, ref_top_p_mask, sampling_bench


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.top_k_top_p_sampling_from_probs(i["probs"], TOP_K, TOP_P)


def reference(i: dict):
    m = ref_top_k_mask(i["probs"], TOP_K)
    return ref_sample(ref_top_p_mask(m / m.sum(-1, keepdim=True), TOP_P))


BENCH = sampling_bench("top_k_top_p_sampling_from_probs", kernelkit_impl, reference, writes_rows=False)
