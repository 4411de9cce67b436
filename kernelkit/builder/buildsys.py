"""Driving CMake + Ninja for the op library: options, configure, incremental build, ccache accounting.

`kernelkit build` and scikit-build-core share library/CMakeLists.txt; this module owns the
development build in the persistent `build/dev` and puts the .so next to the Python package.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kernelkit.builder import features, ninjalog
from kernelkit.builder.toolchain import detect_gpus, find_nvcc, find_tool, tool_env
from kernelkit.errors import KernelkitError
from kernelkit.model import registry
from kernelkit.model.features import FEATURES
from kernelkit.project import Project

DEFAULT_ARCH = "90a"
MIN_SM = 75  # the oldest target CUDA 13 can compile for

# CMake cache options that `kernelkit build` sets through typed flags; -D may not set these.
FLAG_FOR_OPTION = {
    **{feature.cmake_option: feature.build_flag for feature in FEATURES},
    "KERNELKIT_CUDA_ARCHS": "--arch",
    "KERNELKIT_COMPILE_THREADS": "--threads",
    "KERNELKIT_DEBUG": "--debug",
    "KERNELKIT_PACKAGE_DIR": "(set by kernelkit itself)",
}
# kernelkit's CMake options without a flag of their own, which -D passes through.
PASSED_OPTIONS = {
    "KERNELKIT_CUTLASS_DIR": "the CUTLASS include folder (holds cutlass/cutlass.h), instead of nvidia-cutlass's",
}
_DEFINE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(:(BOOL|STRING|PATH|FILEPATH|INTERNAL))?=(.*)$", re.S)
_ARCH_RE = re.compile(r"^(?:sm_|compute_)?(\d{2,3})([af]?)$")
_MTIME_SLACK_NS = 50_000_000


@dataclass(frozen=True)
class BuildOptions:
    fp4: bool = False
    cutlass: bool | None = None  # None: AUTO, the CUTLASS ops wherever the headers are found
    archs: tuple[str, ...] = ()  # empty: the GPU present, else DEFAULT_ARCH
    compile_threads: int | None = None
    debug: bool = False
    defines: tuple[tuple[str, str], ...] = ()  # passthrough -D NAME=VALUE (NAME may carry :TYPE)


def parse_archs(text: str) -> tuple[str, ...]:
    """'90a,100a' -> ('90a', '100a'); also accepts sm_90a. Refuses what nvcc would refuse later."""
    archs: list[str] = []
    for raw in text.replace(";", ",").split(","):
        item = raw.strip().lower()
        if not item:
            continue
        match = _ARCH_RE.match(item)
        if not match:
            raise KernelkitError(f"--arch: '{raw.strip()}' is not a CUDA arch; use e.g. 90a, 100a or 89")
        if int(match.group(1)) < MIN_SM:
            raise KernelkitError(f"--arch: sm_{match.group(1)} is older than CUDA 13 supports (sm_{MIN_SM}+)")
        arch = match.group(1) + match.group(2)
        if arch not in archs:
            archs.append(arch)
    if not archs:
        raise KernelkitError("--arch: give at least one arch, e.g. --arch 90a")
    return tuple(archs)


def parse_define(text: str) -> tuple[str, str]:
    """'-D NAME[:TYPE]=VALUE' passthrough; kernelkit's own options must use their typed flags."""
    match = _DEFINE_RE.match(text)
    if not match:
        raise KernelkitError(f"-D {text}: expected NAME=VALUE (e.g. -D CMAKE_BUILD_TYPE=RelWithDebInfo)")
    name = match.group(1)
    if name.startswith("KERNELKIT_") and name not in PASSED_OPTIONS:
        if name in FLAG_FOR_OPTION:
            raise KernelkitError(f"-D {name}: set it with {FLAG_FOR_OPTION[name]} instead")
        known = ", ".join(sorted([*FLAG_FOR_OPTION, *PASSED_OPTIONS]))
        raise KernelkitError(f"-D {name}: unknown kernelkit option (known: {known})")
    return name + (match.group(2) or ""), match.group(4)


def default_archs() -> tuple[str, ...]:
    gpus = detect_gpus()
    if gpus:
        return tuple(dict.fromkeys(g.arch for g in gpus))
    return (DEFAULT_ARCH,)


def resolved_archs(options: BuildOptions) -> tuple[str, ...]:
    return options.archs or default_archs()


