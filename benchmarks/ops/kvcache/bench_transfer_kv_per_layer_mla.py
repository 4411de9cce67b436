"""`transfer_kv_per_layer_mla` benchmark.

One layer of DeepSeek-V3's MLA latent (1152-byte items) loaded from pinned host memory, and device to device.
Kernelkit at sgl-kernel's default block_quota (2 CTAs) and at 8, vs torch moving the same bytes. Inputs, baselines
and bytes: kv_transfer_bench.py.
"""

from kv_transfer_bench import case, transfer_bench


def args(i: dict) -> list:
    c = i["case"]
    return [i["src"]["bufs"][0], i["dst"]["bufs"][0], i["si"], i["di"], c.size("item")]


BENCH = transfer_bench(
    "transfer_kv_per_layer_mla",
    [case(t, 1152, 1, d) for d in ("h2d", "d2d") for t in (64, 1024, 8192)],
    "lf",
    "lf",
    1,
    args,
)
