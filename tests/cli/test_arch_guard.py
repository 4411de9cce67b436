"""The import-time arch guard (library/python/kernelkit_ops/_archguard.py): the SASS compatibility rule, how the
visible GPUs are found (NVML, CUDA_VISIBLE_DEVICES), the verdicts and their messages, the escape hatch, and that
importing the library never initializes CUDA.

The guard's logic is tested on its own module, loaded from its file (no torch, no build needed); the import itself
against the built library with a fake NVML (a tiny C library named libnvidia-ml.so.1 found first through
LD_LIBRARY_PATH) whose GPUs the test chooses: the real ctypes path, on a CPU machine or the GPU machine alike.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GUARD_FILE = REPO_ROOT / "library/python/kernelkit_ops/_archguard.py"


def _load_guard():
    spec = importlib.util.spec_from_file_location("_archguard_under_test", GUARD_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the class body runs
    spec.loader.exec_module(module)
    return module


guard = _load_guard()

H100 = ("NVIDIA H100 80GB HBM3", (9, 0))
B200 = ("NVIDIA B200", (10, 0))
B300 = ("NVIDIA B300", (10, 3))
A10 = ("NVIDIA A10", (8, 6))
RTX5090 = ("NVIDIA GeForce RTX 5090", (12, 0))


def fake_nvml(monkeypatch: pytest.MonkeyPatch, devices) -> list[int]:
    """NVML answers `devices` (None: no NVML); returns a list that counts the calls."""
    calls: list[int] = []

    def answer():
        calls.append(1)
        return list(devices) if devices is not None else None

    monkeypatch.setattr(guard, "nvml_devices", answer)
    return calls


# ----------------------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    "arch, capability, runs",
    [
        # plain SASS: the same major, a minor at least the target's
        ("80", (8, 0), True),
        ("80", (8, 6), True),
        ("80", (8, 9), True),
        ("86", (8, 0), False),
        ("80", (9, 0), False),  # no PTX: nothing to JIT for a newer major
        ("90", (9, 0), True),
        ("120", (12, 1), True),
        ("90", (8, 9), False),
        # architecture-specific: exactly that capability
        ("90a", (9, 0), True),
        ("90a", (10, 0), False),
        ("90a", (8, 6), False),
        ("90a", (12, 0), False),
        ("100a", (10, 0), True),
        ("100a", (10, 3), False),
        ("100a", (9, 0), False),
        ("120a", (12, 1), False),
        ("103a", (10, 3), True),
        # family-specific: the same major (family), a minor at least the target's
        ("100f", (10, 0), True),
        ("100f", (10, 3), True),
        ("103f", (10, 0), False),
        ("103f", (10, 3), True),
        ("100f", (11, 0), False),
        ("100f", (12, 0), False),
        ("120f", (12, 0), True),
        ("120f", (12, 1), True),
        ("120f", (10, 0), False),
        ("sm_90a", (9, 0), True),  # the sm_ spelling is accepted too
    ],
)
def test_the_sass_rule(arch: str, capability: tuple[int, int], runs: bool) -> None:
    assert guard.runs_on(arch, capability) is runs


@pytest.mark.parametrize(
    "text, archs",
    [("90a", ["90a"]), ("90a+100a", ["90a", "100a"]), ("80+86+120f", ["80", "86", "120f"]), ("", []), (None, [])],
)
def test_the_recorded_archs(text: str | None, archs: list[str]) -> None:
    assert guard.parse_archs(text) == archs


@pytest.mark.parametrize("text", ["90x", "sm90a", "compute_90", "9a", "90a+hopper"])
def test_an_unreadable_record_means_unknown_archs(text: str) -> None:
    assert guard.parse_archs(text) == []
    assert guard.assess({"archs": text}, env={}).status == "no-archs"


def test_a_bad_arch_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a CUDA arch"):
        guard.parse_arch("hopper")


@pytest.mark.parametrize(
    "capability, arch", [((9, 0), "90a"), ((10, 0), "100a"), ((10, 3), "103a"), ((12, 0), "120a"), ((8, 6), "86")]
)
def test_the_arch_suggested_for_a_gpu(capability: tuple[int, int], arch: str) -> None:
    assert guard.own_arch(capability) == arch
    assert guard.runs_on(arch, capability)


# ------------------------------------------------------------------------------------ CUDA_VISIBLE_DEVICES


@pytest.mark.parametrize(
    "value, count, indices",
    [
        (None, 3, [0, 1, 2]),
        ("", 3, []),  # an empty list hides every GPU
        ("0,2", 3, [0, 2]),
        ("2,0", 3, [2, 0]),
        (" 1, 0", 3, [1, 0]),
        ("0,7,1", 3, [0]),  # an ordinal past the last GPU ends the list
        ("-1", 3, []),
        ("0,-1,1", 3, [0]),
        ("1gpu", 3, [1]),  # read like strtoul, as CUDA does
        ("a,0", 3, []),
        ("0,0", 3, []),  # a repeated ordinal: no device at all
        ("GPU-8f1c2d3e-0000", 3, None),  # UUIDs and MIG names: every GPU is considered
        ("MIG-GPU-8f1c2d3e/1/0", 3, None),
    ],
)
def test_visible_indices(value: str | None, count: int, indices: list[int] | None) -> None:
    assert guard.visible_indices(value, count) == indices


def test_visible_gpus_are_renumbered_as_cuda_numbers_them() -> None:
    devices = [H100, H100, H100]
    gpus = guard.visible_gpus(devices, {"CUDA_VISIBLE_DEVICES": "2,1"})
    assert [(g.index, g.capability) for g in gpus] == [(0, (9, 0)), (1, (9, 0))]


def test_mixed_gpus_in_pci_order_pick_exactly_the_named_ones() -> None:
    devices = [H100, A10]
    gpus = guard.visible_gpus(devices, {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert [(g.index, g.name) for g in gpus] == [(0, A10[0])]


def test_mixed_gpus_in_cuda_default_order_consider_every_gpu() -> None:
    # CUDA numbers fastest first, NVML by PCI bus: "1" may be either GPU, so neither is left out.
    gpus = guard.visible_gpus([H100, A10], {"CUDA_VISIBLE_DEVICES": "1"})
    assert [g.name for g in gpus] == [H100[0], A10[0]]


def test_uuids_consider_every_gpu() -> None:
    gpus = guard.visible_gpus([H100, A10], {"CUDA_VISIBLE_DEVICES": "GPU-1234"})
    assert len(gpus) == 2


# ------------------------------------------------------------------------------------------------ verdicts


@pytest.mark.parametrize(
    "archs, devices, status",
    [
        ("90a", [H100], "ok"),
        ("90a", [B200], "none"),
        ("100a", [H100], "none"),
        ("90a+100a", [H100, B200], "ok"),
        ("90a+100a", [B300], "none"),  # 100a is exactly 10.0
        ("100f", [B300], "ok"),
        ("80", [A10], "ok"),
        ("80", [H100], "none"),
        ("120f", [RTX5090], "ok"),
        ("120f", [B200], "none"),
        ("90a", [H100, B200], "partial"),
        ("100a", [H100, A10, B200], "partial"),
        ("90a", [], "no-gpu"),
        ("90a", None, "no-nvml"),
    ],
)
def test_verdicts(monkeypatch: pytest.MonkeyPatch, archs: str, devices, status: str) -> None:
    fake_nvml(monkeypatch, devices)
    assert guard.assess({"archs": archs}, env={}).status == status


def test_no_gpu_covered_raises_naming_the_gpu_the_build_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvml(monkeypatch, [H100])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv(guard.SKIP_ENV, raising=False)
    with pytest.raises(ImportError) as info:
        guard.check("kernelkit_ops", {"fp4": "0", "archs": "100a"})
    message = str(info.value)
    assert message.startswith("kernelkit_ops: the compiled library has no kernels for this machine's GPUs")
    assert "GPU 0 (NVIDIA H100 80GB HBM3, compute capability 9.0)" in message
    assert "built for sm_100a only" in message and "no PTX" in message
    assert "`kernelkit build --arch 100a,90a`" in message  # keeps the build's archs, adds the GPU's
    assert "install a build made for sm_90a" in message
    assert f"{guard.SKIP_ENV}=1 skips this check" in message


def test_some_gpus_covered_warns_naming_only_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvml(monkeypatch, [H100, B200, A10])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    monkeypatch.delenv(guard.SKIP_ENV, raising=False)
    with pytest.warns(guard.ArchWarning) as caught:
        assessment = guard.check("mylib", {"archs": "90a"})
    assert assessment.status == "partial" and [g.index for g in assessment.covered] == [0]
    message = str(caught[0].message)
    assert "GPU 1 (NVIDIA B200, compute capability 10.0), GPU 2 (NVIDIA A10, compute capability 8.6)" in message
    assert "GPU 0" not in message and "no kernel image is available" in message
    assert "`kernelkit build --arch 90a,100a,86`" in message and message.startswith("mylib: ")


def test_every_gpu_covered_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvml(monkeypatch, [H100, B200])
    monkeypatch.delenv(guard.SKIP_ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert guard.check("kernelkit_ops", {"archs": "90a+100a"}).status == "ok"


def test_cuda_visible_devices_hides_the_uncovered_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvml(monkeypatch, [H100, B200])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    monkeypatch.delenv(guard.SKIP_ENV, raising=False)
    assert guard.check("kernelkit_ops", {"archs": "100a"}).status == "ok"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(ImportError, match=r"GPU 0 \(NVIDIA H100 80GB HBM3, compute capability 9\.0\)"):
        guard.check("kernelkit_ops", {"archs": "100a"})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU at all: nothing to check
    assert guard.check("kernelkit_ops", {"archs": "100a"}).status == "no-gpu"


@pytest.mark.parametrize("value, skipped", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_the_escape_hatch(monkeypatch: pytest.MonkeyPatch, value: str, skipped: bool) -> None:
    calls = fake_nvml(monkeypatch, [H100])
    assessment = guard.assess({"archs": "100a"}, env={guard.SKIP_ENV: value})
    assert (assessment.status == "skipped") is skipped
    assert (not calls) is skipped  # a skipped check does not even ask NVML
    if not skipped:
        assert assessment.status == "none"


def test_without_nvml_or_archs_nothing_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_nvml(monkeypatch, None)
    assert guard.check("kernelkit_ops", {"archs": "100a"}).status == "no-nvml"
    assert guard.check("kernelkit_ops", {"fp4": "1"}).status == "no-archs"  # a build that predates the record
    assert len(calls) == 1  # without a record NVML is not asked


def test_doctor_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvml(monkeypatch, [H100, B200])
    line = guard.assess({"archs": "90a"}, env={"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}).line()
    assert line == (
        "built for sm_90a; GPU 0 (NVIDIA H100 80GB HBM3, compute capability 9.0): covered; "
        "GPU 1 (NVIDIA B200, compute capability 10.0): NOT covered"
    )
    fake_nvml(monkeypatch, None)
    assert "no NVML" in guard.assess({"archs": "90a+100a"}, env={}).line()
    assert "sm_90a + sm_100a" in guard.assess({"archs": "90a+100a"}, env={}).line()
    assert guard.SKIP_ENV in guard.assess({"archs": "90a"}, env={guard.SKIP_ENV: "1"}).line()


# -------------------------------------------------------------------------------------- NVML through ctypes


class _FakeLib:
    """Stands in for ctypes.CDLL(libnvidia-ml.so.1): the functions write through the byref()s they get."""

    def __init__(self, caps, fail: str | None = None):
        self.caps, self.fail, self.shutdowns = caps, fail, 0

        def fn(name, body):
            def call(*args):
                return 999 if self.fail == name else body(*args)

            call.argtypes = None
            return call

        self.nvmlInit_v2 = fn("nvmlInit_v2", lambda: 0)
        self.nvmlDeviceGetCount_v2 = fn("nvmlDeviceGetCount_v2", self._count)
        self.nvmlDeviceGetHandleByIndex_v2 = fn("nvmlDeviceGetHandleByIndex_v2", self._handle)
        self.nvmlDeviceGetCudaComputeCapability = fn("nvmlDeviceGetCudaComputeCapability", self._cap)
        self.nvmlDeviceGetName = fn("nvmlDeviceGetName", self._name)

    def nvmlShutdown(self):
        self.shutdowns += 1
        return 0

    def _count(self, ref):
        ref._obj.value = len(self.caps)
        return 0

    def _handle(self, index, ref):
        ref._obj.value = index + 1
        return 0

    def _cap(self, handle, major, minor):
        major._obj.value, minor._obj.value = self.caps[handle.value - 1]
        return 0

    def _name(self, handle, buf, length):
        buf.value = f"Fake {handle.value - 1}".encode()
        return 0


def test_nvml_devices_reads_capabilities_and_shuts_nvml_down(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = _FakeLib([(9, 0), (10, 3)])
    monkeypatch.setattr(guard.ctypes, "CDLL", lambda name: lib if name == guard.NVML_LIBRARY else None)
    assert guard.nvml_devices() == [("Fake 0", (9, 0)), ("Fake 1", (10, 3))]
    assert lib.shutdowns == 1


@pytest.mark.parametrize("fail", ["nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetCudaComputeCapability"])
def test_an_nvml_error_means_no_nvml(monkeypatch: pytest.MonkeyPatch, fail: str) -> None:
    lib = _FakeLib([(9, 0)], fail=fail)
    monkeypatch.setattr(guard.ctypes, "CDLL", lambda name: lib)
    assert guard.nvml_devices() is None
    assert lib.shutdowns == (0 if fail == "nvmlInit_v2" else 1)


def test_a_missing_name_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = _FakeLib([(9, 0)], fail="nvmlDeviceGetName")
    monkeypatch.setattr(guard.ctypes, "CDLL", lambda name: lib)
    assert guard.nvml_devices() == [("unnamed GPU", (9, 0))]


def test_no_driver_library_means_no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(guard.ctypes, "CDLL", missing)
    assert guard.nvml_devices() is None


# ------------------------------------------------------------------------- importing the built library

_FAKE_NVML_C = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* FAKE_NVML_CAPS="9.0,10.0": one GPU per entry. */
static int caps(int *major, int *minor, int max) {
  const char *text = getenv("FAKE_NVML_CAPS");
  int n = 0;
  while (text && *text && n < max) {
    if (sscanf(text, "%d.%d", &major[n], &minor[n]) != 2) break;
    n++;
    text = strchr(text, ',');
    if (text) text++;
  }
  return n;
}
int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned *count) {
  int major[16], minor[16];
  *count = (unsigned)caps(major, minor, 16);
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void **handle) {
  *handle = (void *)(uintptr_t)(index + 1);
  return 0;
}
int nvmlDeviceGetCudaComputeCapability(void *handle, int *major, int *minor) {
  int ma[16], mi[16];
  int i = (int)(uintptr_t)handle - 1;
  if (i < 0 || i >= caps(ma, mi, 16)) return 2;
  *major = ma[i];
  *minor = mi[i];
  return 0;
}
int nvmlDeviceGetName(void *handle, char *name, unsigned length) {
  snprintf(name, length, "Fake GPU %d", (int)(uintptr_t)handle - 1);
  return 0;
}
"""