def cmake_cache_args(project: Project, options: BuildOptions, python: str | None = None) -> list[str]:
    """The -D arguments that fully describe a build; equal arguments mean no reconfigure is needed."""
    args = [
        f"-DPython_EXECUTABLE={python or sys.executable}",
        f"-DKERNELKIT_PACKAGE_DIR={project.python_package_dir}",
        f"-DKERNELKIT_ENABLE_FP4={'ON' if options.fp4 else 'OFF'}",
        # not given: the cache's default, AUTO (the CUTLASS ops wherever the headers are found)
        *([f"-DKERNELKIT_CUTLASS={'ON' if options.cutlass else 'OFF'}"] if options.cutlass is not None else []),
        f"-DKERNELKIT_CUDA_ARCHS={','.join(resolved_archs(options))}",
        f"-DKERNELKIT_DEBUG={'ON' if options.debug else 'OFF'}",
        f"-DKERNELKIT_COMPILE_THREADS={options.compile_threads or 1}",
    ]
    args += [f"-D{name}={value}" for name, value in options.defines]
    return args


# ---------------------------------------------------------------------------------------------
# ccache accounting: a build's hits/misses are the difference of the counters around it.

_UNCACHEABLE_PREFIXES = ("unsupported_", "could_not_", "compiler_produced_", "called_for_preprocessing")
_UNCACHEABLE_KEYS = {"multiple_source_files", "no_input_file", "output_to_stdout", "bad_compiler_arguments"}


@dataclass(frozen=True)
class CcacheStats:
    hits: int
    misses: int
    uncacheable: int

    def __sub__(self, other: CcacheStats) -> CcacheStats:
        return CcacheStats(self.hits - other.hits, self.misses - other.misses, self.uncacheable - other.uncacheable)

    @property
    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


def read_ccache_stats(ccache: str) -> CcacheStats | None:
    try:
        out = subprocess.run([ccache, "--print-stats"], capture_output=True, text=True, timeout=30, env=tool_env())
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    counters: dict[str, int] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition("\t")
        if value.strip().isdigit():
            counters[key] = int(value)
    hits = counters.get("direct_cache_hit", 0) + counters.get("preprocessed_cache_hit", 0)
    uncacheable = sum(v for k, v in counters.items() if k.startswith(_UNCACHEABLE_PREFIXES) or k in _UNCACHEABLE_KEYS)
    return CcacheStats(hits=hits, misses=counters.get("cache_miss", 0), uncacheable=uncacheable)


# ---------------------------------------------------------------------------------------------
# Compiler output: Ninja's progress and the error lines worth showing.

_PROGRESS_RE = re.compile(r"^\[(\d+)/(\d+)\]\s*(.*)$")
_ERROR_RES = (
    re.compile(r"^(?P<loc>[^\s:()][^:()]*?):(?P<line>\d+)(?::\d+)?:\s*(?:fatal )?error\b.*", re.I),  # gcc/clang
    re.compile(r"^(?P<loc>[^\s:()][^()]*?)\((?P<line>\d+)\):\s*(?:catastrophic )?error\b.*", re.I),  # nvcc/EDG
    re.compile(r"^(?:\S*/)?ld(?:\.\w+)?:.*(?:undefined reference|cannot find|error).*"),
    re.compile(r"^[^\s:()][^:()]*?:(?:\d+:)?(?:\([^)]*\):)?\s*(?:undefined reference|multiple definition)\b.*"),
    re.compile(r"^collect2: error\b.*"),
    re.compile(r"^ptxas (?:fatal|error)\b.*"),
    re.compile(r"^CMake Error.*"),
    re.compile(r"^nvcc (?:fatal|error)\b.*"),
)


def parse_progress(line: str) -> tuple[int, int, str] | None:
    match = _PROGRESS_RE.match(line)
    return (int(match.group(1)), int(match.group(2)), match.group(3)) if match else None


_NVCC_LOC = re.compile(r"^(?P<path>[^\s:()][^()]*?)\((?P<line>\d+)\):")
_GCC_LOC = re.compile(r"^(?P<path>[^\s:()][^:()]*?):(?P<line>\d+)(?P<col>:\d+)?:")


def clickable(line: str, build_dir: Path, root: Path) -> str:
    """`../../library/x.cu(23): error` -> `library/x.cu:23: error`: paths from the project root, in the
    file:line form editors and terminals jump to (nvcc writes path(line), relative to the build dir)."""
    for regex in (_NVCC_LOC, _GCC_LOC):
        match = regex.match(line)
        if not match:
            continue
        path = Path(match.group("path"))
        absolute = (path if path.is_absolute() else build_dir / path).resolve()
        try:
            shown = str(absolute.relative_to(root.resolve()))
        except ValueError:
            shown = str(absolute)
        col = match.groupdict().get("col") or ""
        return f"{shown}:{match.group('line')}{col}:{line[match.end() :]}"
    return line


