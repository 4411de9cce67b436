"""What the tests of the scaled GEMMs share: ``ScaledMmTests`` (fp8_scaled_mm and int8_scaled_mm, each test file
subclasses it with its operand type, its reference and its comparison), operand makers and the CUTLASS skip.

The ops are CUTLASS kernels, registered only in a build that found the CUTLASS headers: without them only the
wrapper's error is testable and the rest skips, saying why. The binding is registered for CPU tensors too, so every
refusal is tested here through CPU tensors (it checks them as it checks CUDA ones, then refuses the device).

References are float64 (or, for fp8, an fp32 product of e4m3 values, which fp32 holds exactly, taken to float64):
``acc = a @ b`` exactly, then ``acc * scales_a[:, None] * scales_b[None, :] + bias`` -- the dequantized product
``(a * sa) @ (b * sb) + bias`` of the task, with the scales applied after the sum (the same number, without the
rounding of the scaled operands).
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

CUTLASS_SKIP_REASON = "kernelkit_ops was built without the CUTLASS GEMM ops (no CUTLASS headers were found)"
OUT_DTYPES = [torch.bfloat16, torch.float16]
# (N, K) of real projections: Llama-3 70B attention out (8192 x 8192), MLP gate/up (28672 x 8192) and down
# (8192 x 28672); DeepSeek-V3 o_proj per 8-way TP shard (7168 x 2048) and fused q_a + kv_a (2112 x 7168).
MODEL_SHAPES = [(8192, 8192), (28672, 8192), (8192, 28672), (7168, 2048), (2112, 7168)]
# Every bucket of the dispatch table and its edges (64 | 128), odd sizes, decode and prefill.
TOKENS = [1, 7, 16, 64, 65, 128, 129, 1000, 4096]

# One ulp of the output at 1.0: the rounding to it costs at most half of this relative to the value.
OUT_ULP = {torch.bfloat16: 2.0**-7, torch.float16: 2.0**-10}


# opcheck's test_schema compares every argument before and after the call with torch.allclose, which has no float8
# kernel: fp8 operands run the other checks, and the tests compare the operands' bytes themselves.
OPCHECK_UTILS_FP8 = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def requires_cutlass(request: pytest.FixtureRequest, run_without: tuple[str, ...]) -> None:
    if not kernelkit_ops.cutlass_enabled() and request.node.originalname not in run_without:
        pytest.skip(CUTLASS_SKIP_REASON)


def column_major(n: int, k: int, dtype: torch.dtype, device: str = "cuda") -> torch.Tensor:
    """A [K, N] view of a contiguous [N, K] tensor: how a weight reaches these ops (``weight.t()``)."""
    return torch.empty(n, k, dtype=dtype, device=device).t()


def scales_for(count: int, generator: torch.Generator, device: str = "cuda", magnitude: float = 1e-3) -> torch.Tensor:
    """Positive per-row/per-column scales that differ by up to 4x, so a scale applied to the wrong row shows."""
    return (torch.rand(count, generator=generator, device=device) * 1.5 + 0.5) * magnitude


def rms(x: torch.Tensor) -> float:
    return float(x.double().pow(2).mean().sqrt()) if x.numel() else 0.0


def assert_within(out: torch.Tensor, ref: torch.Tensor, rtol: float, atol: float) -> None:
    """|out - ref| <= rtol * |ref| + atol everywhere, with the worst elements in the message."""
    assert out.shape == ref.shape, (out.shape, ref.shape)
    got, want = out.double(), ref.double()
    err = (got - want).abs()
    bad = ~(err <= rtol * want.abs() + atol)  # NaN (an unwritten element) is bad too
    if bool(bad.any()):
        idx = torch.nonzero(bad)[:5].tolist()
        detail = [(i, float(got[tuple(i)]), float(want[tuple(i)])) for i in idx]
        raise AssertionError(
            f"{int(bad.sum())} of {out.numel()} elements differ beyond rtol={rtol:g}, atol={atol:g} "
            f"(max error {float(err.nan_to_num(float('inf')).max()):g}); (index, got, want): {detail}"
        )


class ScaledMmTests:
    """The tests fp8_scaled_mm and int8_scaled_mm pass. A subclass sets:

    * ``op``: the op's name; ``operand``: its operand dtype;
    * ``make_operand(rows, cols, generator)``: random ``[rows, cols]`` CUDA values of the operand dtype (never
      all zeros);
    * ``reference(a, b, sa, sb, bias, out_dtype)``: what the op must return;
    * ``check(out, ref, out_dtype)``: the comparison (and its tolerance, stated there).
    """

    op: str
    operand: torch.dtype
    RUN_WITHOUT_CUTLASS = ("test_without_cutlass_the_wrapper_says_how_to_build",)

    @pytest.fixture(autouse=True)
    def _needs_cutlass(self, request):
        requires_cutlass(request, self.RUN_WITHOUT_CUTLASS)

    def wrapper(self, *args, **kwargs):
        return getattr(kernelkit_ops, self.op)(*args, **kwargs)

    def torch_op(self):
        return getattr(torch.ops.kernelkit, self.op).default

    # ------------------------------------------------------------------------------------- subclass hooks

    def make_operand(self, rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def reference(self, a, b, sa, sb, bias, out_dtype) -> torch.Tensor:
        raise NotImplementedError

    def check(self, out: torch.Tensor, ref: torch.Tensor, out_dtype: torch.dtype) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------------------------------------- helpers

    def make_case(self, m, n, k, out_dtype, with_bias, seed=0, scale_shapes=("m", "n")):
        """a [M, K] row-major, b [K, N] column-major (w.t() of a contiguous [N, K] w), scales, bias."""
        g = torch.Generator("cuda").manual_seed(seed)
        a = self.make_operand(m, k, g)
        b = self.make_operand(n, k, g).t()
        sa = scales_for(m, g)
        sb = scales_for(n, g)
        if scale_shapes[0] == "m1":
            sa = sa.reshape(m, 1)
        if scale_shapes[1] == "n1":
            sb = sb.reshape(n, 1)
        bias = torch.randn(n, generator=g, device="cuda").to(out_dtype) if with_bias else None
        return a, b, sa, sb, bias

    def run_and_check(self, m, n, k, out_dtype, with_bias, seed=0):
        a, b, sa, sb, bias = self.make_case(m, n, k, out_dtype, with_bias, seed)
        out = self.wrapper(a, b, sa, sb, out_dtype, bias)
        assert out.shape == (m, n) and out.dtype == out_dtype and out.is_contiguous()
        self.check(out, self.reference(a, b, sa, sb, bias, out_dtype), out_dtype)

    def cpu_args(self, m=4, n=16, k=32, out_dtype=torch.bfloat16):
        """Valid arguments on the CPU: the binding's last word on them is the device."""
        a = torch.zeros(m, k, dtype=self.operand)
        b = torch.zeros(n, k, dtype=self.operand).t()
        return [a, b, torch.ones(m), torch.ones(n), out_dtype, torch.zeros(n, dtype=out_dtype)]

    # ------------------------------------------------------------------------------- without CUTLASS / CPU

    def test_without_cutlass_the_wrapper_says_how_to_build(self):
        if kernelkit_ops.cutlass_enabled():
            pytest.skip("the library has the CUTLASS GEMM ops")
        message = rf"{self.op}: kernelkit_ops was built without the CUTLASS GEMM ops"
        with pytest.raises(RuntimeError, match=message):
            self.wrapper(*self.cpu_args())
        with pytest.raises(RuntimeError, match=message):  # before any look at the arguments
            self.wrapper(None, None, None, None, None)

    def test_schema_registered(self):
        schema = self.torch_op()._schema
        assert [a.name for a in schema.arguments] == ["out", "mat_a", "mat_b", "scales_a", "scales_b", "bias"]
        written = [a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
        assert written == ["out"]
        assert str(schema.arguments[5].type) == "Optional[Tensor]"
        assert len(schema.returns) == 0

    @pytest.mark.parametrize("out_dtype", OUT_DTYPES, ids=str)
    @pytest.mark.parametrize(("m", "n", "k"), [(1, 16, 32), (7, 24, 16), (0, 8, 16), (300, 4096, 7168)])
    def test_fake_impl_allocates_the_output(self, m, n, k, out_dtype):
        with FakeTensorMode():
            a = torch.empty(m, k, dtype=self.operand, device="cuda")
            b = column_major(n, k, self.operand)
            out = self.wrapper(a, b, torch.empty(m, device="cuda"), torch.empty(n, device="cuda"), out_dtype)
            assert out.shape == (m, n) and out.dtype == out_dtype and out.device.type == "cuda"

    def test_cpu_tensors_pass_every_check_then_are_refused(self):
        args = self.cpu_args()
        with pytest.raises(RuntimeError, match=f"{self.op}: mat_a must be a CUDA tensor"):
            self.wrapper(*args)
        args[5] = None  # without a bias
        with pytest.raises(RuntimeError, match=f"{self.op}: mat_a must be a CUDA tensor"):
            self.wrapper(*args)
        for scales_a, scales_b in [(torch.ones(4, 1), torch.ones(16, 1)), (torch.ones(1, 4), torch.ones(1, 16))]:
            args[2], args[3] = scales_a, scales_b  # [M, 1] / [N, 1] (what sglang passes) and any other layout of M / N
            with pytest.raises(RuntimeError, match=f"{self.op}: mat_a must be a CUDA tensor"):
                self.wrapper(*args)

    def bad_cases(self):
        """(change to cpu_args, message): one per check of the binding, in the binding's words."""
        op_dtype = {torch.float8_e4m3fn: "float8_e4m3fn", torch.int8: "int8"}[self.operand]
        other = torch.int8 if self.operand == torch.float8_e4m3fn else torch.float8_e4m3fn
        other_name = {torch.float8_e4m3fn: "float8_e4m3fn", torch.int8: "int8"}[other]
        o = self.operand
        return [
            ({0: torch.zeros(4, 32, dtype=torch.bfloat16)}, f"mat_a must be {op_dtype}, got bfloat16"),
            ({1: torch.zeros(16, 32, dtype=other).t()}, f"mat_b must be {op_dtype}, got {other_name}"),
            ({0: torch.zeros(2, 4, 32, dtype=o)}, r"mat_a must be 2-D \[M, K\], got shape \[2, 4, 32\]"),
            ({1: torch.zeros(32, dtype=o)}, r"mat_b must be 2-D \[K, N\]"),
            ({1: torch.zeros(16, 48, dtype=o).t()}, r"mat_a \[M, K\] and mat_b \[K, N\] must share K"),
            (
                {0: torch.zeros(4, 40, dtype=o), 1: torch.zeros(16, 40, dtype=o).t()},
                r"K \(mat_a.size\(1\) = 40\) must be a multiple of 16",
            ),
            (
                {1: torch.zeros(20, 32, dtype=o).t(), 3: torch.ones(20), 5: torch.zeros(20, dtype=torch.bfloat16)},
                r"N \(mat_b.size\(1\) = 20\) must be a multiple of 8",
            ),
            ({0: torch.zeros(32, 4, dtype=o).t()}, r"mat_a must be row-major \(stride\(1\) == 1\)"),
            ({1: torch.zeros(32, 16, dtype=o)}, r"mat_b must be column-major \(stride\(0\) == 1\)"),
            (
                {0: torch.zeros(4, 40, dtype=o)[:, :32]},
                r"mat_a's row stride \(40 elements, stride\(0\)\) must be a multiple of 16",
            ),
            (
                {1: torch.zeros(16, 56, dtype=o)[:, :32].t()},
                r"mat_b's column stride \(56 elements, stride\(1\)\) must be a multiple of 16",
            ),
            (
                {0: torch.zeros(4 * 32 + 1, dtype=o)[1:].view(4, 32)},
                r"mat_a's data must be 16-byte aligned \(TMA reads it\), got an address 1 bytes past",
            ),
            (
                {1: torch.zeros(16 * 32 + 8, dtype=o)[8:].view(16, 32).t()},
                r"mat_b's data must be 16-byte aligned",
            ),
            ({4: torch.float32}, "out must be bfloat16 or float16 \\(the output dtype\\), got float32"),
            ({2: torch.ones(4, dtype=torch.float16)}, "scales_a must be float32, got float16"),
            ({2: torch.ones(5)}, r"scales_a must hold one float32 per row of mat_a \(shape \[4\] or \[4, 1\]\)"),
            ({2: torch.ones(8)[::2]}, "scales_a must be contiguous"),
            ({3: torch.ones(16, dtype=torch.float64)}, "scales_b must be float32, got float64"),
            ({3: torch.ones(1)}, r"scales_b must hold one float32 per column of mat_b \(shape \[16\] or \[16, 1\]\)"),
            ({3: torch.ones(16, 2)[:, 0]}, "scales_b must be contiguous"),
            ({5: torch.zeros(16)}, r"bias must have the output dtype \(bfloat16\), got float32"),
            (
                {5: torch.zeros(8, dtype=torch.bfloat16)},
                r"bias must hold one value per column of mat_b \(shape \[16\]\)",
            ),
            ({5: torch.zeros(32, dtype=torch.bfloat16)[::2]}, "bias must be contiguous"),
        ]

    def test_binding_refuses_bad_input_by_name(self):
        for change, message in self.bad_cases():
            args = self.cpu_args()
            for i, value in change.items():
                args[i] = value
            with pytest.raises(RuntimeError, match=f"{self.op}: {message}"):
                self.wrapper(*args)

    def test_binding_refuses_a_bad_out(self):
        """Through the op itself (the wrapper always allocates a good one): shape, majorness, row stride."""
        a, b, sa, sb, _, bias = self.cpu_args()
        cases = [
            (torch.empty(4, 8, dtype=torch.bfloat16), r"out must have shape \[M, N\] = \[4, 16\], got \[4, 8\]"),
            (torch.empty(16, 4, dtype=torch.bfloat16).t(), r"out must be row-major \(stride\(1\) == 1\)"),
            (torch.empty(4, 20, dtype=torch.bfloat16)[:, :16], r"out's row stride \(20 elements, stride\(0\)\)"),
            (torch.empty(4, 16, dtype=torch.int8), "out must be bfloat16 or float16 \\(the output dtype\\), got int8"),
        ]
        for out, message in cases:
            with pytest.raises(RuntimeError, match=f"{self.op}: {message}"):
                self.torch_op()(out, a, b, sa, sb, bias)

    def test_bench_model(self):
        from pathlib import Path

        from kernelkit.perf import harness
        from kernelkit.project import find_project

        bench = harness.load_bench(find_project(Path(__file__).resolve().parents[2]), self.op)
        assert {(c.size("n"), c.size("k")) for c in bench.cases} == set(MODEL_SHAPES)
        case = next(c for c in bench.cases if c.tokens == 128 and (c.size("n"), c.size("k")) == (28672, 8192))
        # A and B read once (1 byte each), bf16 out written, fp32 scales read; 2 M N K FLOPs
        assert bench.bytes_moved(case) == 128 * 8192 + 28672 * 8192 + 128 * 28672 * 2 + 4 * (128 + 28672)
        assert bench.flops(case) == 2 * 128 * 28672 * 8192

    def test_wrapper_rejects_non_tensors(self):
        args = self.cpu_args()
        args[2] = 1.0  # torch's own argument parsing names it
        with pytest.raises(RuntimeError, match="Expected a value of type 'Tensor' for argument 'scales_a'"):
            self.wrapper(*args)

    # ------------------------------------------------------------------------------------------- on the GPU

    @pytest.mark.gpu
    @pytest.mark.parametrize("with_bias", [False, True], ids=["no-bias", "bias"])
    @pytest.mark.parametrize("out_dtype", OUT_DTYPES, ids=str)
    @pytest.mark.parametrize("m", TOKENS)
    def test_every_dispatch_bucket(self, m, out_dtype, with_bias):
        """Each M bucket of the dispatch table (and both sides of its edges) on DeepSeek-V3's q_a + kv_a shape:
        N = 2112 is no multiple of the 64/128-column tiles, so the last column tile is partial."""
        self.run_and_check(m, 2112, 7168, out_dtype, with_bias, seed=m)

    @pytest.mark.gpu
    @pytest.mark.parametrize(("n", "k"), MODEL_SHAPES, ids=lambda s: str(s))
    @pytest.mark.parametrize("m", [16, 1000])
    def test_model_shapes(self, m, n, k):
        self.run_and_check(m, n, k, torch.bfloat16, True, seed=n + k + m)

    @pytest.mark.gpu
    @pytest.mark.parametrize("out_dtype", OUT_DTYPES, ids=str)
    def test_long_k_prefill(self, out_dtype):
        """Llama-3 70B's down projection (K = 28672) at prefill size: the longest sum, the cooperative kernel."""
        self.run_and_check(4096, 8192, 28672, out_dtype, False, seed=7)

    @pytest.mark.gpu
    @pytest.mark.parametrize(
        ("m", "n", "k"),
        [(1, 8, 16), (3, 24, 16), (7, 136, 48), (65, 8, 4096), (129, 200, 272), (333, 520, 2064), (2048, 264, 128)],
    )
    def test_odd_sizes(self, m, n, k):
        """N and K below and between tile sizes (the smallest the op takes: N = 8, K = 16), partial tiles in every
        dimension."""
        for out_dtype, with_bias in [(torch.bfloat16, True), (torch.float16, False)]:
            self.run_and_check(m, n, k, out_dtype, with_bias, seed=m * n + k)

    @pytest.mark.gpu
    @pytest.mark.parametrize("m", [5, 64, 300])
    def test_strided_operands_and_output(self, m):
        """Rows of A, columns of B and rows of out that are slices of wider buffers (16-byte multiples apart), at an
        offset: each stride reaches the kernel, and only out's [M, N] window is written."""
        n, k = 264, 512
        g = torch.Generator("cuda").manual_seed(m)
        a_buf = self.make_operand(m, k + 48, g)
        b_buf = self.make_operand(n, k + 16, g)
        a, b = a_buf[:, 16 : 16 + k], b_buf[:, :k].t()
        assert a.stride() == (k + 48, 1) and b.stride() == (1, k + 16)
        sa, sb = scales_for(m, g), scales_for(n, g)
        bias = torch.randn(n, generator=g, device="cuda").to(torch.bfloat16)
        out_buf = torch.full((m, n + 24), float("nan"), device="cuda", dtype=torch.bfloat16)
        out = out_buf[:, 8 : 8 + n]
        self.torch_op()(out, a, b, sa, sb, bias)
        self.check(out, self.reference(a, b, sa, sb, bias, torch.bfloat16), torch.bfloat16)
        assert bool(out_buf[:, :8].isnan().all()) and bool(out_buf[:, 8 + n :].isnan().all())
        # The wrapper on the same strided operands
        self.check(self.wrapper(a, b, sa, sb, torch.bfloat16, bias), out, torch.bfloat16)

    @pytest.mark.gpu
    def test_output_poisoned_first_is_fully_written(self):
        m, n, k = 300, 520, 1024
        a, b, sa, sb, bias = self.make_case(m, n, k, torch.float16, True, seed=3)
        out = torch.full((m, n), float("nan"), device="cuda", dtype=torch.float16)
        self.torch_op()(out, a, b, sa, sb, bias)
        assert not bool(out.isnan().any())
        self.check(out, self.reference(a, b, sa, sb, bias, torch.float16), torch.float16)

    @pytest.mark.gpu
    def test_scale_shapes_m1_and_n1(self):
        """[M, 1] / [N, 1] scales (what sglang passes) give what [M] / [N] give."""
        m, n, k = 77, 512, 256
        flat = self.make_case(m, n, k, torch.bfloat16, True, seed=5)
        column = self.make_case(m, n, k, torch.bfloat16, True, seed=5, scale_shapes=("m1", "n1"))
        assert column[2].shape == (m, 1) and column[3].shape == (n, 1)
        assert torch.equal(
            self.wrapper(*flat[:4], torch.bfloat16, flat[4]), self.wrapper(*column[:4], torch.bfloat16, column[4])
        )

    @pytest.mark.gpu
    def test_empty_sizes(self):
        g = torch.Generator("cuda").manual_seed(0)
        # M = 0: an empty [0, N] output, nothing launched.
        b = self.make_operand(64, 128, g).t()
        out = self.wrapper(self.make_operand(0, 128, g), b, scales_for(0, g), scales_for(64, g), torch.bfloat16)
        assert out.shape == (0, 64) and out.dtype == torch.bfloat16
        # N = 0: [M, 0].
        out = self.wrapper(self.make_operand(5, 128, g), column_major(0, 128, self.operand), scales_for(5, g),
                           scales_for(0, g), torch.float16)  # fmt: skip
        assert out.shape == (5, 0) and out.dtype == torch.float16

    @pytest.mark.gpu
    @pytest.mark.parametrize("with_bias", [False, True], ids=["no-bias", "bias"])
    def test_k_zero_is_the_bias(self, with_bias):
        """An empty sum: out = bias (or 0) in every row."""
        m, n = 9, 40
        a = torch.empty(m, 0, dtype=self.operand, device="cuda")
        b = column_major(n, 0, self.operand)
        bias = torch.randn(n, device="cuda").to(torch.bfloat16) if with_bias else None
        out = self.wrapper(a, b, torch.ones(m, device="cuda"), torch.ones(n, device="cuda"), torch.bfloat16, bias)
        want = bias.expand(m, n) if with_bias else torch.zeros(m, n, device="cuda", dtype=torch.bfloat16)
        assert torch.equal(out, want)

    @pytest.mark.gpu
    def test_opcheck(self):
        a, b, sa, sb, bias = self.make_case(33, 128, 256, torch.bfloat16, True, seed=2)
        out = torch.empty(33, 128, device="cuda", dtype=torch.bfloat16)
        a_bytes, b_bytes = a.view(torch.uint8).clone(), b.view(torch.uint8).clone()
        utils = OPCHECK_UTILS_FP8 if self.operand == torch.float8_e4m3fn else ("test_schema", *OPCHECK_UTILS_FP8)
        torch.library.opcheck(self.torch_op(), (out, a, b, sa, sb, bias), test_utils=utils)
        torch.library.opcheck(self.torch_op(), (out, a, b, sa, sb, None), test_utils=utils)
        assert torch.equal(a.view(torch.uint8), a_bytes) and torch.equal(b.view(torch.uint8), b_bytes)

    @pytest.mark.gpu
    def test_torch_compile_fullgraph(self):
        wrapper = getattr(kernelkit_ops, self.op)

        def layer(a, b, sa, sb, bias):
            return wrapper(a, b, sa, sb, torch.bfloat16, bias).float().relu()

        compiled = torch.compile(layer, fullgraph=True)
        a, b, sa, sb, bias = self.make_case(100, 256, 512, torch.bfloat16, True, seed=4)
        want = self.reference(a, b, sa, sb, bias, torch.bfloat16)
        self.check(compiled(a, b, sa, sb, bias).to(torch.bfloat16), want.relu(), torch.bfloat16)

    @pytest.mark.gpu
    def test_cuda_graph_capture_and_replay(self):
        """Captured once, replayed on new values copied into the same inputs: the output follows them (the scale
        pointers and operands are read at every replay; the output comes from the graph's pool)."""
        m, n, k = 48, 1024, 512
        a, b, sa, sb, bias = self.make_case(m, n, k, torch.bfloat16, True, seed=10)
        self.wrapper(a, b, sa, sb, torch.bfloat16, bias)  # warm-up outside the capture
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self.wrapper(a, b, sa, sb, torch.bfloat16, bias)
        for seed in (11, 12):
            a2, b2, sa2, sb2, bias2 = self.make_case(m, n, k, torch.bfloat16, True, seed=seed)
            a.copy_(a2), b.copy_(b2), sa.copy_(sa2), sb.copy_(sb2), bias.copy_(bias2)
            graph.replay()
            torch.cuda.synchronize()
            self.check(out, self.reference(a2, b2, sa2, sb2, bias2, torch.bfloat16), torch.bfloat16)

    @pytest.mark.gpu
    def test_runs_on_the_current_stream(self):
        a, b, sa, sb, bias = self.make_case(200, 512, 1024, torch.float16, True, seed=6)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = self.wrapper(a, b, sa, sb, torch.float16, bias)
        side.synchronize()
        self.check(out, self.reference(a, b, sa, sb, bias, torch.float16), torch.float16)

    @pytest.mark.gpu
    def test_binding_refuses_a_misaligned_cuda_operand(self):
        """The same check on the GPU: an A that starts 16 bytes into a row is fine, 8 bytes in is not."""
        g = torch.Generator("cuda").manual_seed(1)
        buf = self.make_operand(8, 64, g)
        b = self.make_operand(16, 32, g).t()
        sa, sb = scales_for(8, g), scales_for(16, g)
        self.wrapper(buf[:, 16:48], b, sa, sb, torch.bfloat16)
        with pytest.raises(RuntimeError, match=f"{self.op}: mat_a's data must be 16-byte aligned"):
            self.wrapper(buf[:, 8:40], b, sa, sb, torch.bfloat16)
        with pytest.raises(RuntimeError, match=f"{self.op}: scales_a must be a CUDA tensor"):
            self.wrapper(buf[:, 16:48], b, sa.cpu(), sb, torch.bfloat16)
