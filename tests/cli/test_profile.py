"""`kernelkit profile`: Nsight Compute's raw CSV parsed, the per-kernel report and the verdict against the bench's
ceilings, the ncu command lines, and the error paths (no ncu, counters not permitted, unknown op or case, the
profiled program failing), end to end through a stand-in ncu.

The samples in data/ncu_raw_*.csv are constructed in the layout of `ncu --import REP --csv --page raw --print-units
base` as Nsight Compute documents it and as parsers of it read it (e.g. OpenXLA's ncu_rep tool): a header row of the
identifying columns ("ID", "Process ID", "Process Name", "Host Name", "Kernel Name", "Context", "Stream", "Block
Size", "Grid Size", "Device", "CC") followed by one column per metric, a units row (empty under the identifying
columns; base units: nsecond, byte, byte/second, %, block, register/thread), then one quoted row per kernel launch,
numbers grouped by thousands with ","; ncu_raw_two_kernels.csv keeps the ==PROF== / ==WARNING== lines ncu prints
around the table on a console. Metric names are those of the SpeedOfLight, Occupancy, LaunchStats,
MemoryWorkloadAnalysis and WarpStateStats sections; the values are made up but self-consistent (an H100: 132 SMs,
64 warps per SM, 65536 registers per SM, e.g. 56 registers × 512 threads allow 2 blocks per SM = 50% occupancy).
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from kernelkit.benchspec import Case
from kernelkit.builder import cudatools
from kernelkit.cli import profile as profile_cli
from kernelkit.errors import KernelkitError
from kernelkit.perf import harness, ncu
from kernelkit.project import find_project

DATA = Path(__file__).parent / "data"
REPO_ROOT = Path(__file__).resolve().parents[2]
RMSNORM_CSV = DATA / "ncu_raw_rmsnorm.csv"
TWO_KERNELS_CSV = DATA / "ncu_raw_two_kernels.csv"
H100 = "NVIDIA H100 80GB HBM3"
CEILINGS = harness.Ceilings(
    copy_gbs=3000.0, bf16_tflops=700.0, fp8_tflops=1300.0, copy_curve=[(1 << 20, 5.0), (1 << 30, 360.0)]
)
REAL_GPU_NAME = profile_cli._gpu_name
PERMISSION_TEXT = (
    "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters on the "
    "target device 0. For instructions on enabling permissions and to get more information see "
    "https://developer.nvidia.com/ERR_NVGPUCTRPERM"
)


def kernels(path: Path) -> list[ncu.KernelProfile]:
    return [ncu.kernel_profile(row) for row in ncu.parse_raw_csv(path.read_text())]


# ------------------------------------------------------------------------------------------------ parsing


def test_raw_csv_rows_carry_values_and_units():
    rows = ncu.parse_raw_csv(RMSNORM_CSV.read_text())
    assert len(rows) == 1
    row = rows[0]
    assert row["gpu__time_duration.sum"] == ncu.Metric("182,272", "nsecond")
    assert row["Kernel Name"].value.startswith("void kernelkit::(anonymous namespace)::rmsnorm_kernel<")
    assert row["Grid Size"].value == "(16384, 1, 1)" and row["CC"].value == "9.0"
    two = ncu.parse_raw_csv(TWO_KERNELS_CSV.read_text())  # the ==PROF== lines around the table are skipped
    assert [r["ID"].value for r in two] == ["0", "1"]


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        ("182,272", "nsecond", 182.272e-6),
        ("182.27", "usecond", 182.27e-6),
        ("2,945,617,204,118.37", "byte/second", 2945617204118.37),
        ("2.95", "Tbyte/second", 2.95e12),
        ("537.0", "Mbyte", 537.0e6),
        ("86.41", "%", 86.41),
        ("1,024", "", 1024.0),
        ("n/a", "", None),
        ("", "byte", None),
    ],
)
def test_numbers_in_base_units(value, unit, expected):
    got = ncu.number(ncu.Metric(value, unit))
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_a_table_without_kernels_is_refused():
    with pytest.raises(KernelkitError, match="no table of kernels"):
        ncu.parse_raw_csv("==PROF== Disconnected from process 1\n")
    header = '"ID","Kernel Name","gpu__time_duration.sum"\n"","","nsecond"\n"0","k","5"\n"1","k"\n'
    with pytest.raises(KernelkitError, match="a row of 2 cells under a header of 3"):
        ncu.parse_raw_csv(header)


@pytest.mark.parametrize(
    "name, short",
    [
        ("void kernelkit::(anonymous namespace)::rmsnorm_kernel<__nv_bfloat16, 8, false>(T1 *, const T1 *, long)",
         "rmsnorm_kernel<__nv_bfloat16, 8, false>"),
        ("void ns::outer<ns::Inner<2>>::go<int>(int)", "go<int>"),
        ("vectorized_elementwise_kernel", "vectorized_elementwise_kernel"),
        ("void cutlass::device_kernel<cutlass::gemm::kernel::GemmUniversal<cute::tuple<int, int>>>(T1::Params)",
         "device_kernel<cutlass::gemm::kernel::GemmUniversal<cute::tuple<int, int>>>"),
    ],
)  # fmt: skip
def test_short_kernel_names(name, short):
    assert ncu.short_kernel_name(name) == short


def test_a_memory_bound_kernel():
    (k,) = kernels(RMSNORM_CSV)
    assert k.short_name == "rmsnorm_kernel<__nv_bfloat16, 8, false>" and (k.grid, k.block) == ("16384", "256")
    assert k.duration_us == pytest.approx(182.272)
    assert k.dram_gbs == pytest.approx(2945.617, rel=1e-6) and k.dram_pct == pytest.approx(93.84)
    assert k.dram_bytes == 268_513_664 + 268_443_904
    assert (k.achieved_occupancy_pct, k.theoretical_occupancy_pct) == (86.41, 100.0)
    assert k.registers_per_thread == 32 and k.local_bytes == 0 and k.l2_hit_pct == pytest.approx(12.73)
    assert [s.reason for s in k.stalls] == ["long_scoreboard", "wait", "not_selected"]  # "selected" is no stall
    lines = ncu.describe(k)
    assert lines[0] == "time: 182.27 µs (grid 16384 × block 256)"
    assert lines[1] == "DRAM: 2,946 GB/s = 93.8% of the device's peak, 537.0 MB moved"
    assert "theoretical 100.0%, not limited by registers, shared memory or block size" in lines[2]
    assert "no local-memory traffic (no spills)" in lines[3] and "32 registers/thread" in lines[3]
    assert lines[-1] == (
        "top stall: long_scoreboard, waiting on global or local memory loads "
        "(9.87 warps stalled per issued instruction)"
    )


def test_occupancy_limits_small_grids_and_spills():
    absmax, quant = kernels(TWO_KERNELS_CSV)
    assert absmax.occupancy_limiters == ["registers"] and absmax.blocks_per_sm == 2
    text = " ".join(ncu.describe(absmax))
    assert "theoretical 50.0%, limited by registers, 2 blocks/SM" in text
    assert "the grid fills 0.50 of one wave: too few blocks to occupy every SM" in text
    assert quant.local_bytes == 2 * 12_582_912
    assert "25.2 MB of local-memory traffic (register spills or local arrays)" in " ".join(ncu.describe(quant))
    assert quant.dram_bytes == 117_442_048 + 58_720_256


def test_a_row_without_the_optional_sections_still_reports():
    csv_text = (
        '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size",'
        '"Device","CC","gpu__time_duration.sum","launch__occupancy_limit_warps"\n'
        '"","","","","","","","","","","","usecond","block"\n'
        '"0","1","python3","h","k(int)","1","7","(128, 1, 1)","(1, 1, 1)","0","9.0","3.5","n/a"\n'
    )
    (row,) = ncu.parse_raw_csv(csv_text)
    k = ncu.kernel_profile(row)
    assert k.duration_us == pytest.approx(3.5) and k.dram_gbs is None and k.stalls == [] and k.occupancy_limiters == []
    assert ncu.describe(k) == ["time: 3.50 µs (grid 1 × block 128)"]


# ------------------------------------------------------------------------------------------------ the verdict


def rmsnorm_bench():
    return harness.load_bench(find_project(REPO_ROOT), "rmsnorm")


def test_the_default_case_is_the_largest_and_labels_match_loosely():
    bench = rmsnorm_bench()
    assert ncu.select_case(bench, None).label == "T=16384 hidden=8192 bfloat16"
    assert ncu.select_case(bench, "  t=2048   HIDDEN=4096 bfloat16").label == "T=2048 hidden=4096 bfloat16"
    with pytest.raises(
        KernelkitError, match=r"--case 'T=3': rmsnorm has no such case; its cases: T=1 hidden=4096"
    ) as e:
        ncu.select_case(bench, "T=3")
    assert e.value.exit_code == 2
    assert ncu.case_slug(Case(2048, "bfloat16", (("hidden", 4096),))) == "t-2048-hidden-4096-bfloat16"


def test_the_kernels_against_the_bench_ceiling():
    bench = rmsnorm_bench()
    case = ncu.select_case(bench, None)
    (k,) = kernels(RMSNORM_CSV)
    v = ncu.ceiling_verdict(bench, case, k.duration_us, CEILINGS)
    nbytes = (2 * 16384 * 8192 + 8192) * 2
    assert v.bytes_moved == nbytes and v.bound == "copy_gbs"
    assert v.floor_us == pytest.approx(nbytes / 3000e9 * 1e6)
    assert v.pct_of_ceiling == pytest.approx(100 * v.floor_us / 182.272)
    assert v.size_copy_us == pytest.approx(harness.copy_us_at(nbytes, CEILINGS.copy_curve))
    line = ncu.verdict_line(v, CEILINGS, k.duration_us, 1)
    assert line == (
        "vs the ceiling: 1 kernel, 182.27 µs; the floor is 178.96 µs (the bench's 536.9 MB at the measured copy "
        f"bandwidth, 3,000 GB/s): 98% of the ceiling; a copy of the same bytes takes {v.size_copy_us:.2f} µs, so this "
        f"runs at {v.pct_of_size_copy:.0f}% of its speed"
    )


def test_report_document_and_markdown(tmp_path):
    bench = rmsnorm_bench()
    case = ncu.select_case(bench, None)
    ks = kernels(TWO_KERNELS_CSV)
    total = sum(k.duration_us for k in ks)
    verdict = ncu.ceiling_verdict(bench, case, total, CEILINGS)
    files = {"ncu_rep": str(tmp_path / "x.ncu-rep"), "json": "x.json", "markdown": "x.md"}
    doc = ncu.report_document("rmsnorm", case, ks, verdict, CEILINGS, H100, files, "abc1234")
    assert doc["total_us"] == pytest.approx(44.982 + 65.172) and len(doc["kernels"]) == 2
    assert doc["kernels"][1]["summary"] == ncu.describe(ks[1]) and doc["ceiling"]["bound"] == "copy_gbs"
    json.dumps(doc)  # every field serialises
    text = ncu.markdown(doc)
    assert "# kernelkit profile — rmsnorm (T=16384 hidden=8192 bfloat16)" in text
    assert "## tensor_absmax_kernel<__nv_bfloat16, 8>" in text and "## tensor_quant_kernel<__nv_bfloat16, 8>" in text
    assert "Vs the ceiling: 2 kernels" in text and "`x.ncu-rep`" in text
    dram = 117_440_512 + 1_024 + 117_442_048 + 58_720_256
    assert doc["dram_bytes"] == dram
    assert f"ncu counted 293.6 MB of DRAM traffic, {dram / verdict.bytes_moved:.2f}× the model's bytes" in text
    paths = ncu.write_report(doc, tmp_path / "out", "x")
    assert [p.name for p in paths] == ["x.json", "x.md"] and json.loads(paths[0].read_text())["op"] == "rmsnorm"


def test_where_reports_go(tmp_path):
    assert ncu.output_folder(tmp_path, H100, save=False) == tmp_path / "build" / "profiles"
    assert ncu.output_folder(tmp_path, H100, save=True) == tmp_path / "benchmarks/profiles/nvidia-h100-80gb-hbm3"


# ------------------------------------------------------------------------------------------------ running ncu


def test_the_ncu_command_lines():
    cmd = ncu.profile_command("/ncu", Path("/r/x.ncu-rep"), ["python", "-m", "t"])
    text = " ".join(cmd)
    for part in ("--target-processes all", "--profile-from-start off", "--nvtx", "--clock-control none"):
        assert part in text
    assert all(f"--section {s}" in text for s in ncu.SECTIONS)
    assert "--metrics " + ",".join(ncu.EXTRA_METRICS) in text
    assert cmd[-5:] == ["/r/x.ncu-rep", "--force-overwrite", "python", "-m", "t"]
    assert "--metrics" not in ncu.profile_command("/ncu", Path("r"), ["t"], extra_metrics=False)
    assert ncu.import_command("/ncu", Path("r.ncu-rep"))[1:8] == [
        "--import", "r.ncu-rep", "--csv", "--page", "raw", "--print-units", "base"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "output, expected",
    [
        (PERMISSION_TEXT, "ncu may not read this GPU's performance counters (ERR_NVGPUCTRPERM)"),
        ("==ERROR== Failed to initialize the profiler: LibraryNotLoaded", "LibraryNotLoaded"),
        ("==PROF== Disconnected from process 9\n==ERROR== No kernels were profiled.", "ncu profiled no kernel"),
        ("==ERROR== Something else broke.", "ncu: Something else broke."),
        ("==PROF== Disconnected from process 9\n", None),
    ],
)
def test_what_ncu_says_when_it_fails(output, expected):
    reason = ncu.failure(output)
    assert reason is None if expected is None else expected in reason
    if reason:
        assert "\n" not in reason


def test_the_profiled_program_failing():
    output = (
        '==PROF== Connected\nTraceback (most recent call last):\n  File "x", line 1\n'
        "RuntimeError: CUDA error: out of memory\n==ERROR== The application returned an error code (1).\n"
    )
    assert ncu.target_failure(output) == "RuntimeError: CUDA error: out of memory"
    assert ncu.target_failure("==PROF== ok\n") is None


FAKE_NCU = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_NCU_CALLS"], "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if "--import" in args:
    sys.stdout.write(open(os.environ["FAKE_NCU_CSV"]).read())
    sys.exit(0)
mode = os.environ.get("FAKE_NCU_MODE", "ok")
status, report = args[args.index("--status") + 1], args[args.index("--export") + 1]
if mode == "no-metric" and "--metrics" in args:
    print("==ERROR== Failed to find metric l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum")
    sys.exit(1)
if mode == "crash":
    print("Traceback (most recent call last):\\n  File \\"t.py\\", line 3\\nRuntimeError: CUDA error: out of memory")
    print("==ERROR== The application returned an error code (1).")
    sys.exit(1)
if mode == "perm":
    print("==PROF== Connected to process 7 (/usr/bin/python3)")
    print(os.environ["FAKE_NCU_PERM_TEXT"])
else:
    open(report, "wb").write(b"fake ncu-rep")
    print("==PROF== Disconnected from process 7")
open(status, "w").write(json.dumps({"device": "NVIDIA H100 80GB HBM3"}))
sys.exit(1 if mode == "perm" else 0)
"""


