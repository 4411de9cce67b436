"""`kernelkit sanitize`: each op's GPU tests under compute-sanitizer, and a summary of what it reported per op.

Each op runs in its own process (`compute-sanitizer ... python -m pytest <the op's test file> -m gpu`), so every
report belongs to one op. The selection is `kernelkit test OPS`'s (kernelkit.builder.testrun). The sanitizer writes
its text to a log file per op (build/sanitize/<tool>/<op>.log), apart from pytest's output, and `parse_log` reads it.

The format read (compute-sanitizer's text output; "=========" is its default --prefix; lines of the report's body
are indented under its first line):

    ========= Invalid __global__ write of size 4 bytes
    =========     at void kernel<float>(float *, int)+0x1a0 in my_op.cu:42
    =========     by thread (31,0,0) in block (7,0,0)
    =========     Access at 0x7f3a0000a000 is out of bounds
    =========     Saved host backtrace up to driver entry point at kernel launch time
    =========         Host Frame: ... (the host stack, not kept)
    =========
    ========= ERROR SUMMARY: 1 error

Older releases wrote the location as `at 0x1a0 in /path/my_op.cu:42:kernel(float *, int)`; both are read.
`file:line` appears when the code was built with -lineinfo (kernelkit builds are, unless --debug, which has -G).
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kernelkit.builder import testrun
from kernelkit.errors import KernelkitError
from kernelkit.project import Project

TOOLS = ("memcheck", "racecheck", "initcheck", "synccheck")
PREFIX = "========="
# The sanitizer's exit status when it reported errors: not 1, which pytest returns for failed tests.
ERROR_EXITCODE = 86
DEFAULT_PRINT_LIMIT = 20
# memcheck --padding: bytes of guard after every allocation, so a write just past a tensor's end that would land in
# the next allocation (cudaMalloc packs small ones) is still out of bounds; covers a 16-byte vector store and more.
DEFAULT_PADDING = 256

# What it says of a tracked process that never initialised CUDA (a compiler or shell the tests start: with
# --target-processes all every child is tracked): no finding.
_BENIGN = ("Target application terminated before first instrumented API call", "couldn't find exit code")
_SUMMARY_RE = re.compile(r"^ERROR SUMMARY: (\d+) errors?")
_RACE_SUMMARY_RE = re.compile(r"^RACECHECK SUMMARY: .*?\((\d+) errors?, (\d+) warnings?\)")
_RACE_RE = re.compile(r"^(?P<severity>Error|Warning): Race reported between (?P<a>\w+) access at (?P<at>.+)$")
_API_RE = re.compile(r"^Program hit (?P<error>\w+) \(error \d+\) due to .*? on CUDA API call to (?P<call>\w+)")
# `at FUNCTION+0xOFFSET in FILE:LINE` (2022.4 and newer; `in FILE:LINE` only with line info)
_LOC_NEW_RE = re.compile(r"^(?P<func>.+)\+(?P<offset>0x[0-9a-fA-F]+)(?: in (?P<file>.+):(?P<line>\d+))?$")
# `at 0xOFFSET in FILE:LINE:FUNCTION` or `at 0xOFFSET in FUNCTION` (cuda-memcheck and early compute-sanitizer)
_LOC_OLD_RE = re.compile(r"^(?P<offset>0x[0-9a-fA-F]+) in (?:(?P<file>[^:]+):(?P<line>\d+):)?(?P<func>.+)$")


@dataclass
class Location:
    function: str
    offset: str | None = None
    file: str | None = None
    line: int | None = None

    @property
    def where(self) -> str | None:
        return f"{self.file}:{self.line}" if self.file and self.line is not None else None


def parse_location(text: str) -> Location | None:
    """The text after `at ` of a report's location line."""
    text = text.strip()
    for pattern in (_LOC_OLD_RE, _LOC_NEW_RE):
        m = pattern.match(text)
        if m:
            line = m.group("line")
            return Location(m.group("func").strip(), m.group("offset"), m.group("file"), int(line) if line else None)
    return None


@dataclass
class Report:
    kind: str  # what went wrong, without sizes or addresses: "Invalid __global__ write"
    message: str  # the report's first line as printed
    location: Location | None = None
    details: list[str] = field(default_factory=list)  # thread/block, address, the second access of a race
    severity: str = "error"  # racecheck also reports warnings


