"""`kernelkit check --abi`: the built library asks torch for nothing beyond the stable C shim, and a binding
compiled against torch's C++ API is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kernelkit.builder import abi, doctor
from kernelkit.errors import KernelkitError

NM_OUTPUT = """\
                 w __gmon_start__
                 U _ZN3c106detail14torchCheckFailEPKcS2_jRKSs
                 U _ZNKSt7__cxx1115basic_stringbufIcSt11char_traitsIcESaIcEE3strEv@GLIBCXX_3.4.21
                 U _ZNSt7__cxx1118basic_stringstreamIcSt11char_traitsIcESaIcEEC1Ev@GLIBCXX_3.4.26
                 U __cxa_throw@CXXABI_1.3
                 U _Unwind_Resume@GCC_3.0
                 U aoti_torch_get_numel
                 U torch_call_dispatcher
                 U aoti_torch_brand_new_thing
                 U cudaLaunchKernel
                 U memcpy@GLIBC_2.14
                 U dlopen@GLIBC_2.34
                 U pthread_create@GLIBC_2.2.5
                 U _ZNK2at10TensorBase4sizeEl
                 U mystery_function
"""
DECLARED = {"aoti_torch_get_numel", "torch_call_dispatcher"}


def _names(report, category):
    return [s.name for s in report.by_category.get(category, [])]


def test_parse_nm_reads_kind_name_and_version():
    symbols = abi.parse_nm(NM_OUTPUT)
    assert len(symbols) == 15
    assert symbols[0] == abi.Symbol("__gmon_start__", None, True)
    assert abi.Symbol("memcpy", "GLIBC_2.14", False) in symbols


def test_classify_sorts_every_symbol_and_refuses_torch_cxx():
    report = abi.classify(abi.parse_nm(NM_OUTPUT), DECLARED, Path("x.so"))
    assert _names(report, abi.SHIM) == ["aoti_torch_get_numel", "torch_call_dispatcher"]
    assert _names(report, abi.SHIM_UNDECLARED) == ["aoti_torch_brand_new_thing"]
    assert _names(report, abi.CUDA) == ["cudaLaunchKernel"]
    assert _names(report, abi.WEAK) == ["__gmon_start__"]
    assert _names(report, abi.TORCH_CXX) == ["_ZN3c106detail14torchCheckFailEPKcS2_jRKSs", "_ZNK2at10TensorBase4sizeEl"]
    assert _names(report, abi.UNKNOWN) == ["mystery_function"]
    assert len(_names(report, abi.RUNTIME)) == 7
    # The newest version per runtime, compared as numbers (2.34 > 2.14 > 2.2.5), not as text.
    assert report.newest == {
        "GLIBC": "GLIBC_2.34",
        "GLIBCXX": "GLIBCXX_3.4.26",
        "CXXABI": "CXXABI_1.3",
        "GCC": "GCC_3.0",
    }
    assert not report.ok
    assert [s.name for s in report.forbidden][-1] == "mystery_function"
    data = report.to_json()
    assert data["ok"] is False and len(data["forbidden"]) == 3
    assert data["categories"][abi.SHIM_UNDECLARED]["allowed"] is True  # a warning: a newer torch may declare it


def test_demangled_names_decide_when_present():
    # std::vector<at::Tensor> is torch's C++ ABI even though the outer name is std's.
    sym = abi.Symbol("_ZNSt6vectorIN2at6TensorEED1Ev", None, False, "std::vector<at::Tensor>::~vector()")
    plain = abi.Symbol("_ZN4math3addEv", None, False, "math::add()")
    report = abi.classify([sym, plain], DECLARED, Path("x.so"))
    assert _names(report, abi.TORCH_CXX) == [sym.name]
    assert _names(report, abi.UNKNOWN) == [plain.name]


def test_shim_declarations_come_from_this_torchs_headers():
    declared = abi.shim_declarations(abi.torch_include_dir())
    assert declared is not None
    assert {"aoti_torch_get_numel", "torch_call_dispatcher", "aoti_torch_abi_version"} <= declared
    assert abi.shim_declarations(None) is None


def _compile_so(tmp_path: Path, source: str) -> Path:
    gxx = shutil.which("g++")
    assert gxx, "g++ is part of the build toolchain"
    src = tmp_path / "binding.cc"
    src.write_text(source)
    out = tmp_path / "libplanted.so"
    subprocess.run([gxx, "-shared", "-fPIC", "-O1", "-o", str(out), str(src)], check=True, capture_output=True)
    return out


# A binding that calls one function of torch's C++ API (declared here, as <c10/...> would): the mangled
# undefined symbol it leaves is what ties a build to one torch.
UNSTABLE_BINDING = """
#include <cstdint>
namespace c10::detail {
void torchCheckFail(const char* func, const char* file, uint32_t line, const char* msg);
}
extern "C" uint64_t aoti_torch_abi_version();
extern "C" uint64_t planted_entry(int x) {
  if (x < 0) c10::detail::torchCheckFail("planted", __FILE__, __LINE__, "negative");
  return aoti_torch_abi_version();
}
"""
STABLE_BINDING = """
#include <cstdint>
extern "C" uint64_t aoti_torch_abi_version();
extern "C" uint64_t planted_entry() { return aoti_torch_abi_version(); }
"""


def test_a_binding_against_the_unstable_api_is_refused(tmp_path):
    report = abi.audit(_compile_so(tmp_path, UNSTABLE_BINDING))
    assert not report.ok
    assert [s.shown for s in report.forbidden] == [
        "c10::detail::torchCheckFail(char const*, char const*, unsigned int, char const*)"
    ]
    assert _names(report, abi.SHIM) == ["aoti_torch_abi_version"]


def test_a_binding_on_the_shim_alone_passes(tmp_path):
    report = abi.audit(_compile_so(tmp_path, STABLE_BINDING))
    assert report.ok, report.to_json()


def test_the_built_library_passes():
    import kernelkit_ops

    report = abi.audit(Path(kernelkit_ops.LIBRARY_PATH))
    assert report.ok, report.to_json()["forbidden"]
    assert len(report.by_category[abi.SHIM]) > 10
    assert abi.SHIM_UNDECLARED not in report.by_category
    assert report.newest["GLIBC"].startswith("GLIBC_2.")


def test_cli_check_abi_refuses_the_planted_binding(cli, tmp_path):
    so = _compile_so(tmp_path, UNSTABLE_BINDING)
    result = cli("check", "--library", str(so))
    assert result.exit_code == 1, result.output
    flat = " ".join(result.stdout.split())
    assert "abi failed: 1 symbol tie" in flat
    assert "c10::detail::torchCheckFail" in flat
    assert "Traceback" not in result.output
    data = json.loads(cli("check", "--library", str(so), "--json").stdout)
    assert data["ok"] is False and data["abi"]["forbidden"][0].startswith("c10::detail::torchCheckFail")


def test_cli_check_abi_passes_on_the_built_library(cli):
    result = cli("check", "--abi")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "abi passed" in flat and "newest runtime versions needed: GLIBC_2." in flat


def test_cli_check_abi_on_a_missing_or_bad_file_is_one_line(cli, tmp_path):
    result = cli("check", "--library", str(tmp_path / "nope.so"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "no such library" in result.stderr
    text = tmp_path / "text.so"
    text.write_text("not elf")
    result = cli("check", "--library", str(text))
    assert result.exit_code == 1 and "not a shared library" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_audit_without_nm_says_what_to_install(tmp_path, monkeypatch):
    so = tmp_path / "x.so"
    so.write_bytes(b"\x7fELF")
    monkeypatch.setattr(abi, "which", lambda name: None)
    with pytest.raises(KernelkitError, match="`nm` not found"):
        abi.audit(so)


def test_doctor_has_an_abi_line(tmp_path):
    from kernelkit.project import find_project

    checks = doctor.check_abi(find_project())
    assert len(checks) == 1 and checks[0].name == "abi" and checks[0].ok, checks
    assert checks[0].required is False
