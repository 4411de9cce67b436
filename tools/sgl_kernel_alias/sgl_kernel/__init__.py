"""`sgl_kernel` as an alias of `kernelkit_ops`: code written for sgl-kernel (its own test files, an engine) runs
unmodified against this library with this folder's parent on PYTHONPATH.

Not shipped: a package named sgl_kernel in the wheel would shadow the real one. The top-level names are
kernelkit_ops's; the submodules code written for sgl-kernel imports (``sgl_kernel.utils``, ``.test_utils``,
``.testing.rotary_embedding``, ``.kvcacheio``, ``.allreduce``) are kernelkit_ops's stand-ins of those names. A name
sgl-kernel has and kernelkit_ops does not raises AttributeError naming it, so a test of a missing op fails at its
import line, not somewhere inside it.
"""

import importlib
import sys

import kernelkit_ops as _target
from kernelkit_ops import *  # noqa: F403

__version__ = _target.__version__
ALIAS_OF = "kernelkit_ops"

_SUBMODULES = {
    "utils": "kernelkit_ops.utils",
    "test_utils": "kernelkit_ops.test_utils",
    "testing": "kernelkit_ops.testing",
    "testing.rotary_embedding": "kernelkit_ops.testing.rotary_embedding",
    "kvcacheio": "kernelkit_ops.kvcacheio",
    "allreduce": "kernelkit_ops.allreduce",
}
# sgl-kernel's per-family modules (sgl_kernel/elementwise.py, gemm.py, ...): their names are all at the top of
# kernelkit_ops, so each stands for the whole package (a superset of what the module holds).
_FAMILIES = ("attention", "elementwise", "gemm", "moe", "sampling", "top_k", "quantization", "memory")
_SUBMODULES.update({family: "kernelkit_ops" for family in _FAMILIES})
for _name, _module in _SUBMODULES.items():
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(_module)
    if "." not in _name:
        globals()[_name] = sys.modules[f"{__name__}.{_name}"]


def __getattr__(name: str):
    try:
        return getattr(_target, name)
    except AttributeError:
        raise AttributeError(f"sgl_kernel (alias of kernelkit_ops) has no {name!r}: not in kernelkit_ops") from None
