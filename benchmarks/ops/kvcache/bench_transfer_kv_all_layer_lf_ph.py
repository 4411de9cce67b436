"""`transfer_kv_all_layer_lf_ph` benchmark.

Every layer of Llama-3 8B backed up into a page-head host pool (8 heads).
Kernelkit at sgl-kernel's default block_quota (2 CTAs) and at 8, vs torch moving the same bytes. Inputs, baselines
and bytes: kv_transfer_bench.py.
"""

from kv_transfer_bench import PAGE, case, transfer_bench


def args(i: dict) -> list:
    c = i["case"]
    return [
        i["src"]["tables"][0],
        i["dst"]["bufs"][0],
        i["src"]["tables"][1],
        i["dst"]["bufs"][1],
        i["si"],
        i["di"],
        c.size("item"),
        i["dst"]["layout_dim"],
        c.size("layers"),
        PAGE,
        8,
    ]


BENCH = transfer_bench(
    "transfer_kv_all_layer_lf_ph", [case(t, 2048, 32, "d2h") for t in (64, 512)], "tbl", "ph", 2, args
)