def extract_errors(log: str, limit: int = 40) -> list[str]:
    """file:line error lines (gcc, nvcc, ld, CMake), deduplicated, in order; with the FAILED target lines."""
    found: list[str] = []
    in_cmake_error = False
    for raw in log.splitlines():
        line = raw.rstrip()
        if in_cmake_error and (not line or line.startswith(" ")):
            if line:  # the reason, indented under "CMake Error at file:line (message):"
                found.append(line)
            continue
        in_cmake_error = line.startswith("CMake Error")
        if line.startswith("FAILED:") or any(r.match(line) for r in _ERROR_RES):
            if line not in found:
                found.append(line)
        if len(found) >= limit:
            break
    return found[:limit]


# ---------------------------------------------------------------------------------------------


@dataclass
class BuildResult:
    ok: bool
    elapsed_s: float
    configured: bool
    steps: int
    ccache: CcacheStats | None
    errors: list[str] = field(default_factory=list)
    log: str = ""
    library: Path | None = None
    slowest: list[ninjalog.Step] = field(default_factory=list)  # this build's compile steps, slowest first
    warnings: list[str] = field(default_factory=list)  # kernelkit's own CMake warnings of this configure
    # feature -> (its ops the library lacks, why) for the features a plain build has wherever it can (CUTLASS)
    left_out: dict[str, tuple[list[str], str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        data = asdict(self)
        data["library"] = str(self.library) if self.library else None
        data["ccache"] = asdict(self.ccache) if self.ccache else None
        data["slowest"] = [step.to_json() for step in self.slowest]
        data["left_out"] = {name: {"ops": ops, "why": why} for name, (ops, why) in self.left_out.items()}
        data.pop("log")
        return data


ProgressFn = Callable[[int, int, str], None]


def _options_file(project: Project) -> Path:
    return project.build_dir / "kernelkit-options.json"


def check_requisites() -> dict[str, str]:
    """Paths of cmake, ninja, nvcc; a KernelkitError naming the fix when one is missing."""
    missing = []
    paths = {}
    for tool in (find_tool("cmake"), find_tool("ninja"), find_nvcc()):
        if tool.found:
            paths[tool.name] = tool.path
        else:
            missing.append(tool.name)
    if missing:
        raise KernelkitError(
            f"cannot build: {', '.join(missing)} not found; run `kernelkit doctor` for how to install them"
        )
    return paths


def build(
    project: Project,
    options: BuildOptions,
    *,
    jobs: int | None = None,
    on_progress: ProgressFn | None = None,
    on_line: Callable[[str], None] | None = None,
) -> BuildResult:
    """Configure when the options changed (or on first use), then build incrementally with Ninja."""
    tools = check_requisites()
    env = tool_env(project.root)
    env.setdefault("CUDACXX", tools["nvcc"])
    ccache = find_tool("ccache")
    before = read_ccache_stats(ccache.path) if ccache.found else None
    started = time.perf_counter()
    # Wall clock for the Ninja log; a file's mtime comes from the kernel's coarse clock, up to a tick behind.
    started_ns = time.time_ns() - _MTIME_SLACK_NS
    log_lines: list[str] = []

    def run(cmd: list[str]) -> int:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            log_lines.append(line)
            progress = parse_progress(line)
            if progress and on_progress:
                on_progress(*progress)
            if on_line:
                on_line(line)
        return proc.wait()

    cache_args = cmake_cache_args(project, options)
    # What configuring depends on beyond the arguments: whether AUTO finds the CUTLASS headers (installing
    # nvidia-cutlass after a build without it, then `kernelkit build`, must configure again to get the ops).
    inputs = [*cache_args, *_found_headers(project, options)]
    configured = False
    options_file = _options_file(project)
    previous = json.loads(options_file.read_text()) if options_file.is_file() else None
    if previous != inputs or not (project.build_dir / "build.ninja").is_file():
        configured = True
        # -U first: CMake reports an unused -D only when it creates the entry, so a typo must be re-created
        # on every configure to be caught every time.
        unset = [arg for name, _ in options.defines for arg in ("-U", name.split(":")[0])]
        # -D entries of the previous build that are not given again are dropped too, so that every
        # flag means "this build" (as --fp4/--arch/--debug do) instead of sticking in the cache: a
        # -D KERNELKIT_CUTLASS_DIR, or --no-cutlass followed by a build without it (AUTO again).
        given = {arg[2:].split("=", 1)[0].split(":")[0] for arg in cache_args}
        for arg in previous or []:
            name = arg[2:].split("=", 1)[0].split(":")[0]
            if arg.startswith("-D") and name not in given:
                unset += ["-U", name]
        cmd = ["cmake", "-S", str(project.library_dir), "-B", str(project.build_dir), "-G", "Ninja"]
        cmd += [*unset, *cache_args]
        if run(cmd) != 0:
            options_file.unlink(missing_ok=True)
            return _finish(project, False, started, configured, log_lines, ccache, before, started_ns)
        _check_unused_defines(options, log_lines)
        options_file.write_text(json.dumps(inputs))
    cmd = ["cmake", "--build", str(project.build_dir)]
    if jobs:
        cmd += ["--parallel", str(jobs)]
    ok = run(cmd) == 0
    _link_compile_commands(project)
    return _finish(project, ok, started, configured, log_lines, ccache, before, started_ns)


def _found_headers(project: Project, options: BuildOptions) -> list[str]:
    """What AUTO would find now, when it looks (no --no-cutlass, no -D KERNELKIT_CUTLASS_DIR naming the folder)."""
    if options.cutlass is False or any(name.split(":")[0] == "KERNELKIT_CUTLASS_DIR" for name, _ in options.defines):
        return []
    return [f"# CUTLASS headers: {features.cutlass_include() or 'none'}"]  # a comment, never passed to CMake


def kernelkit_warnings(log: str) -> list[str]:
    """The texts of CMake's `message(WARNING "kernelkit: ...")` in a configure log, as one line each (CMake
    indents a warning's text under `CMake Warning at file:line (message):` and wraps it at spaces)."""
    found: list[str] = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("CMake Warning"):
            continue
        body: list[str] = []
        for follow in lines[i + 1 :]:
            if not follow.strip():
                if body:
                    break
                continue
            if not follow.startswith(" "):
                break
            body.append(follow.strip())
        text = " ".join(body)
        if text.startswith("kernelkit:") and text not in found:
            found.append(text)
    return found


def _left_out(project: Project) -> dict[str, tuple[list[str], str]]:
    """The ops of a feature a plain build has wherever it can (CUTLASS) that the built library lacks, and why."""
    left: dict[str, tuple[list[str], str]] = {}
    ops = None
    states = features.statuses(project)
    missing = {state.feature.name for state in states if state.built is not True}
    for state in states:
        if not state.feature.on_by_default or state.built is not False:
            continue
        try:
            ops = registry.scan(project) if ops is None else ops
        except KernelkitError:  # a tree `check` has findings about: the build's report does without this line
            return left
        # An op that also needs a feature the build lacks anyway (an FP4 GEMM without --fp4) is not left out by this.
        lacking = [
            name
            for name, op in ops.items()
            if state.feature.name in op.needs and missing & set(op.needs) == {state.feature.name}
        ]
        if lacking:
            left[state.feature.name] = (lacking, state.describe())
    return left


def _check_unused_defines(options: BuildOptions, log_lines: list[str]) -> None:
    """CMake only warns about -D names nobody reads; a typo there should stop the build."""
    text = "\n".join(log_lines)
    marker = "Manually-specified variables were not used by the project:"
    if marker not in text:
        return
    unused = []
    for line in text.split(marker, 1)[1].splitlines()[1:]:
        if line.strip() and not line.startswith(" "):
            break
        if line.strip():
            unused.append(line.strip())
    passed = {name.split(":")[0] for name, _ in options.defines}
    typos = [name for name in unused if name in passed]
    if typos:
        raise KernelkitError(f"-D {', '.join(typos)}: not used by the project's CMakeLists (a typo?)")


def _link_compile_commands(project: Project) -> None:
    """compile_commands.json at the root, where clangd looks first."""
    target = project.build_dir / "compile_commands.json"
    link = project.root / "compile_commands.json"
    if target.is_file() and not link.exists() and not link.is_symlink():
        try:
            link.symlink_to(target.relative_to(project.root))
        except OSError:
            pass


def _finish(project, ok, started, configured, log_lines, ccache, before, started_ns) -> BuildResult:
    after = read_ccache_stats(ccache.path) if ccache.found else None
    delta = after - before if (after and before) else None
    steps = sum(1 for line in log_lines if parse_progress(line))
    log = "\n".join(log_lines)
    library = next(iter(sorted(project.python_package_dir.glob("_*.so"))), None)
    return BuildResult(
        ok=ok,
        elapsed_s=time.perf_counter() - started,
        configured=configured,
        steps=steps,
        ccache=delta,
        errors=[] if ok else [clickable(e, project.build_dir, project.root) for e in extract_errors(log)],
        log=log,
        library=library if ok else None,
        slowest=_slowest(project, started_ns),
        warnings=kernelkit_warnings(log),
        left_out=_left_out(project) if ok else {},
    )


def _slowest(project: Project, started_ns: int) -> list[ninjalog.Step]:
    try:
        return ninjalog.read_ranking(project.build_dir, started_ns)
    except KernelkitError:  # a log Ninja wrote in a format we do not know costs the ranking, not the build
        return []