@pytest.fixture(scope="module")
def fake_nvml_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler to build the fake NVML")
    folder = tmp_path_factory.mktemp("fake_nvml")
    (folder / "nvml.c").write_text(_FAKE_NVML_C)
    subprocess.run(
        [cc, "-shared", "-fPIC", "-o", str(folder / "libnvidia-ml.so.1"), str(folder / "nvml.c")], check=True
    )
    return folder


_IMPORT = textwrap.dedent(
    """
    import json, warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        try:
            import kernelkit_ops
            error = None
        except ImportError as exc:
            error = str(exc)
    import torch
    print(json.dumps({
        "error": error,
        "warnings": [str(w.message) for w in caught if type(w.message).__name__ == "ArchWarning"],
        "archs": None if error else kernelkit_ops._library.features().get("archs"),
        "cuda_initialized": torch.cuda.is_initialized(),
    }))
    """
)


def import_with(fake_nvml_dir: Path, caps: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "KERNELKIT_SKIP_ARCH_CHECK")}
    environ.update(env, FAKE_NVML_CAPS=caps)
    environ["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(fake_nvml_dir), environ.get("LD_LIBRARY_PATH")]))
    out = subprocess.run([sys.executable, "-c", _IMPORT], capture_output=True, text=True, env=environ, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def built_archs() -> list[str]:
    from kernelkit.builder import features

    library = sorted((REPO_ROOT / "library/python/kernelkit_ops").glob("_kernelkit_ops*.so"))
    assert library, "the library is not built (kernelkit build)"
    archs = guard.parse_archs((features.read_features(library[0]) or {}).get("archs"))
    assert archs, "the built library records no archs: rebuild it (kernelkit build)"
    return archs


def _a_gpu_the_build_cannot_run(archs: list[str]) -> str:
    for major, minor in ((8, 6), (9, 0), (10, 0), (12, 0), (7, 5)):
        if not any(guard.runs_on(a, (major, minor)) for a in archs):
            return f"{major}.{minor}"
    raise AssertionError(f"every candidate capability runs {archs}")


def _a_gpu_the_build_runs(archs: list[str]) -> str:
    major, minor, _ = guard.parse_arch(archs[0])
    return f"{major}.{minor}"


def test_import_refuses_a_gpu_the_build_has_no_kernels_for(fake_nvml_dir: Path, built_archs: list[str]) -> None:
    cc = _a_gpu_the_build_cannot_run(built_archs)
    result = import_with(fake_nvml_dir, cc)
    assert result["error"] is not None, result
    assert f"GPU 0 (Fake GPU 0, compute capability {cc})" in result["error"]
    assert "built for " + " + ".join(f"sm_{a}" for a in built_archs) + " only" in result["error"]
    assert "`kernelkit build --arch " + ",".join(built_archs) in result["error"]
    assert result["cuda_initialized"] is False


def test_import_goes_on_with_the_escape_hatch(fake_nvml_dir: Path, built_archs: list[str]) -> None:
    result = import_with(fake_nvml_dir, _a_gpu_the_build_cannot_run(built_archs), KERNELKIT_SKIP_ARCH_CHECK="1")
    assert result["error"] is None and result["archs"] == "+".join(built_archs)


def test_import_on_a_covered_gpu_is_silent(fake_nvml_dir: Path, built_archs: list[str]) -> None:
    result = import_with(fake_nvml_dir, _a_gpu_the_build_runs(built_archs))
    assert result["error"] is None and result["warnings"] == [], result


def test_import_with_one_covered_gpu_warns_about_the_other(fake_nvml_dir: Path, built_archs: list[str]) -> None:
    bad, good = _a_gpu_the_build_cannot_run(built_archs), _a_gpu_the_build_runs(built_archs)
    result = import_with(fake_nvml_dir, f"{good},{bad}", CUDA_DEVICE_ORDER="PCI_BUS_ID")
    assert result["error"] is None
    assert len(result["warnings"]) == 1 and f"GPU 1 (Fake GPU 1, compute capability {bad})" in result["warnings"][0]
    # only the covered GPU visible: nothing to say
    result = import_with(fake_nvml_dir, f"{good},{bad}", CUDA_DEVICE_ORDER="PCI_BUS_ID", CUDA_VISIBLE_DEVICES="0")
    assert result["error"] is None and result["warnings"] == []


def test_import_without_nvml_goes_on(tmp_path: Path, built_archs: list[str]) -> None:
    # An empty folder first on the search path changes nothing on a machine without the driver; on the GPU
    # machine the real NVML answers, and the real GPU is covered by the build the suite runs against.
    result = import_with(tmp_path, "")
    assert result["error"] is None


def test_doctor_gives_the_same_verdict_in_one_line(fake_nvml_dir: Path, built_archs: list[str]) -> None:
    bad = _a_gpu_the_build_cannot_run(built_archs)
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "KERNELKIT_SKIP_ARCH_CHECK")}
    env.update(FAKE_NVML_CAPS=bad, LD_LIBRARY_PATH=str(fake_nvml_dir))
    out = subprocess.run(
        [sys.executable, "-m", "kernelkit", "doctor", "--json"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    arch = checks["arch"]
    assert arch["ok"] is False and arch["required"] is False, arch
    assert f"GPU 0 (Fake GPU 0, compute capability {bad}): NOT covered" in arch["detail"]
    assert arch["fix"].startswith("kernelkit build --arch " + ",".join(built_archs) + ",")
    # the library line says why the import fails: the same message
    assert "has no kernels for this machine's GPUs" in checks["library"]["detail"]


_CUDA_STATE = textwrap.dedent(
    """
    import ctypes, json
    import torch
    def driver_state():
        # CUDA_ERROR_NOT_INITIALIZED (3) until someone calls cuInit; asking does not initialize anything.
        try:
            libcuda = ctypes.CDLL("libcuda.so.1")
        except OSError:
            return None
        return libcuda.cuCtxGetCurrent(ctypes.byref(ctypes.c_void_p()))
    before = driver_state()
    import kernelkit_ops
    print(json.dumps({"before": before, "after": driver_state(), "torch": torch.cuda.is_initialized()}))
    """
)


def test_importing_does_not_initialize_cuda() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KERNELKIT_SKIP_ARCH_CHECK"}
    out = subprocess.run([sys.executable, "-c", _CUDA_STATE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["torch"] is False, state
    # On a machine with the driver: the import left it exactly as torch's import did (not initialized), so a
    # worker forked after `import kernelkit_ops` starts clean.
    assert state["after"] == state["before"], state
    if state["before"] is not None:
        assert state["before"] == 3, state


# ------------------------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_nvml_agrees_with_cuda_on_every_gpu(built_archs: list[str]) -> None:
    """On the device: NVML's capabilities are CUDA's (read in a child, so NVML answers before any CUDA call),
    and the suite's build covers the GPU (the guard lets the import through)."""
    record = "+".join(built_archs)
    code = textwrap.dedent(
        f"""
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("g", {str(GUARD_FILE)!r})
        g = importlib.util.module_from_spec(spec); sys.modules["g"] = g; spec.loader.exec_module(g)
        nvml = g.nvml_devices()
        status = g.assess({{"archs": {record!r}}}, env={{}}).status
        import torch
        cuda = [list(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())]
        print(json.dumps({{"nvml": [list(c) for _, c in nvml] if nvml is not None else None, "cuda": cuda,
                          "status": status}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")}
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["nvml"] is not None and result["nvml"] == result["cuda"], result
    assert result["status"] in ("ok", "partial"), result
