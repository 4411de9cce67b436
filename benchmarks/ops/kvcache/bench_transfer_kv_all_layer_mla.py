"""`transfer_kv_all_layer_mla` benchmark.

Every layer of DeepSeek-V3's latent (61) backed up to pinned host memory.
Kernelkit at sgl-kernel's default block_quota (2 CTAs) and at 8, vs torch moving the same bytes. Inputs, baselines
and bytes: kv_transfer_bench.py.
"""

from kv_transfer_bench import case, transfer_bench


def args(i: dict) -> list:
    c = i["case"]
    return [i["src"]["tables"][0], i["dst"]["tables"][0], i["si"], i["di"], c.size("item"), c.size("layers")]


BENCH = transfer_bench(
    "transfer_kv_all_layer_mla", [case(t, 1152, 61, "d2h") for t in (64, 512, 4096)], "tbl", "tbl", 1, args
)
