"""`transfer_kv_all_layer` benchmark.

Every layer of Llama-3 8B (32) backed up to pinned host memory (sglang's layer-first backup), and device to device.
Kernelkit at sgl-kernel's default block_quota (2 CTAs) and at 8, vs torch moving the same bytes. Inputs, baselines
and bytes: kv_transfer_bench.py.
"""

from kv_transfer_bench import case, transfer_bench


def args(i: dict) -> list:
    c = i["case"]
    return [
        i["src"]["tables"][0],
        i["dst"]["tables"][0],
        i["src"]["tables"][1],
        i["dst"]["tables"][1],
        i["si"],
        i["di"],
        c.size("item"),
        c.size("layers"),
    ]


BENCH = transfer_bench(
    "transfer_kv_all_layer",
    [case(t, 2048, 32, "d2h") for t in (64, 512, 4096)] + [case(1024, 2048, 32, "d2d")],
    "tbl",
    "tbl",
    2,
    args,
)
