"""The manylinux audit behind `kernelkit release --wheel` (kernelkit/builder/manylinux.py): the tag table, and the
audit of real shared objects compiled here (what they link, their RUNPATH, the symbol versions they need)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kernelkit.builder import manylinux
from kernelkit.errors import KernelkitError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "needs, arch, tag",
    [
        ({"GLIBC": "2.34", "GLIBCXX": "3.4.29", "CXXABI": "1.3.9", "GCC": "3.0"}, "x86_64", "manylinux_2_34_x86_64"),
        ({"GLIBC": "2.34", "GLIBCXX": "3.4.30"}, "x86_64", "manylinux_2_35_x86_64"),  # gcc 12's libstdc++
        ({"GLIBC": "2.17"}, "x86_64", "manylinux_2_17_x86_64"),
        ({"GLIBC": "2.2.5"}, "x86_64", "manylinux_2_17_x86_64"),  # the oldest policy kept
        ({"GLIBC": "2.32"}, "x86_64", "manylinux_2_34_x86_64"),  # the next policy with a table
        ({"GLIBC": "2.28", "CXXABI": "1.3.15"}, "x86_64", "manylinux_2_39_x86_64"),
        ({"GLIBC": "2.28", "GCC": "12.0.0"}, "x86_64", "manylinux_2_35_x86_64"),
        ({"GLIBC": "2.42"}, "x86_64", None),  # newer than every known policy
        ({"GLIBC": "2.18"}, "aarch64", "manylinux_2_17_aarch64"),
        ({"GLIBC": "2.17"}, "riscv64", None),
        ({}, "x86_64", "manylinux_2_17_x86_64"),
    ],
)
def test_the_lowest_policy_that_covers_every_version(needs: dict[str, str], arch: str, tag: str | None) -> None:
    assert manylinux.platform_tag(needs, arch) == tag


@pytest.fixture(scope="module")
def cc() -> str:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or shutil.which("readelf") is None or shutil.which("nm") is None:
        pytest.skip("needs a C compiler and binutils")
    return compiler


def shared(cc: str, folder: Path, name: str, code: str, *flags: str) -> Path:
    source = folder / f"{name}.c"
    source.write_text(code)
    out = folder / f"{name}.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(out), str(source), *flags], check=True, capture_output=True)
    return out


def test_a_plain_library_gets_a_tag_from_its_glibc_versions(cc: str, tmp_path: Path) -> None:
    lib = shared(
        cc, tmp_path, "plain", "#include <string.h>\nvoid f(char *d, const char *s, int n) { memcpy(d, s, n); }\n"
    )
    audit = manylinux.audit_library(lib, arch="x86_64")
    assert audit.problems == [] and audit.needed == ["libc.so.6"]
    assert "GLIBC" in audit.needs and audit.tag == manylinux.platform_tag(audit.needs, "x86_64")


def test_torch_libraries_are_left_to_torch(cc: str, tmp_path: Path) -> None:
    fake = shared(
        cc, tmp_path, "libtorch_cpu", "int aoti_torch_version(void) { return 1; }\n", "-Wl,-soname,libtorch_cpu.so"
    )
    (tmp_path / "libtorch_cpu.so").write_bytes(fake.read_bytes())
    lib = shared(
        cc, tmp_path, "ops", "int aoti_torch_version(void);\nint f(void) { return aoti_torch_version(); }\n",
        f"-L{tmp_path}", "-ltorch_cpu",
    )  # fmt: skip
    audit = manylinux.audit_library(lib, arch="x86_64")
    assert audit.left_to_torch == ["libtorch_cpu.so"] and audit.problems == [] and audit.tag


def test_a_foreign_library_an_absolute_runpath_and_a_dynamic_cuda_runtime_are_refused(cc: str, tmp_path: Path) -> None:
    shared(cc, tmp_path, "libextra", "int extra(void) { return 2; }\n", "-Wl,-soname,libextra.so")
    (tmp_path / "libextra.so").write_bytes((tmp_path / "libextra.so").read_bytes())
    lib = shared(
        cc, tmp_path, "bad", "int extra(void);\nint f(void) { return extra(); }\n",
        f"-L{tmp_path}", "-lextra", f"-Wl,-rpath,{tmp_path}", "-Wl,--enable-new-dtags",
    )  # fmt: skip
    audit = manylinux.audit_library(lib, arch="x86_64")
    assert audit.tag is None
    assert "links libextra.so, which a manylinux system need not have" in audit.problems
    assert f"RPATH/RUNPATH {tmp_path} points into the build machine" in audit.problems
    cudart = Path("/usr/local/cuda/lib64/libcudart.so")
    if cudart.exists():
        code = "int cudaGetDeviceCount(int *);\nint f(int *n) { return cudaGetDeviceCount(n); }\n"
        dynamic = shared(cc, tmp_path, "dyn", code, str(cudart))
        problems = manylinux.audit_library(dynamic, arch="x86_64").problems
        assert any("link the CUDA runtime statically (CUDA::cudart_static)" in p for p in problems), problems


def test_a_wheel_with_a_problem_gets_no_tag_and_says_why(cc: str, tmp_path: Path) -> None:
    good = manylinux.LibraryAudit("a/_good.so", {"GLIBC": "2.28"}, tag="manylinux_2_28_x86_64")
    newer = manylinux.LibraryAudit("a/_newer.so", {"GLIBC": "2.34"}, tag="manylinux_2_34_x86_64")
    assert manylinux.wheel_tag([good, newer]) == "manylinux_2_34_x86_64"  # the newest library decides
    bad = manylinux.LibraryAudit("a/_bad.so", problems=["links libfoo.so, which a manylinux system need not have"])
    with pytest.raises(KernelkitError) as info:
        manylinux.wheel_tag([good, bad])
    assert "cannot get a manylinux tag" in str(info.value)
    assert info.value.details == ["a/_bad.so: links libfoo.so, which a manylinux system need not have"]


def test_the_built_library_needs_only_the_system_and_torch() -> None:
    """The in-tree build: versioned runtime symbols only, libtorch_cpu left to torch, the stable ABI; its one problem
    is CMake's build-tree RUNPATH, which `install` (what the wheel holds) strips."""
    built = sorted((REPO_ROOT / "library/python/kernelkit_ops").glob("_kernelkit_ops*.so"))
    assert built, "the library is not built (kernelkit build)"
    audit = manylinux.audit_library(built[0])
    assert audit.left_to_torch == ["libtorch_cpu.so"]
    assert set(audit.needed) <= manylinux.SYSTEM_LIBRARIES | {"libtorch_cpu.so"}
    assert all(p.startswith("RPATH/RUNPATH ") for p in audit.problems), audit.problems
    assert manylinux.platform_tag(audit.needs, manylinux.machine()) is not None