def report_kind(message: str) -> str:
    if m := _API_RE.match(message):
        return f"CUDA API error {m.group('error')} in {m.group('call')}"
    if m := _RACE_RE.match(message):
        return f"race ({m.group('severity').lower()})"
    if re.match(r"^Leaked \d+ bytes", message):
        return "leaked memory"
    text = re.sub(r" of size \d+(?: bytes?)?", "", message)
    text = re.sub(r"\s*(?:at )?0x[0-9a-fA-F]+", "", text)
    return text.strip().rstrip(".:").strip()


@dataclass
class SanitizerLog:
    reports: list[Report]  # those printed (at most --print-limit per process)
    summary_errors: int | None  # what the ERROR SUMMARY lines (or racecheck's summary) count; None: none printed
    tool_errors: list[str]  # the sanitizer's own failures ("Error: Device not supported")

    @property
    def errors(self) -> int:
        """Errors found: the summaries' count (it includes reports beyond the print limit), else those printed."""
        printed = sum(r.severity == "error" for r in self.reports)
        return self.summary_errors if self.summary_errors is not None else printed

    def by_kind(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for r in self.reports:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        return dict(sorted(kinds.items(), key=lambda item: -item[1]))

    @property
    def first(self) -> Report | None:
        return next((r for r in self.reports if r.severity == "error"), self.reports[0] if self.reports else None)


def parse_log(text: str, prefix: str = PREFIX) -> SanitizerLog:
    """compute-sanitizer's text output (its log file, or a console where the program's own lines interleave:
    lines without the prefix are skipped) -> the reports, the summary count and the tool's own errors."""
    reports: list[Report] = []
    tool_errors: list[str] = []
    summaries: list[int] = []
    current: Report | None = None
    in_backtrace = False
    for raw in text.splitlines():
        if not raw.startswith(prefix):
            continue
        body = raw[len(prefix) :]
        body = body[1:] if body.startswith(" ") else body  # the space after the prefix; a body is indented further
        if not body.strip():  # a bare prefix line ends a report
            current, in_backtrace = None, False
            continue
        if body[0].isspace():  # a line of the current report's body
            line = body.strip()
            if current is None:
                continue
            if line.startswith("Saved host backtrace") or line.startswith("Host Frame"):
                in_backtrace = True
            elif in_backtrace:
                continue
            elif line.startswith("at ") and current.location is None:
                current.location = parse_location(line[3:])
            elif line.startswith("Device Frame:") and current.location is None:
                current.location = parse_location(line.removeprefix("Device Frame:"))
            elif len(current.details) < 6:
                current.details.append(line)
            continue
        line = body.strip()
        current, in_backtrace = None, False
        if m := _SUMMARY_RE.match(line):
            summaries.append(int(m.group(1)))
        elif m := _RACE_SUMMARY_RE.match(line):
            summaries.append(int(m.group(1)))
        elif line.startswith(("COMPUTE-SANITIZER", "CUDA-MEMCHECK", "LEAK SUMMARY", "Target application returned")):
            continue
        elif any(benign in line for benign in _BENIGN):
            continue
        elif m := _RACE_RE.match(line):
            current = Report(report_kind(line), line, parse_location(m.group("at")), [], m.group("severity").lower())
            reports.append(current)
        elif line.startswith("Error:") or line.startswith("Internal Sanitizer Error"):
            tool_errors.append(line)
        else:
            current = Report(report_kind(line), line)
            reports.append(current)
    return SanitizerLog(reports, sum(summaries) if summaries else None, tool_errors)


# ------------------------------------------------------------------------------------------------
# Running


# compute-sanitizer talks to the processes it tracks over local ports from --port up (--max-connections of them,
# 10 by default): sanitizers running side by side (--jobs) each get a range of their own.
BASE_PORT = 49152
PORTS_PER_JOB = 16


def sanitizer_command(
    path: str,
    tool: str,
    print_limit: int,
    log: Path,
    api_errors: bool = False,
    port: int | None = None,
    padding: int = DEFAULT_PADDING,
) -> list[str]:
    if tool not in TOOLS:
        raise KernelkitError(f"--tool {tool}: expected one of {', '.join(TOOLS)}", exit_code=2)
    cmd = [
        path,
        "--tool", tool,
        "--print-limit", str(print_limit),
        "--error-exitcode", str(ERROR_EXITCODE),
        "--target-processes", "all",
        "--check-exit-code", "no",  # failed tests are pytest's news (junit), not a sanitizer finding
        "--require-cuda-init", "no",  # a helper process of the tests that never touches CUDA is no error
        "--log-file", str(log),
    ]  # fmt: skip
    if port is not None:
        cmd += ["--port", str(port)]
    if tool == "memcheck":
        # torch and Triton probe the driver with calls that may fail by design (an absent entry point, a peer
        # query); the library's own launch errors already fail its tests. --api-errors reports them all.
        cmd += ["--report-api-errors", "all" if api_errors else "no", "--padding", str(padding)]
    return cmd


def sanitizer_env() -> dict[str, str]:
    env = dict(os.environ)
    # Every tensor its own cudaMalloc, so an access past a tensor's end is past an allocation's end: torch's caching
    # allocator otherwise hands out pieces of larger blocks, where memcheck sees nothing wrong.
    env["PYTORCH_NO_CUDA_MEMORY_CACHING"] = "1"
    env["TORCHINDUCTOR_COMPILE_THREADS"] = "1"  # torch.compile's kernels compiled in the tested process
    return env


@dataclass
class OpResult:
    op: str
    test_file: str
    log: str
    seconds: float
    exit_code: int | None  # None: stopped at --op-timeout
    tests_passed: int
    tests_failed: int
    tests_skipped: int
    first_failed_test: str | None
    sanitizer: SanitizerLog
    ran: bool = True  # the sanitizer wrote its log and pytest its report: false when either never started

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None

    @property
    def status(self) -> str:
        """errors | timed out | sanitizer failed | no GPU tests | clean. Failed tests alone do not make an op unclean:
        correctness is `kernelkit test`'s verdict, and under the sanitizer some tests fail by design (with torch's
        caching allocator off, a CUDA graph capture that allocates is refused); they are counted beside the status."""
        if self.sanitizer.errors:
            return "errors"
        if self.timed_out:
            return "timed out"
        if self.sanitizer.tool_errors or not self.ran:
            return "sanitizer failed"
        if self.tests_passed + self.tests_failed == 0:
            return "no GPU tests"
        if self.sanitizer.summary_errors is None:  # tests ran, but the sanitizer never finished its report
            return "sanitizer failed"
        return "clean"

    @property
    def ok(self) -> bool:
        return self.status in ("clean", "no GPU tests")

    def to_json(self) -> dict:
        first = self.sanitizer.first
        return {
            "op": self.op,
            "status": self.status,
            "errors": self.sanitizer.errors,
            "by_kind": self.sanitizer.by_kind(),
            "first": ({**asdict(first), "where": first.location.where if first.location else None} if first else None),
            "tool_errors": self.sanitizer.tool_errors,
            "tests": {"passed": self.tests_passed, "failed": self.tests_failed, "skipped": self.tests_skipped},
            "first_failed_test": self.first_failed_test,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 1),
            "test_file": self.test_file,
            "log": self.log,
        }


