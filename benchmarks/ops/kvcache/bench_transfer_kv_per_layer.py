"""`transfer_kv_per_layer` benchmark.

One layer's K and V of Llama-3 8B (2 KiB items) loaded from pinned host memory (sglang's layer-first load),
and device to device.
Kernelkit at sgl-kernel's default block_quota (2 CTAs) and at 8, vs torch moving the same bytes. Inputs, baselines
and bytes: kv_transfer_bench.py.
"""

from kv_transfer_bench import case, transfer_bench


def args(i: dict) -> list:
    c = i["case"]
    return [
        i["src"]["bufs"][0],
        i["dst"]["bufs"][0],
        i["src"]["bufs"][1],
        i["dst"]["bufs"][1],
        i["si"],
        i["di"],
        c.size("item"),
    ]


BENCH = transfer_bench(
    "transfer_kv_per_layer",
    [case(t, 2048, 1, d) for d in ("h2d", "d2d") for t in (64, 1024, 8192)],
    "lf",
    "lf",
    2,
    args,
)
