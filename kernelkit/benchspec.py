"""What an op's bench file declares: its cases, how to make inputs, the implementations to time,
the reference (timed in eager and under torch.compile as baselines) and the bytes/FLOPs model.

A bench file `benchmarks/ops/<category>/bench_<op>.py` defines `BENCH = OpBench(...)`. It must import
without a GPU (CI checks the bytes model); only `make_inputs` and the impls touch CUDA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOKENS = (1, 128, 2048, 16384)
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float8_e4m3fn": 1, "int8": 1, "int32": 4, "int64": 8}

Inputs = dict[str, Any]
# OpBench.math -> the Ceilings field holding that peak (tera-ops per second)
MATH_CEILINGS = {"bf16": "bf16_tflops", "fp8": "fp8_tflops", "int8": "int8_tops"}


@dataclass(frozen=True)
class Case:
    tokens: int
    dtype: str  # torch dtype name: bfloat16, float16, float32
    shape: tuple[tuple[str, int], ...] = ()  # the op's other sizes, e.g. (("hidden", 4096),)

    def size(self, name: str) -> int:
        return dict(self.shape)[name]

    @property
    def label(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.shape)
        return f"T={self.tokens} {extra} {self.dtype}".replace("  ", " ").strip()

    @property
    def itemsize(self) -> int:
        return DTYPE_BYTES[self.dtype]


@dataclass
class OpBench:
    op: str
    cases: list[Case]
    make_inputs: Callable[[Case], Inputs]  # fresh random CUDA inputs (never zeros)
    impls: dict[str, Callable[[Inputs], Any]]  # at least "kernelkit"
    reference: Callable[[Inputs], Any]  # plain torch: the eager and torch.compile baselines
    bytes_moved: Callable[[Case], int]  # each input read once + each output written once
    flops: Callable[[Case], int] = field(default=lambda case: 0)
    # The tensor-core ceiling the FLOPs are judged against: "bf16", "fp8" (e4m3 operands) or "int8" (int8
    # operands, int32 accumulation), each measured on the device the same way (a large GEMM, kernelkit/perf).
    math: str = "bf16"

    def __post_init__(self) -> None:
        if self.math not in MATH_CEILINGS:
            raise ValueError(f"OpBench({self.op!r}).math = {self.math!r}: expected one of {', '.join(MATH_CEILINGS)}")


def installed(module: str) -> bool:
    """Whether an optional library to compare against (sgl_kernel, flashinfer, liger_kernel) is importable."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def token_sweep(dtype: str = "bfloat16", tokens: tuple[int, ...] = DEFAULT_TOKENS, **shape: int) -> list[Case]:
    return [Case(tokens=t, dtype=dtype, shape=tuple(shape.items())) for t in tokens]