# The sanitizer runs in flight: each in a session of its own (so a timeout ends it with the pytest it tracks), which a
# signal to kernelkit does not reach; `run` ends them when it is interrupted.
_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()
_stopping = threading.Event()  # set once a run is interrupted: no further sanitizer starts


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def select(project: Project, ops: list[str]) -> dict[str, Path]:
    """op -> test file: the named ops (as `kernelkit test OPS` picks them), or every op with tests."""
    files = testrun.op_test_files(project)
    if not ops:
        return files
    paths = testrun.select_paths(project, ops)  # refuses unknown names as `kernelkit test` does
    return {op: Path(path) for op, path in zip(ops, paths)}


def log_folder(project: Project, tool: str) -> Path:
    return project.root / "build" / "sanitize" / tool


def _first_failed(junit: Path) -> str | None:
    import xml.etree.ElementTree as ET

    if not junit.is_file():
        return None
    try:
        root = ET.parse(junit).getroot()
    except ET.ParseError:
        return None
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            return f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
    return None


def run_op(
    project: Project,
    op: str,
    test_file: Path,
    sanitizer: str,
    tool: str,
    print_limit: int = DEFAULT_PRINT_LIMIT,
    keyword: str | None = None,
    timeout: float | None = None,
    api_errors: bool = False,
    port: int | None = None,
    padding: int = DEFAULT_PADDING,
    test_workers: int = 1,
) -> OpResult:
    folder = log_folder(project, tool)
    folder.mkdir(parents=True, exist_ok=True)
    log, junit, out = folder / f"{op}.log", folder / f"{op}.xml", folder / f"{op}.pytest.log"
    for stale in (log, junit, out):
        stale.unlink(missing_ok=True)
    cmd = sanitizer_command(sanitizer, tool, print_limit, log, api_errors, port, padding)
    cmd += [sys.executable, "-m", "pytest", str(test_file), "-m", "gpu", "-p", "no:cacheprovider", "-q"]
    cmd += [f"--junitxml={junit}", "-o", "junit_family=xunit2"] + (["-k", keyword] if keyword else [])
    if test_workers > 1:  # xdist's workers are child processes: --target-processes all has the sanitizer follow them
        cmd += ["-n", str(test_workers), "--dist", "load"]
    start = time.monotonic()
    with out.open("w") as sink:
        with _running_lock:  # started and registered at once: an interrupt in between would miss it
            if _stopping.is_set():
                raise KernelkitError("interrupted before this op's run started")
            try:
                # Its own session: a timeout ends the sanitizer, pytest and whatever they started, together.
                proc = subprocess.Popen(
                    cmd,
                    cwd=project.root,
                    env=sanitizer_env(),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise KernelkitError(f"cannot run {sanitizer}: {exc.strerror or exc}") from None
            _running.add(proc)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            proc.wait()
            code = None
        finally:
            with _running_lock:
                _running.discard(proc)
    seconds = time.monotonic() - start
    summary = testrun.summarize(junit, code if code is not None else -1)
    parsed = parse_log(log.read_text(errors="replace") if log.is_file() else "")
    return OpResult(
        op=op,
        test_file=str(test_file.relative_to(project.root) if test_file.is_relative_to(project.root) else test_file),
        log=str(log),
        seconds=seconds,
        exit_code=code,
        tests_passed=summary.passed,
        tests_failed=summary.failed,
        tests_skipped=summary.skipped,
        first_failed_test=_first_failed(junit),
        sanitizer=parsed,
        ran=log.is_file() and junit.is_file(),
    )


def run(
    project: Project,
    selected: dict[str, Path],
    sanitizer: str,
    tool: str,
    jobs: int = 1,
    on_done: Callable[[OpResult], None] | None = None,
    **options,
) -> list[OpResult]:
    """Every selected op, `jobs` at a time; `on_done` hears of each as it finishes. Results in the selection's order."""
    jobs = max(1, jobs)
    _stopping.clear()
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)

    def one(op: str, path: Path) -> OpResult:
        slot = slots.get()  # a port range no other running sanitizer uses
        try:
            port = BASE_PORT + slot * PORTS_PER_JOB if jobs > 1 else None
            return run_op(project, op, path, sanitizer, tool, port=port, **options)
        finally:
            slots.put(slot)

    results: dict[str, OpResult] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, op, path) for op, path in selected.items()]
        try:
            for future in as_completed(futures):
                result = future.result()
                results[result.op] = result
                if on_done:
                    on_done(result)
        except BaseException:  # interrupted, or one op's run failed: end the others, not wait for them
            for future in futures:
                future.cancel()
            with _running_lock:
                _stopping.set()
                for proc in list(_running):
                    _kill(proc)
            raise
    return [results[op] for op in selected]


