"""Build error rendering: the file:line lines pulled out of compiler/linker/CMake logs, and a real failing build."""

from __future__ import annotations

import re
import shutil

import pytest

from kernelkit.builder.buildsys import extract_errors, parse_progress

GCC_LOG = """\
[1/4] Building CXX object CMakeFiles/kernelkit_ops.dir/csrc/activation/silu_and_mul.cc.o
FAILED: CMakeFiles/kernelkit_ops.dir/csrc/activation/silu_and_mul.cc.o
/usr/bin/g++ -DTORCH_TARGET_VERSION=0x020a000000000000 -O3 -c ../../library/csrc/activation/silu_and_mul.cc
../../library/csrc/activation/silu_and_mul.cc: In function 'void kernelkit::binding::silu_and_mul(Tensor, Tensor)':
../../library/csrc/activation/silu_and_mul.cc:42:17: warning: unused variable 'n' [-Wunused-variable]
../../library/csrc/activation/silu_and_mul.cc:57:3: error: expected ';' before '}' token
   57 |   }
      |   ^
../../library/csrc/activation/silu_and_mul.cc:57:3: error: expected ';' before '}' token
/abs/library/include/kernelkit/binding.h:9:10: fatal error: missing.h: No such file or directory
    9 | #include "missing.h"
      |          ^~~~~~~~~~~
compilation terminated.
ninja: build stopped: subcommand failed.
"""

NVCC_LOG = """\
[2/4] Building CUDA object CMakeFiles/kernelkit_ops.dir/csrc/activation/silu_and_mul.cu.o
FAILED: CMakeFiles/kernelkit_ops.dir/csrc/activation/silu_and_mul.cu.o
/usr/local/bin/nvcc -forward-unknown-to-host-compiler -c ../../library/csrc/activation/silu_and_mul.cu
file.cu(12): error: identifier "undefined_thing" is undefined
file.cu(5): warning #177-D: variable "unused" was declared but never referenced

Remark: The warnings can be suppressed with "-diag-suppress <warning-number>"

../../library/csrc/activation/silu_and_mul.cu(21): error: expected a declaration
../../library/include/kernelkit/families/gated_activation.cuh(3): catastrophic error: cannot open source file "nope.cuh"
2 errors detected in the compilation of "../../library/csrc/activation/silu_and_mul.cu".
nvcc fatal   : Unsupported gpu architecture 'compute_50'
"""

LD_LOG = """\
[4/4] Linking CXX shared library /w/library/python/kernelkit_ops/_kernelkit_ops.so
FAILED: /w/library/python/kernelkit_ops/_kernelkit_ops.so
: && /usr/bin/g++ -fPIC -shared -Wl,--no-undefined -o _kernelkit_ops.so silu_and_mul.cc.o silu_and_mul.cu.o && :
/usr/bin/ld: silu_and_mul.cc:(.text+0x1998): undefined reference to `kernelkit::launch_silu_and_mul(void*, void const*, long, long, long, long, kernelkit::DType, CUstream_st*)'
/usr/bin/ld: cannot find -lcudart_static: No such file or directory
ld.lld: error: undefined symbol: kernelkit::launch_gelu_and_mul
ninja: build stopped: subcommand failed.
"""  # noqa: E501  (a linker's line, as long as it is)

CMAKE_LOG = """\
-- The CXX compiler identification is GNU 12.2.0
-- kernelkit: ccache = /usr/bin/ccache
CMake Error at CMakeLists.txt:44 (message):
  kernelkit: `/usr/bin/python3` cannot import torch (need torch >= 2.10)


-- Configuring incomplete, errors occurred!
CMake Error: The source directory "/nowhere" does not exist.
"""


def test_gcc_errors():
    errors = extract_errors(GCC_LOG)
    assert errors == [
        "FAILED: CMakeFiles/kernelkit_ops.dir/csrc/activation/silu_and_mul.cc.o",
        # once, deduplicated
        "../../library/csrc/activation/silu_and_mul.cc:57:3: error: expected ';' before '}' token",
        "/abs/library/include/kernelkit/binding.h:9:10: fatal error: missing.h: No such file or directory",
    ]


def test_gcc_warnings_and_context_are_left_out():
    errors = extract_errors(GCC_LOG)
    assert not any("warning" in e for e in errors)
    assert not any(e.lstrip().startswith(("57 |", "|", "In function")) for e in errors)
    assert "compilation terminated." not in errors
    assert not any(e.startswith("/usr/bin/g++") for e in errors)  # the compile command is noise


def test_nvcc_errors():
    errors = extract_errors(NVCC_LOG)
    assert errors == [
        "FAILED: CMakeFiles/kernelkit_ops.dir/csrc/activation/silu_and_mul.cu.o",
        'file.cu(12): error: identifier "undefined_thing" is undefined',
        "../../library/csrc/activation/silu_and_mul.cu(21): error: expected a declaration",
        "../../library/include/kernelkit/families/gated_activation.cuh(3): "
        'catastrophic error: cannot open source file "nope.cuh"',
        "nvcc fatal   : Unsupported gpu architecture 'compute_50'",
    ]


