"""`transfer_kv_per_layer_ph_lf` benchmark.

One layer of Llama-3 8B loaded from a page-head host pool (8 heads).
Kernelkit at sgl-kernel's default block_quota (2 CTAs) and at 8, vs torch moving the same bytes. Inputs, baselines
and bytes: kv_transfer_bench.py.
"""

from kv_transfer_bench import PAGE, case, transfer_bench


def args(i: dict) -> list:
    c = i["case"]
    return [
        i["src"]["bufs"][0],
        i["dst"]["bufs"][0],
        i["src"]["bufs"][1],
        i["dst"]["bufs"][1],
        i["si"],
        i["di"],
        c.size("layers") - 1,
        c.size("item"),
        i["src"]["layout_dim"],
        PAGE,
        8,
    ]


BENCH = transfer_bench(
    "transfer_kv_per_layer_ph_lf", [case(t, 2048, 32, "h2d") for t in (64, 1024)], "ph", "lf", 2, args
)
