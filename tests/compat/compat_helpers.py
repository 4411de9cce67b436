"""What the compat tests share: sgl-kernel's signatures as data and the drop-in rule for them, and the FP4 skip.

A signature is a list of ``(name, default)`` in sgl-kernel's positional order, ``REQUIRED`` for a parameter
without a default. Defaults are literals read off sgl-kernel's Python API (docs/sgl-kernel-contract.md
names the versions).
"""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest

REQUIRED = inspect.Parameter.empty

requires_fp4 = pytest.mark.skipif(
    not kernelkit_ops.fp4_enabled(),
    reason="kernelkit_ops was built without FP4 kernels (`kernelkit build --fp4`): the FP4 ops have no kernel",
)

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def same_default(ours, theirs) -> bool:
    """Equal and of the same type (False is not 0, None is not False)."""
    return type(ours) is type(theirs) and ours == theirs


def signature_problems(fn, upstream: list[tuple[str, object]]) -> list[str]:
    """How ``fn`` breaks calls written for a function with sgl-kernel's signature ``upstream`` (empty: it doesn't).

    The rule: sgl-kernel's parameters come first, in its order, under its names, each taking a positional or
    a keyword argument, each with sgl-kernel's default (a default where sgl-kernel has none only widens what
    is accepted); then kernelkit's extras, each with a default (a call that does not know them leaves them
    alone), and no ``*args`` / ``**kwargs`` that would swallow a misspelt keyword.
    """
    params = list(inspect.signature(fn).parameters.values())
    problems = []
    for i, (name, default) in enumerate(upstream):
        if i >= len(params):
            problems.append(f"parameter {i} `{name}` is missing")
            continue
        p = params[i]
        if p.name != name:
            problems.append(f"parameter {i} is `{p.name}`, sgl-kernel's is `{name}`")
        if p.kind not in _POSITIONAL:
            problems.append(f"`{p.name}` ({i}) is {p.kind.description}, sgl-kernel's takes a positional argument")
        if default is not REQUIRED and not same_default(p.default, default):
            shown = "none" if p.default is REQUIRED else repr(p.default)
            problems.append(f"`{p.name}` defaults to {shown}, sgl-kernel's to {default!r}")
    for p in params[len(upstream) :]:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            problems.append(f"extra `{p}` would swallow arguments sgl-kernel's signature refuses")
        elif p.default is REQUIRED:
            problems.append(f"extra parameter `{p.name}` has no default: calls written for sgl-kernel lack it")
    return problems


def assert_drop_in_signature(fn, upstream: list[tuple[str, object]]) -> None:
    problems = signature_problems(fn, upstream)
    assert not problems, f"{fn.__module__}.{fn.__qualname__}{inspect.signature(fn)}: " + "; ".join(problems)
