"""An op `kernelkit new` added after the last build: calling it says to run `kernelkit build` instead of torch's
bare "no attribute" error, and ops the loaded library has stay the very functions their modules define (no extra
call per call: eager host time is unchanged)."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
import torch
from scaffold_helpers import REPO_ROOT

NAMESPACE = "kkprobe_unbuilt"
PACKAGE = "kkprobe_pkg"


@pytest.fixture(scope="module")
def library():
    """The package's _library.py, loaded on its own (the checkout's package needs its built .so), with a test
    namespace that holds one registered op."""
    path = REPO_ROOT / "library" / "python" / "kernelkit_ops" / "_library.py"
    spec = importlib.util.spec_from_file_location("kkprobe_library", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.NAMESPACE = NAMESPACE
    lib = torch.library.Library(NAMESPACE, "DEF")
    lib.define("built_op(Tensor(a!) out) -> ()")
    lib.impl("built_op", lambda out: None, "CompositeExplicitAutograd")
    yield module
    lib._destroy()


def _package(library):
    """A package like the generated one: each wrapper in its own module, exported from the package."""
    pkg = types.ModuleType(PACKAGE)
    wrappers = {}
    for name, body in {
        "built_op": lambda out: getattr(torch.ops, NAMESPACE).built_op.default(out),
        "unbuilt_op": lambda out: getattr(torch.ops, NAMESPACE).unbuilt_op.default(out),
        "fp4_op": lambda out: (_ for _ in ()).throw(RuntimeError("fp4_op: rebuild with `kernelkit build --fp4`")),
    }.items():
        module = types.ModuleType(f"{PACKAGE}.misc.{name}")
        body.__module__ = module.__name__
        body.__name__ = name
        setattr(module, name, body)
        sys.modules[module.__name__] = module
        setattr(pkg, name, body)
        wrappers[name] = body
    sys.modules[PACKAGE] = pkg
    return pkg, wrappers


def test_an_op_added_since_the_build_says_to_build(library):
    pkg, wrappers = _package(library)
    library.explain_unbuilt(PACKAGE, ["built_op", "unbuilt_op", "fp4_op"])
    # The built op is untouched: the same function object, in the package and in its module.
    assert pkg.built_op is wrappers["built_op"]
    assert sys.modules[f"{PACKAGE}.misc.built_op"].built_op is wrappers["built_op"]
    pkg.built_op(torch.empty(2))
    # The unbuilt one says what to do, from the package and from its own module.
    for call in (pkg.unbuilt_op, sys.modules[f"{PACKAGE}.misc.unbuilt_op"].unbuilt_op):
        with pytest.raises(RuntimeError, match=r"unbuilt_op: .* built before the op was added; run `kernelkit build`"):
            call(torch.empty(2))
    assert pkg.unbuilt_op.__wrapped__ is wrappers["unbuilt_op"]
    # A wrapper's own error (an FP4 op of a build without FP4 kernels) comes through as it is.
    with pytest.raises(RuntimeError, match="rebuild with `kernelkit build --fp4`"):
        pkg.fp4_op(torch.empty(2))


def test_an_unrelated_attribute_error_is_not_rewritten(library):
    pkg = types.ModuleType(PACKAGE)

    def unbuilt_op(out):
        return out.no_such_attribute

    pkg.unbuilt_op = unbuilt_op
    sys.modules[PACKAGE] = pkg
    library.explain_unbuilt(PACKAGE, ["unbuilt_op"])
    with pytest.raises(AttributeError, match="no_such_attribute"):
        pkg.unbuilt_op(torch.empty(2))


def test_the_package_asks_once_at_import(repo_root):
    """The package's __init__ (and init's template of it) ends by explaining what the build lacks."""
    for rel in ("library/python/kernelkit_ops/__init__.py", "kernelkit/scaffolds/project/package_init.py.j2"):
        text = (repo_root / rel).read_text()
        assert text.rstrip().endswith("_library.explain_unbuilt(__name__, __all__)"), rel


def test_exports_that_are_not_ops_stay_as_they_are():
    """An alias (sgl-kernel's top_k_renorm_prob) and a class (FusedSetKVBufferArg) have no op of their own name
    in the library; they are not wrappers to explain, so the package keeps the very objects."""
    import kernelkit_ops
    from kernelkit_ops.rope.apply_rope_with_cos_sin_cache_inplace import FusedSetKVBufferArg

    assert kernelkit_ops.top_k_renorm_prob is kernelkit_ops.top_k_renorm_probs
    assert kernelkit_ops.top_p_renorm_prob is kernelkit_ops.top_p_renorm_probs
    assert kernelkit_ops.FusedSetKVBufferArg is FusedSetKVBufferArg
    assert isinstance(kernelkit_ops.FusedSetKVBufferArg, type)