@pytest.fixture
def fake_ncu(tmp_path, monkeypatch):
    script = tmp_path / "ncu"
    script.write_text(f"#!{sys.executable}\n" + FAKE_NCU)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_NCU_CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FAKE_NCU_CSV", str(RMSNORM_CSV))
    monkeypatch.setenv("FAKE_NCU_PERM_TEXT", PERMISSION_TEXT)
    monkeypatch.setattr(profile_cli, "_gpu_name", lambda: H100)
    monkeypatch.setattr(profile_cli, "_ceilings", lambda: CEILINGS)
    monkeypatch.setattr(ncu, "output_folder", lambda root, device, save: tmp_path / ("saved" if save else "build"))
    return str(script)


def calls(tmp_path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def test_cli_report(cli, fake_ncu, tmp_path):
    result = cli("profile", "rmsnorm", "--ncu", fake_ncu)
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "rmsnorm T=16384 hidden=8192 bfloat16 on NVIDIA H100 80GB HBM3: 1 kernel, 182.27 µs under ncu" in out
    assert "rmsnorm_kernel<__nv_bfloat16, 8, false>" in out and "DRAM: 2,946 GB/s = 93.8% of the device's peak" in out
    assert "98% of the ceiling" in out and "open it in Nsight Compute" in out
    stem = "rmsnorm-t-16384-hidden-8192-bfloat16"
    assert (tmp_path / "build" / f"{stem}.ncu-rep").is_file() and (tmp_path / "build" / f"{stem}.md").is_file()
    assert not (tmp_path / "build" / f"{stem}.status.json").exists()
    profiled, imported = calls(tmp_path)
    target = profiled[profiled.index("--force-overwrite") + 1 :]
    assert target[1:5] == ["-m", "kernelkit.perf.profile_target", "rmsnorm", "T=16384 hidden=8192 bfloat16"]
    assert imported[:2] == ["--import", str(tmp_path / "build" / f"{stem}.ncu-rep")]


def test_cli_json_and_save(cli, fake_ncu, tmp_path):
    result = cli("profile", "rmsnorm", "--case", "T=2048 hidden=4096 bfloat16", "--ncu", fake_ncu, "--json", "--save")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["case"] == "T=2048 hidden=4096 bfloat16" and doc["device"] == H100
    assert (
        doc["kernels"][0]["registers_per_thread"] == 32
        and doc["ceiling"]["bytes_moved"] == (2 * 2048 * 4096 + 4096) * 2
    )
    assert Path(doc["files"]["ncu_rep"]).parent == tmp_path / "saved"
    assert json.loads((tmp_path / "saved" / "rmsnorm-t-2048-hidden-4096-bfloat16.json").read_text()) == doc


def test_cli_retries_without_the_extra_metrics(cli, fake_ncu, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_NCU_MODE", "no-metric")
    result = cli("profile", "rmsnorm", "--ncu", fake_ncu, "--json")
    assert result.exit_code == 0, result.output
    first, second, _ = calls(tmp_path)
    assert "--metrics" in first and "--metrics" not in second


@pytest.mark.parametrize(
    "mode, message",
    [
        ("perm", "ncu may not read this GPU's performance counters (ERR_NVGPUCTRPERM)"),
        ("crash", "failed: RuntimeError: CUDA error: out of memory"),
    ],
)
def test_cli_failures_are_one_line(cli, fake_ncu, monkeypatch, mode, message):
    monkeypatch.setenv("FAKE_NCU_MODE", mode)
    result = cli("profile", "rmsnorm", "--ncu", fake_ncu)
    assert result.exit_code == 1 and message in result.output, result.output
    assert (
        result.output.strip().splitlines()[0].startswith("error: ") and "Traceback" not in result.output.splitlines()[0]
    )


def test_cli_without_ncu(cli, monkeypatch):
    monkeypatch.delenv(cudatools.NCU.env, raising=False)
    monkeypatch.setattr(cudatools, "candidates", lambda tool: [])
    result = cli("profile", "rmsnorm")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: ncu not found (not on PATH, in $CUDA_HOME or /usr/local/cuda, a standalone install or an nvidia "
        "wheel): install Nsight Compute (it ships with the CUDA toolkit), or pass --ncu PATH (or set $KERNELKIT_NCU)"
    )


def test_cli_without_a_gpu(cli, monkeypatch, fake_ncu):
    import torch

    monkeypatch.setattr(profile_cli, "_gpu_name", REAL_GPU_NAME)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = cli("profile", "rmsnorm", "--ncu", fake_ncu)
    assert result.exit_code == 1 and "needs a CUDA GPU and none is visible to torch" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["profile", "nope"], "no benchmark for 'nope'; ops with one:"),
        (["profile", "rmsnorm", "--case", "T=3"], "--case 'T=3': rmsnorm has no such case; its cases: T=1 hidden=4096"),
    ],
)
def test_cli_unknown_op_or_case(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and message in result.output


def test_finding_ncu_in_a_standalone_install(tmp_path, monkeypatch):
    for version in ("2024.1.0", "2025.3.1", "2025.10.0"):
        tool = tmp_path / "opt" / version / "ncu"
        tool.parent.mkdir(parents=True)
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    monkeypatch.setattr(cudatools, "which", lambda name: None)
    monkeypatch.setattr(cudatools, "_wheel_roots", lambda: [])
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.delenv(cudatools.NCU.env, raising=False)
    standalone = cudatools.CudaTool(
        **{**cudatools.NCU.__dict__, "homes": (), "globs": (str(tmp_path / "opt" / "*" / "ncu"),)}
    )
    found = cudatools.candidates(standalone)
    assert found == [str(tmp_path / "opt" / v / "ncu") for v in ("2025.10.0", "2025.3.1", "2024.1.0")]  # newest first
    assert cudatools.find(standalone) == found[0]
    with pytest.raises(KernelkitError, match="--ncu: /nowhere/ncu is not an executable ncu"):
        cudatools.find(cudatools.NCU, "/nowhere/ncu")


def test_the_profiled_program_calls_the_op_once_between_start_and_stop(tmp_path, monkeypatch):
    """kernelkit.perf.profile_target, with the GPU calls replaced by a log: warm-up calls, then exactly one call
    between cudaProfilerStart and cudaProfilerStop, then the status file."""
    import torch

    from kernelkit.benchspec import OpBench
    from kernelkit.perf import profile_target

    events: list[str] = []
    bench = OpBench(
        op="fake",
        cases=[Case(1, "float32", (("hidden", 8),)), Case(4, "float32", (("hidden", 8),))],
        make_inputs=lambda case: events.append(f"inputs {case.label}") or {},
        impls={"kernelkit": lambda inputs: events.append("call")},
        reference=lambda inputs: None,
        bytes_moved=lambda case: 0,
    )
    monkeypatch.setattr(harness, "load_bench", lambda project, op: bench)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: events.append("sync"))
    monkeypatch.setattr(torch.cuda.profiler, "start", lambda: events.append("start"))
    monkeypatch.setattr(torch.cuda.profiler, "stop", lambda: events.append("stop"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: H100)
    monkeypatch.chdir(REPO_ROOT)
    status = tmp_path / "status.json"
    assert profile_target.main(["fake", "T=4 hidden=8 float32", "--status", str(status), "--warmup", "2"]) == 0
    assert events == ["inputs T=4 hidden=8 float32", "call", "call", "sync", "start", "call", "sync", "stop"]
    assert json.loads(status.read_text()) == {"op": "fake", "case": "T=4 hidden=8 float32", "device": H100}


def test_the_profiled_program_imports_what_this_process_imports(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", ["", str(tmp_path), sys.prefix + "/lib/not-there", str(Path(sys.prefix))])
    monkeypatch.chdir(tmp_path.parent)
    paths = ncu.child_env()["PYTHONPATH"].split(":")
    assert paths == [str(tmp_path.parent.resolve()), str(tmp_path.resolve())]  # the interpreter's own folders: its own
