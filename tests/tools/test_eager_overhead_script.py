"""tools/eager_overhead.py on a machine without a GPU: it parses its arguments, refuses in one line, and
writes its table and JSON from given numbers (the timing itself needs the GPU machine)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tool_scripts import load_tool, run_tool

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "eager_overhead.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return run_tool(SCRIPT.name, *args)


@pytest.fixture(scope="module")
def script():
    return load_tool(SCRIPT.name)


def test_refuses_without_a_gpu(tmp_path):
    result = run_script("--out", str(tmp_path / "eager"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "eager_overhead: needs a CUDA GPU (none visible to torch); it times eager calls on the device"
    ]
    assert not list(tmp_path.iterdir()), "wrote results without timing anything"


def test_help_and_argument_errors():
    assert run_script("--help").returncode == 0
    missing = run_script()
    assert missing.returncode == 2 and "--out" in missing.stderr


def test_writes_the_table_and_the_json(script, tmp_path):
    rows = [
        script.Row("rmsnorm", "[1, 4096] bf16", wrapper_us=9.0, raw_us=6.0, wrapper_out_us=7.5),
        script.Row("fused_add_rmsnorm", "[1, 4096] bf16", wrapper_us=9.5, raw_us=6.0),
    ]
    meta = {"device": "GPU", "torch": "2.x", "cuda": "13.0", "commit": "abc", "date": "today"}
    meta |= {"calls": 2000, "repeats": 7, "chunk": 100}
    stem = script.write_results(str(tmp_path / "eager.json"), meta, rows, {"torch.add(a, b)": 5.0}, {"pdl": 0.1})
    assert stem == tmp_path / "eager"
    data = json.loads((tmp_path / "eager.json").read_text())
    assert data["device"] == "GPU" and data["commit"] == "abc" and data["target_us"] == 2.0
    assert [(r["op"], r["overhead_us"], r["meets_target"]) for r in data["rows"]] == [
        ("rmsnorm", 1.5, True),  # like for like: the wrapper given out=
        ("fused_add_rmsnorm", 3.5, False),
    ]
    table = (tmp_path / "eager.md").read_text()
    assert "| op | shape | wrapper µs | wrapper out= µs | raw torch.ops µs | wrapper − raw µs |" in table
    assert "| rmsnorm | [1, 4096] bf16 | 9.0 | 7.5 | 6.0 | +1.5 |" in table
    assert "| fused_add_rmsnorm | [1, 4096] bf16 | 9.5 | — | 6.0 | +3.5 |" in table
    assert "| torch.add(a, b) | 5.00 |" in table
