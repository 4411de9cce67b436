"""tools/sgl_kernel_alias: `import sgl_kernel` (and its submodules) resolve to kernelkit_ops, so sgl-kernel's own test
files run unmodified against this library; a name the library lacks fails at the import, by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(ROOT / "tools" / "sgl_kernel_alias"), str(ROOT / "library" / "python"), str(ROOT)])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_names_and_submodules_are_kernelkit_ops():
    out = run(
        "import sgl_kernel, kernelkit_ops\n"
        "from sgl_kernel import rmsnorm, silu_and_mul\n"
        "from sgl_kernel.kvcacheio import transfer_kv_per_layer\n"
        "from sgl_kernel.elementwise import fused_add_rmsnorm\n"
        "from sgl_kernel.sampling import top_p_renorm_prob\n"
        "from sgl_kernel.testing.rotary_embedding import *\n"
        "import sgl_kernel.allreduce as custom_ops, sgl_kernel.utils, sgl_kernel.test_utils\n"
        "assert rmsnorm is kernelkit_ops.rmsnorm and silu_and_mul is kernelkit_ops.silu_and_mul\n"
        "assert transfer_kv_per_layer is kernelkit_ops.transfer_kv_per_layer\n"
        "assert custom_ops.init_custom_ar is kernelkit_ops.init_custom_ar\n"
        "assert sgl_kernel.utils is kernelkit_ops.utils and sgl_kernel.__version__ == kernelkit_ops.__version__\n"
        "print('ok')\n"
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_a_name_the_library_lacks_fails_at_the_import():
    out = run("from sgl_kernel import flash_mla_decode")
    assert out.returncode != 0 and "cannot import name 'flash_mla_decode' from 'sgl_kernel'" in out.stderr
    out = run("import sgl_kernel; sgl_kernel.flash_mla_decode")
    assert "sgl_kernel (alias of kernelkit_ops) has no 'flash_mla_decode'" in out.stderr
