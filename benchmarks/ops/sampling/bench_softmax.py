"""`softmax` benchmark: softmax(logits) in fp32;
B in {1, 16, 64, 256}, V in {128256, 151936}, fp32 (sampling_bench.py)."""

from sampling_bench import sampling_bench


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.softmax(i["logits"])


def reference(i: dict):
    import torch

    return torch.softmax(i["logits"], -1)


BENCH = sampling_bench("softmax", kernelkit_impl, reference, writes_rows=True)