def test_retag_rewrites_the_name_the_wheel_file_and_the_record(tmp_path: Path) -> None:
    pytest.importorskip("wheel", reason="retagging uses the `wheel` package's `wheel tags`")
    wheel = tmp_path / "demo-1.0-py3-none-linux_x86_64.whl"
    files = {
        "demo/__init__.py": b"",
        "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
        b"Tag: py3-none-linux_x86_64\n",
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in files.items()
    )
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("demo-1.0.dist-info/RECORD", record + "demo-1.0.dist-info/RECORD,,\n")
    out = manylinux.retag(wheel, "manylinux_2_34_x86_64")
    assert out.name == "demo-1.0-py3-none-manylinux_2_34_x86_64.whl" and not wheel.exists()
    with zipfile.ZipFile(out) as zf:
        assert "Tag: py3-none-manylinux_2_34_x86_64" in zf.read("demo-1.0.dist-info/WHEEL").decode()
        assert "demo-1.0.dist-info/WHEEL,sha256=" in zf.read("demo-1.0.dist-info/RECORD").decode()
    assert manylinux.retag(out, "manylinux_2_34_x86_64") == out  # already so: unchanged
    from packaging.tags import sys_tags

    if not any(tag.platform == "manylinux_2_34_x86_64" for tag in sys_tags()):
        return  # pip here would rightly refuse it: this Linux is older than the tag
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--dry-run", "--quiet", str(out)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr  # pip accepts the tag on this (glibc >= 2.34) machine