def test_ld_errors():
    errors = extract_errors(LD_LOG)
    assert errors[0] == "FAILED: /w/library/python/kernelkit_ops/_kernelkit_ops.so"
    assert any(
        "undefined reference to `kernelkit::launch_silu_and_mul(" in e and e.startswith("/usr/bin/ld:") for e in errors
    )
    assert "/usr/bin/ld: cannot find -lcudart_static: No such file or directory" in errors
    assert "ld.lld: error: undefined symbol: kernelkit::launch_gelu_and_mul" in errors
    assert not any(e.startswith(": &&") for e in errors)
    assert not any(e.startswith("ninja:") for e in errors)


def test_cmake_errors():
    errors = extract_errors(CMAKE_LOG)
    assert "CMake Error at CMakeLists.txt:44 (message):" in errors
    assert 'CMake Error: The source directory "/nowhere" does not exist.' in errors
    assert not any(e.startswith("--") for e in errors)


def test_clean_log_has_no_errors():
    log = "[1/2] Building CUDA object a.cu.o\n[2/2] Linking CXX shared library x.so\n"
    assert extract_errors(log) == []


def test_errors_are_limited_and_ordered():
    log = "\n".join(f"f.cu({i}): error: boom {i}" for i in range(1, 100))
    errors = extract_errors(log, limit=5)
    assert errors == [f"f.cu({i}): error: boom {i}" for i in range(1, 6)]
    assert len(extract_errors(log)) == 40


def test_parse_progress():
    assert parse_progress("[3/17] Building CUDA object x.cu.o") == (3, 17, "Building CUDA object x.cu.o")
    assert parse_progress("-- Configuring done") is None


# ------------------------------------------------------------------------------------ end to end

_IGNORE = shutil.ignore_patterns(
    ".venv", "build", ".git", "__pycache__", "*.so", "compile_commands.json", ".pytest_cache", ".whl"
)


@pytest.mark.slow
def test_build_with_a_syntax_error_shows_file_and_line(tmp_path, repo_root, kernelkit_proc):
    copy = tmp_path / "project"
    shutil.copytree(repo_root, copy, ignore=_IGNORE, symlinks=True)
    kernel = copy / "library" / "csrc" / "activation" / "silu_and_mul.cu"
    bad_line = len(kernel.read_text().splitlines()) + 1
    with kernel.open("a") as f:
        f.write("this is not CUDA @@@;\n")

    proc = kernelkit_proc("build", "--no-cutlass", cwd=copy, timeout=240)
    output = proc.stdout + proc.stderr

    assert proc.returncode != 0, output
    assert "Traceback" not in output
    assert "error: build failed after" in proc.stderr
    assert "silu_and_mul.cu" in output
    assert "error" in output
    # The compiler's own file(line) for the appended line, as one line of the error report.
    located = [line for line in proc.stderr.splitlines() if re.search(r"silu_and_mul\.cu[(:](\d+)", line)]
    assert located, output
    lines = {int(re.search(r"silu_and_mul\.cu[(:](\d+)", line).group(1)) for line in located}
    assert bad_line in lines, output
    assert any("error" in line for line in located)
    # The copy configured its own build/dev, the failed build left no library behind, and the
    # checkout the copy came from is untouched.
    assert (copy / "build" / "dev" / "build.ninja").is_file()
    assert not list((copy / "library" / "python" / "kernelkit_ops").glob("_*.so"))
    assert "@@@" not in (repo_root / "library" / "csrc" / "activation" / "silu_and_mul.cu").read_text()


@pytest.mark.slow
def test_launcher_that_disagrees_with_its_declaration_fails_to_compile(tmp_path, repo_root, kernelkit_proc):
    # The kernel includes its launcher header and defines the launcher by its qualified name: a definition
    # whose signature drifted from the declaration is a compile error in the kernel file, with its line.
    copy = tmp_path / "project"
    shutil.copytree(repo_root, copy, ignore=_IGNORE, symlinks=True)
    kernel = copy / "library" / "csrc" / "activation" / "silu_and_mul.cu"
    text = kernel.read_text()
    assert "int64_t input_row_stride, bool enable_pdl" in text
    kernel.write_text(
        text.replace("int64_t input_row_stride, bool enable_pdl", "int input_row_stride, bool enable_pdl", 1)
    )

    proc = kernelkit_proc("build", "--no-cutlass", cwd=copy, timeout=240)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output and "undefined reference" not in output
    errors = [line for line in proc.stderr.splitlines() if "error" in line and "launch_silu_and_mul" in line]
    assert any(re.match(r"library/csrc/activation/silu_and_mul\.cu:\d+:", line.strip()) for line in errors), output


def test_error_locations_become_root_relative_file_line(tmp_path):
    from kernelkit.builder.buildsys import clickable

    build_dir, root = tmp_path / "build" / "dev", tmp_path
    line = clickable("../../library/csrc/misc/bad_op.cu(23): error: expected a declaration", build_dir, root)
    assert line == "library/csrc/misc/bad_op.cu:23: error: expected a declaration"
    gcc = clickable(f"{root}/library/csrc/activation/silu_and_mul.cc:57:3: error: expected ';'", build_dir, root)
    assert gcc == "library/csrc/activation/silu_and_mul.cc:57:3: error: expected ';'"
    assert clickable("FAILED: x.o", build_dir, root) == "FAILED: x.o"
