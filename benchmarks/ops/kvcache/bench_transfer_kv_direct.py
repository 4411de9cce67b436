"""`transfer_kv_direct` benchmark: one layer's K and V of Llama-3 8B (2 KiB items) loaded from pinned host memory by
the copy engine (sglang's direct layer-first load: one copy per run of pages and buffer), vs torch moving the same
bytes in one copy_. Inputs, baselines and bytes: kv_transfer_bench.py."""

from kv_transfer_bench import PAGE, case, direct_bench


def args(i: dict) -> list:
    return [i["src"]["bufs"], i["dst"]["bufs"], i["si"], i["di"], PAGE]


BENCH = direct_bench("transfer_kv_direct", [case(t, 2048, 1, "h2d") for t in (64, 1024, 8192)], "lf", args)
