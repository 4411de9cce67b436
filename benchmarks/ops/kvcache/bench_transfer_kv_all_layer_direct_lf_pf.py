"""`transfer_kv_all_layer_direct_lf_pf` benchmark: every layer of Llama-3 8B (32) backed up into sglang's
page-first-direct host pools by the copy engine, vs torch moving the same bytes in one copy_. Inputs, baselines and
bytes: kv_transfer_bench.py."""

from kv_transfer_bench import PAGE, case, direct_bench


def args(i: dict) -> list:
    return [i["src"]["bufs"], i["dst"]["bufs"], i["si"], i["di"], PAGE]


BENCH = direct_bench("transfer_kv_all_layer_direct_lf_pf", [case(t, 2048, 32, "d2h") for t in (64, 512)], "lf_pf", args)
