"""`transfer_kv_per_layer_mla_pf_lf` benchmark.

One layer of DeepSeek-V3's latent loaded from sglang's page-first host pool (61 layers).
Kernelkit at sgl-kernel's default block_quota (2 CTAs) and at 8, vs torch moving the same bytes. Inputs, baselines
and bytes: kv_transfer_bench.py.
"""

from kv_transfer_bench import case, transfer_bench


def args(i: dict) -> list:
    c = i["case"]
    return [
        i["src"]["bufs"][0],
        i["dst"]["bufs"][0],
        i["si"],
        i["di"],
        c.size("layers") - 1,
        c.size("item"),
        i["src"]["layout_dim"],
    ]


BENCH = transfer_bench(
    "transfer_kv_per_layer_mla_pf_lf", [case(t, 1152, 61, "h2d") for t in (64, 1024)], "pf", "lf", 1, args
)
