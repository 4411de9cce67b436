"""tools/transfer_overlap.py on a machine without a GPU: it parses its arguments, refuses in one line, and renders
its table from given numbers (the measurement itself needs the GPU machine)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tool_scripts import load_tool, run_tool

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "transfer_overlap.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return run_tool(SCRIPT.name, *args)


@pytest.fixture(scope="module")
def script():
    return load_tool(SCRIPT.name)


def test_without_a_gpu_it_refuses_in_one_line():
    out = run_script("--tokens", "16")
    assert out.returncode == 2
    assert out.stderr.strip() == "transfer_overlap: needs a CUDA GPU (none visible to torch)"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--quotas", "2,x"], "comma-separated integers"), (["--tokens", "0"], "must be positive"),
     (["--quotas", "2,0"], "must be positive")],
)  # fmt: skip
def test_bad_arguments_are_refused_by_name(args, message):
    out = run_script(*args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_the_table_reads_bandwidth_share_and_slowdown(script):
    moved = 2 * 1000 * 2048
    result = {
        "device": "GPU",
        "sms": 132,
        "torch": "2.11",
        "tokens": 1000,
        "item_size": 2048,
        "bytes": moved,
        "compute_alone_ms": 10.0,
        "directions": {
            "h2d": {
                "link_ms": 1.0,
                "link_gbs": moved / 1.0 / 1e6,
                "rows": [
                    {"block_quota": 2, "alone_ms": 1.25, "alone_gbs": moved / 1.25 / 1e6, "alone_pct_of_link": 80.0,
                     "together_ms": 1.3, "together_gbs": moved / 1.3 / 1e6, "compute_with_ms": 10.5,
                     "compute_slowdown_pct": 5.0},
                ],
            }
        },
    }  # fmt: skip
    text = script.table(result)
    assert "GPU (132 SMs), torch 2.11: 1000 slots x 2048 B, K and V (4 MB); GEMM loop alone 10.00 ms" in text
    assert "| h2d link (copy_) | | 4.1 | 100% | | |" in text
    assert "| h2d | 2 | 3.3 | 80% | 3.2 | +5.0% |" in text