def summary_document(results: list[OpResult], tool: str, device: str, commit: str, date: str) -> dict:
    return {
        "tool": tool,
        "device": device,
        "commit": commit,
        "date": date,
        "ok": all(r.ok for r in results),
        "errors": sum(r.sanitizer.errors for r in results),
        "ops": [r.to_json() for r in results],
    }


def markdown(doc: dict) -> str:
    lines = [
        f"# kernelkit sanitize — {doc['tool']}",
        "",
        f"{doc['device']}, {doc['date']}, commit {doc['commit']}: each op's GPU tests under "
        f"`compute-sanitizer --tool {doc['tool']}`; {doc['errors']} error(s) in {len(doc['ops'])} ops.",
        "",
        "| op | status | errors | kinds | first report | tests passed/failed | s |",
        "|---|---|---:|---|---|---:|---:|",
    ]
    for o in doc["ops"]:
        kinds = ", ".join(f"{k} ×{n}" for k, n in o["by_kind"].items())
        first = o["first"]
        where = ""
        if first:
            loc = first.get("location") or {}
            where = f"{first['message']} at {first['where'] or loc.get('function') or '?'}"
        tests = f"{o['tests']['passed']}/{o['tests']['failed']}"
        lines.append(
            f"| {o['op']} | {o['status']} | {o['errors']} | {kinds} | {where} | {tests} | {o['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"
