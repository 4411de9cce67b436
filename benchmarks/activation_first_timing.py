"""First timing of the gated activations (Foundation issue), before `kernelkit bench` exists.

bf16, d = 14336, T in {1, 128, 2048, 16384}: kernelkit vs torch eager of the same math.
Bytes = input read once + output written once. Writes JSON + Markdown into the given folder.
Usage: python benchmarks/activation_first_timing.py OUT_DIR
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import kernelkit_ops
from kernelkit.timing import copy_ceiling_gbs, rotation_count, time_graph

D = 14336
TOKENS = [1, 128, 2048, 16384]
REFERENCES = {
    "silu_and_mul": lambda x: F.silu(x[..., :D]) * x[..., D:],
    "gelu_and_mul": lambda x: F.gelu(x[..., :D]) * x[..., D:],
    "gelu_tanh_and_mul": lambda x: F.gelu(x[..., :D], approximate="tanh") * x[..., D:],
}


def main(out_dir: Path) -> None:
    props = torch.cuda.get_device_properties(0)
    ceiling = copy_ceiling_gbs()
    rows = []
    for op, ref in REFERENCES.items():
        kk = getattr(kernelkit_ops, op)
        for t in TOKENS:
            nbytes = t * 2 * D * 2 + t * D * 2
            copies = rotation_count(nbytes, props.L2_cache_size)
            xs = [torch.randn(t, 2 * D, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
            outs = [torch.empty(t, D, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
            for impl, make in (
                ("kernelkit", lambda i: (lambda: kk(xs[i], outs[i]))),
                ("torch", lambda i: (lambda: ref(xs[i]))),
            ):
                timing = time_graph(make, copies)
                gbs = nbytes / (timing.us * 1e-6) / 1e9
                rows.append(
                    {"op": op, "tokens": t, "d": D, "dtype": "bfloat16", "impl": impl, "us": timing.us,
                     "us_p20": timing.us_p20, "us_p80": timing.us_p80, "us_min": timing.us_min,
                     "us_max": timing.us_max, "gbs": gbs, "pct_of_ceiling": 100 * gbs / ceiling, "copies": copies}
                )
            del xs, outs
    commit = os.environ.get("KERNELKIT_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    result = {
        "device": props.name,
        "driver": subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
        ).stdout.strip(),
        "cuda": torch.version.cuda,
        "torch": torch.__version__,
        "commit": commit or "unknown",
        "date": datetime.date.today().isoformat(),
        "method": "CUDA graph of >=32 calls replayed 10x, median; inputs rotated over copies > 2x L2",
        "ceilings": {"copy_gbs": ceiling},
        "rows": rows,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "activation_first_timing.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Gated activations, first timing — {result['device']}, torch {result['torch']}, {result['date']}, {result['commit']}",
        "",
        f"Copy ceiling: {ceiling:.0f} GB/s. bf16, d = {D}. µs = GPU time per call (median; p20–p80).",
        "",
        "| op | T | kernelkit µs | torch eager µs | speedup | kernelkit GB/s | % of copy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for op in REFERENCES:
        for t in TOKENS:
            k = next(r for r in rows if r["op"] == op and r["tokens"] == t and r["impl"] == "kernelkit")
            e = next(r for r in rows if r["op"] == op and r["tokens"] == t and r["impl"] == "torch")
            lines.append(
                f"| {op} | {t} | {k['us']:.2f} ({k['us_p20']:.2f}–{k['us_p80']:.2f}) | {e['us']:.2f} | "
                f"{e['us'] / k['us']:.2f}× | {k['gbs']:.0f} | {k['pct_of_ceiling']:.0f}% |"
            )
    (out_dir / "activation_first_timing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
