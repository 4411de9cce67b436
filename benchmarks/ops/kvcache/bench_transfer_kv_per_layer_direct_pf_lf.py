"""`transfer_kv_per_layer_direct_pf_lf` benchmark: one layer of Llama-3 8B loaded from sglang's page-first-direct
host pools by the copy engine (one 2-D copy per run of pages and buffer), vs torch moving the same bytes in one
copy_. Inputs, baselines and bytes: kv_transfer_bench.py."""

from kv_transfer_bench import PAGE, case, direct_bench


def args(i: dict) -> list:
    return [i["src"]["bufs"], i["dst"]["bufs"], i["si"], i["di"], i["case"].size("layers") - 1, PAGE]


BENCH = direct_bench(
    "transfer_kv_per_layer_direct_pf_lf", [case(t, 2048, 32, "h2d") for t in (64, 1024)], "pf_lf", args
)
