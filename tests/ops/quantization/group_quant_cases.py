"""Tests shared by sgl_per_token_group_quant_fp8 and sgl_per_token_group_quant_int8: each test file
subclasses GroupQuantTests with its op's name, output dtype and bounds.

Quantized values are compared bit for bit with tests/ops/quant_reference.py, scales with torch.equal.
CPU: schema, sgl-kernel signature, fake impl under FakeTensorMode, the binding's checks and the scale
layouts it accepts (the op takes CPU tensors, checks them and refuses them by name), the reference
itself, the bench's bytes model.
GPU: numerics for every dtype / group size / scale layout (row-major, column-major, TMA-padded),
ue8m0, all-zero groups, NaN/inf groups, strided and misaligned rows, 0/1/odd/large T, N-D input,
custom bounds, poisoned outputs, opcheck, torch.compile, the binding's own checks.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import kernelkit_ops
import pytest
import torch
from quant_reference import absmax, assert_fp8_equal, pow2_ceil, quant_fp8, quant_int8
from torch._subclasses.fake_tensor import FakeTensorMode

GROUP_SIZES = (16, 32, 64, 128, 256)  # the group sizes with a kernel
DTYPES = [torch.bfloat16, torch.float16, torch.float32]
LAYOUTS = ["row", "col", "tma"]
EPS = 1e-10
# (leading shape, hidden, group_size): real DeepSeek/Llama widths, every group size, one group per row,
# 0 / 1 / odd / > 2^14 tokens, group 64 past the narrow (E = 8) launch, N-D input.
SHAPES = [
    ((1,), 7168, 128), ((7,), 4096, 64), ((128,), 7168, 128), ((33,), 4096, 128), ((3,), 256, 16),
    ((5,), 512, 32), ((2,), 1024, 256), ((4,), 128, 128), ((0,), 4096, 128), ((16385,), 4096, 128),
    ((4099,), 4096, 64), ((2, 3), 1024, 128),
]  # fmt: skip


def f32(value: float) -> float:
    """value rounded to float32 (what the kernel receives as eps / bounds)."""
    return torch.tensor(value, dtype=torch.float32).item()


def reference(x, group_size, eps, lo, hi, *, int8, ue8m0=False):
    """(q, s) in float32 math: s = max(absmax, eps) / hi as one IEEE float32 division (computed in
    float64 and rounded once, which is the correctly rounded float32 quotient; torch divides a CUDA
    tensor by a Python scalar as a * (1/b), which is not), pow2_ceil'd with ue8m0."""
    xg = x.float().unflatten(-1, (x.shape[-1] // group_size, group_size))
    amax = absmax(xg, dim=-1, keepdim=True).clamp(min=f32(eps))
    s = (amax.double() / f32(hi)).float()
    if ue8m0:
        s = pow2_ceil(s)
    q = quant_int8(xg, s, lo, hi) if int8 else quant_fp8(xg, s, lo, hi)
    return q.flatten(-2), s.squeeze(-1)


def make_scales(lead: tuple[int, ...], groups: int, layout: str, device="cuda") -> tuple[torch.Tensor, torch.Tensor]:
    """(output_s [*lead, groups], its whole buffer) in one of the layouts, the buffer poisoned with NaN.
    col: torch.empty(G, T).T; tma: the same with the T stride padded to a multiple of 4, plus 4."""
    rows = math.prod(lead)
    if layout == "row":
        buf = torch.full((*lead, groups), float("nan"), device=device)
        return buf, buf
    padded = rows if layout == "col" else (rows + 3) // 4 * 4 + 4
    buf = torch.full((groups, padded), float("nan"), device=device)
    return buf.narrow(1, 0, rows).T.view(*lead, groups), buf  # narrow: slicing a fake CUDA tensor needs CUDA


class GroupQuantTests:
    op: str
    q_dtype: torch.dtype
    int8: bool
    bounds: tuple[str, str]  # names of the min / max arguments
    limits: tuple[float, float]  # the 8-bit type's range: defaults of the tests, limits of the checks

    @pytest.fixture(params=[False, True], ids=["plain_scales", "ue8m0_scales"])
    def ue8m0(self, request):
        """Both scale encodings; an op without scale_ue8m0 (int8) overrides this with plain scales only."""
        return request.param

    @property
    def fn(self):
        return getattr(kernelkit_ops, self.op)

    @property
    def torch_op(self):
        return getattr(torch.ops.kernelkit, self.op).default

    def poison_q(self, q: torch.Tensor) -> torch.Tensor:
        """Fill with a value the op never writes for finite inputs: e4m3 NaN, or int8 -128 (|x / s| <= 127)."""
        q.view(torch.uint8).fill_(0x7F if not self.int8 else 0x80)
        return q

    def call(self, x, q, s, group_size, eps=EPS, lo=None, hi=None, ue8m0=False):
        lo = self.limits[0] if lo is None else lo
        hi = self.limits[1] if hi is None else hi
        args = (x, q, s, group_size, eps, lo, hi) + ((ue8m0,) if not self.int8 else ())
        return self.fn(*args)

    def check(self, x, group_size, layout="row", eps=EPS, lo=None, hi=None, ue8m0=False, q=None):
        """Run on x with poisoned outputs; compare with the reference; return (q, s)."""
        lo = self.limits[0] if lo is None else lo
        hi = self.limits[1] if hi is None else hi
        lead, groups = tuple(x.shape[:-1]), x.shape[-1] // group_size
        s, s_buf = make_scales(lead, groups, layout)
        if q is None:
            q = torch.empty(x.shape, device="cuda", dtype=self.q_dtype)
        self.poison_q(q)
        assert self.call(x, q, s, group_size, eps, lo, hi, ue8m0) is None
        want_q, want_s = reference(x, group_size, eps, lo, hi, int8=self.int8, ue8m0=ue8m0)
        if self.int8:
            assert torch.equal(q, want_q), f"{int((q != want_q).sum())} int8 values differ"
        else:
            assert_fp8_equal(q, want_q)
        assert torch.equal(s, want_s), f"scales differ at {torch.nonzero(s != want_s)[:5].tolist()}"
        if layout == "tma":  # the padding rows of the scale buffer are not the op's to write
            assert s_buf[:, math.prod(lead) :].isnan().all(), "wrote into the scale buffer's padding"
        return q, s

    # ---------------- CPU: schema, signature, fake impl, validation ----------------

    def test_schema_registered(self):
        schema = self.torch_op._schema
        names = ["input", "output_q", "output_s", "group_size", "eps", *self.bounds]
        names += ([] if self.int8 else ["scale_ue8m0"]) + ["enable_pdl"]
        assert [a.name for a in schema.arguments] == names
        types = [str(a.type) for a in schema.arguments]
        assert types == ["Tensor"] * 3 + ["int", "float", "float", "float"] + ([] if self.int8 else ["bool"]) + ["bool"]
        written = {a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write}
        assert written == {"output_q", "output_s"} and schema.returns == []

    def test_sgl_kernel_signature(self):
        params = inspect.signature(self.fn).parameters
        names = ["input", "output_q", "output_s", "group_size", "eps", *self.bounds]
        # sgl-kernel's arguments, then FlashInfer's enable_pdl=None keyword
        assert list(params) == names + ([] if self.int8 else ["scale_ue8m0"]) + ["enable_pdl"]
        assert all(params[n].default is inspect.Parameter.empty for n in names)
        assert params["enable_pdl"].default is None
        if not self.int8:
            assert params["scale_ue8m0"].default is False
        assert self.op in kernelkit_ops.__all__ and f"sgl_kernel.{self.op}" in self.fn.__doc__

    def fake_args(self, lead=(4,), hidden=256, group_size=128, dtype=torch.bfloat16, layout="row"):
        x = torch.empty(*lead, hidden, device="cuda", dtype=dtype)
        q = torch.empty(*lead, hidden, device="cuda", dtype=self.q_dtype)
        s, _ = make_scales(lead, hidden // group_size, layout)
        return x, q, s

    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("layout", LAYOUTS)
    def test_fake_impl(self, dtype, layout):
        with FakeTensorMode():
            for lead, hidden, group_size in [((4,), 256, 128), ((3,), 64, 16), ((2, 5), 512, 64), ((0,), 256, 128)]:
                x, q, s = self.fake_args(lead, hidden, group_size, dtype, layout)
                assert self.call(x, q, s, group_size) is None

    # The op is registered for CPU tensors too: its binding checks them as it checks CUDA tensors and then
    # refuses them by name, so every check runs here, through the wrapper, without a GPU.

    def test_rejects_cpu_tensor(self):
        x, q, s = torch.randn(4, 256), torch.empty(4, 256, dtype=self.q_dtype), torch.empty(4, 2)
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
            self.call(x, q, s, 128)
        x, q, s = torch.randn(0, 256), torch.empty(0, 256, dtype=self.q_dtype), torch.empty(0, 2)
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
            self.call(x, q, s, 128)  # an empty input is checked before it returns

    def test_rejects_bad_input_naming_the_argument(self):
        lo_name, hi_name = self.bounds
        lo, hi = self.limits
        wrong_q = torch.float8_e4m3fn if self.int8 else torch.int8
        cases = [
            (dict(group_size=96), r"group_size must be one of 16, 32, 64, 128, 256, got 96"),
            (dict(group_size=True), r"group_size must be one of"),
            (
                dict(hidden=200, group_size=16, s=(4, 12)),
                r"the last dimension of input \(200\) must be a multiple of group_size \(16\)",
            ),
            (dict(eps=0.0), r"eps must be a positive finite float32"),
            (dict(eps=-1e-10), r"eps must be a positive finite float32"),
            (dict(eps=1e-50), r"eps must be a positive finite float32"),
            (dict(eps=float("nan")), r"eps must be a positive finite float32"),
            (dict(eps=1e39), r"eps must be a positive finite float32"),
            (dict(lo=hi + 0.0, hi=hi - 1.0), rf"{lo_name} must be in \[{lo:g}, {hi_name} = {hi - 1:g}\]"),
            (dict(lo=lo - 1.0), rf"{lo_name} must be in \[{lo:g}"),
            (dict(hi=hi + 1.0), rf"{hi_name} must be in \(0, {hi:g}\]"),
            (dict(hi=0.0, lo=-1.0), rf"{hi_name} must be in \(0, {hi:g}\]"),
            (
                dict(s=(4, 3)),
                r"output_s must have shape \[4, 2\] \(input's leading dims, hidden / group_size\), got \[4, 3\]",
            ),
            (dict(s=(2, 4)), r"output_s must have shape \[4, 2\]"),
            (dict(s_dtype=torch.bfloat16), r"output_s must be float32, got bfloat16"),
            (dict(q_dtype=wrong_q), rf"output_q must be {str(self.q_dtype).removeprefix('torch.')}, got"),
            (dict(q_shape=(4, 128)), r"output_q must have the shape of input \[4, 256\], got \[4, 128\]"),
            (dict(x_dtype=torch.int32), r"input must be bfloat16, float16 or float32, got int32"),
            (dict(x_t=True), r"input must be contiguous in its last dimension"),
            (dict(q_t=True), r"output_q must be contiguous in its last dimension"),
            (dict(s_expand=True), r"output_s of shape \[4, 2\] has negative or overlapping strides"),
            (dict(s_overlap=True), r"output_s of shape \[4, 2\] has negative or overlapping strides"),
        ]
        for spec, message in cases:
            hidden = spec.get("hidden", 256)
            x = torch.empty(4, hidden, dtype=spec.get("x_dtype", torch.bfloat16))
            if spec.get("x_t"):
                x = torch.empty(hidden, 4, dtype=torch.bfloat16).t()
            q = torch.empty(*spec.get("q_shape", (4, hidden)), dtype=spec.get("q_dtype", self.q_dtype))
            if spec.get("q_t"):
                q = torch.empty(hidden, 4, dtype=self.q_dtype).t()
            s = torch.empty(*spec.get("s", (4, 2)), dtype=spec.get("s_dtype", torch.float32))
            if spec.get("s_expand"):
                s = torch.empty(4, 1).expand(4, 2)
            if spec.get("s_overlap"):  # rows 1 apart, groups 2 apart: row 2 group 0 = row 0 group 1
                s = torch.empty(16).as_strided((4, 2), (1, 2))
            kwargs = {k: spec[k] for k in ("eps", "lo", "hi") if k in spec}
            with pytest.raises(RuntimeError, match=rf"{self.op}: {message}"):
                self.call(x, q, s, spec.get("group_size", 128), **kwargs)

    @staticmethod
    def accepted_scale_layouts(device: str) -> list[torch.Tensor]:
        """output_s layouts the binding takes (their leading dims collapse into one row stride), written by
        the kernel at t * row stride + j * group stride: (row stride, group stride) in the comments."""
        return [
            torch.empty(6, 4, device=device),  # (4, 1)
            make_scales((6,), 4, "col", device)[0],  # (1, 6)
            make_scales((6,), 4, "tma", device)[0],  # (1, 12)
            make_scales((2, 3), 4, "col", device)[0],  # (1, 6)
            torch.empty(6, 8, device=device).narrow(1, 0, 4),  # (8, 1)
            torch.empty(1, 4, device=device),  # (4, 1)
            torch.empty(6, 1, device=device),  # (1, 1)
        ]

    def test_accepted_scale_layouts(self):
        # Accepted: every check passes up to the last one, the device.
        for s in self.accepted_scale_layouts("cpu"):
            x = torch.empty(*s.shape[:-1], s.shape[-1] * 16, dtype=torch.bfloat16)
            q = torch.empty(x.shape, dtype=self.q_dtype)
            with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
                self.call(x, q, s, 16)
        s = torch.empty(2, 8, 4).narrow(1, 0, 3)
        x = torch.empty(2, 3, 64, dtype=torch.bfloat16)
        message = r"output_s of shape \[2, 3, 4\] has leading dimensions that do not collapse into rows"
        with pytest.raises(RuntimeError, match=rf"{self.op}: {message}"):
            self.call(x, torch.empty(x.shape, dtype=self.q_dtype), s, 16)

    def test_reference_semantics_on_cpu(self):
        """The reference the GPU tests hold the kernel to: eps floor, NaN/inf, IEEE float32 division."""
        lo, hi = self.limits
        x = torch.randn(3, 64) * 3
        x[0, :32] = 0.0  # an all-zero group
        x[1, 0] = float("nan")  # NaN ignored by absmax
        x[2, 40] = float("inf")  # inf: scale inf, finite values -> 0
        q, s = reference(x, 32, EPS, lo, hi, int8=self.int8)
        assert s[0, 0] == f32(f32(EPS) / f32(hi))
        assert s[1, 0] == (absmax(x[1, 1:32]).double() / hi).float()
        assert s[2, 1] == float("inf")
        qf = q.float()
        assert (qf[0, :32] == 0).all() and (qf[2, 32:40] == 0).all()
        assert qf[2, 40].isnan() if not self.int8 else qf[2, 40] == 0
        assert qf[1, 0].isnan() if not self.int8 else qf[1, 0] == 0
        # the float64-then-round quotient is the IEEE float32 quotient (tensor / tensor divides on the CPU)
        a = torch.rand(100000) * 1000
        assert torch.equal((a.double() / f32(hi)).float(), a / torch.full_like(a, f32(hi)))

    def test_bench_bytes_model(self):
        from kernelkit.perf import harness as bench
        from kernelkit.project import find_project

        b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), self.op)
        assert {c.tokens for c in b.cases} == {1, 128, 2048, 16384}
        case = next(c for c in b.cases if c.tokens == 2048 and c.size("hidden") == 7168 and c.size("group_size") == 128)
        assert case.dtype == "bfloat16"
        # bf16 read once, 8-bit written once, one fp32 scale per group
        assert b.bytes_moved(case) == 2048 * 7168 * (2 + 1) + 2048 * (7168 // 128) * 4

    # ---------------- GPU ----------------

    @pytest.mark.gpu
    @pytest.mark.parametrize("layout", LAYOUTS)
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("shape", SHAPES, ids=str)
    def test_matches_reference(self, shape, dtype, layout):
        lead, hidden, group_size = shape
        x = torch.randn(*lead, hidden, device="cuda", dtype=dtype) * 4
        self.check(x, group_size, layout)

    @pytest.mark.gpu
    def test_accepted_scale_layouts_are_written_at_their_strides(self):
        for s in self.accepted_scale_layouts("cuda"):
            base = s
            while base._base is not None:  # the whole buffer behind the view, poisoned
                base = base._base
            base.fill_(float("nan"))
            poisoned = base.isnan().sum() - s.numel()
            x = torch.randn(*s.shape[:-1], s.shape[-1] * 16, device="cuda", dtype=torch.bfloat16) * 4
            q = torch.empty(x.shape, device="cuda", dtype=self.q_dtype)
            self.call(x, q, s, 16)
            _, want_s = reference(x, 16, EPS, *self.limits, int8=self.int8)
            assert torch.equal(s, want_s), s.stride()
            assert base.isnan().sum() == poisoned, f"strides {s.stride()}: wrote outside output_s"

    @pytest.mark.gpu
    @pytest.mark.parametrize("group_size", GROUP_SIZES)
    def test_every_group_size(self, group_size):
        # groups of very different magnitudes, so a scale taken from the wrong group shows
        x = torch.randn(19, 2048, device="cuda") * torch.logspace(
            -3, 3, 2048 // group_size, device="cuda"
        ).repeat_interleave(group_size)
        self.check(x.to(torch.bfloat16), group_size, "col")

    @pytest.mark.gpu
    @pytest.mark.parametrize("eps", [1e-10, 1e-4, 1.0])
    def test_all_zero_groups_get_the_eps_floor(self, eps, ue8m0):
        x = torch.randn(5, 1024, device="cuda", dtype=torch.bfloat16)
        x[1] = 0.0
        x[3, 128:256] = 0.0
        x[4, :128] = -0.0
        q, s = self.check(x, 128, "tma", eps=eps, ue8m0=ue8m0)
        floor = torch.tensor(f32(f32(eps) / self.limits[1]))
        if ue8m0:
            floor = pow2_ceil(floor)
        assert (s[1] == floor.item()).all() and s[3, 1] == floor.item() and s[4, 0] == floor.item()
        assert (q[1].view(torch.uint8) & 0x7F == 0).all()  # +-0

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    def test_nan_and_inf_groups(self, dtype, ue8m0):
        x = torch.randn(6, 512, device="cuda", dtype=dtype)
        x[0, 3] = float("nan")  # one NaN: ignored by the scale, NaN (fp8) / 0 (int8) itself
        x[1, 130] = float("inf")  # +inf: the group's scale is inf
        x[2, 260] = float("-inf")
        x[3, :128] = float("nan")  # all NaN: absmax 0 -> eps floor
        x[4, 0], x[4, 1] = float("nan"), float("inf")
        x[5] = float("nan")
        q, s = self.check(x, 128, "row", ue8m0=ue8m0)
        assert s[1, 1] == float("inf") and s[2, 2] == float("inf") and not s.isnan().any()

    @pytest.mark.gpu
    @pytest.mark.parametrize("layout", LAYOUTS)
    def test_ue8m0_scales_are_powers_of_two(self, layout):
        x = torch.randn(300, 7168, device="cuda", dtype=torch.bfloat16) * 10
        _, s = self.check(x, 128, layout, ue8m0=True)
        mantissa = s.contiguous().view(torch.int32) & 0x007FFFFF
        assert (mantissa == 0).all()
        _, plain = reference(x, 128, EPS, *self.limits, int8=False)
        assert (s >= plain).all() and (s < 2 * plain).all()

    @pytest.mark.gpu
    def test_row_strided_input_and_output(self):
        buf = torch.randn(37, 4096 + 64, device="cuda", dtype=torch.bfloat16)
        qbuf = torch.empty(37, 4096 + 128, device="cuda", dtype=self.q_dtype)
        self.poison_q(qbuf)
        self.check(buf[:, :4096], 128, "row", q=qbuf[:, 64 : 64 + 4096])
        bits = qbuf.view(torch.uint8)
        assert (bits[:, :64] == bits[0, 0]).all() and (bits[:, 64 + 4096 :] == bits[0, 0]).all(), (
            "wrote outside output_q"
        )

    @pytest.mark.gpu
    @pytest.mark.parametrize("group_size", [64, 128])
    def test_output_q_rows_8_byte_aligned(self, group_size):
        # output_q rows that allow 8-byte but not 16-byte stores, at a size past the narrow (E = 8) launch
        x = torch.randn(4099, 4096, device="cuda", dtype=torch.bfloat16)
        qbuf = self.poison_q(torch.empty(4099, 4096 + 16, device="cuda", dtype=self.q_dtype))
        self.check(x, group_size, "col", q=qbuf[:, 8 : 8 + 4096])
        bits = qbuf.view(torch.uint8)
        assert (bits[:, :8] == bits[0, 0]).all() and (bits[:, 8 + 4096 :] == bits[0, 0]).all(), "wrote outside output_q"

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("offset", [1, 3])
    def test_misaligned_rows_take_the_scalar_path(self, dtype, offset):
        # rows that start off a 16-byte boundary (and an odd row stride): no vector loads possible
        buf = torch.randn(9, 1024 + 5, device="cuda", dtype=dtype)
        qbuf = torch.empty(9, 1024 + 7, device="cuda", dtype=self.q_dtype)
        self.check(buf[:, offset : offset + 1024], 64, "col", q=qbuf[:, offset : offset + 1024])

    @pytest.mark.gpu
    def test_custom_bounds(self):
        x = torch.randn(64, 1024, device="cuda", dtype=torch.bfloat16)
        lo, hi = self.limits
        for bounds in [(-hi / 2, hi / 2), (-hi / 4, hi), (lo, hi / 3), (hi / 8, hi / 8)]:
            self.check(x, 128, "row", lo=bounds[0], hi=bounds[1])

    @pytest.mark.gpu
    def test_many_tokens_odd_count(self):
        x = torch.randn(20001, 7168, device="cuda", dtype=torch.bfloat16)
        self.check(x, 128, "tma")

    @pytest.mark.gpu
    def test_runs_on_current_stream(self):
        x = torch.randn(512, 4096, device="cuda", dtype=torch.bfloat16)
        q = torch.empty(x.shape, device="cuda", dtype=self.q_dtype)
        s = torch.empty(512, 32, device="cuda")
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self.call(x, q, s, 128)
        stream.synchronize()
        want_q, want_s = reference(x, 128, EPS, *self.limits, int8=self.int8)
        assert torch.equal(q.view(torch.uint8), want_q.view(torch.uint8)) and torch.equal(s, want_s)

    def opcheck_args(self):
        x = torch.randn(16, 512, device="cuda", dtype=torch.bfloat16)
        q = torch.empty(x.shape, device="cuda", dtype=self.q_dtype)
        s = torch.empty(4, 16, device="cuda").T  # column-major scales
        extra = () if self.int8 else (False,)
        return (x, q, s, 128, EPS, *self.limits, *extra, True)

    @pytest.mark.gpu
    def test_opcheck(self):
        # test_schema compares mutated arguments with torch.allclose, which has no float8 kernel:
        # the fp8 op runs the other checks (its writes are checked bit for bit above).
        utils = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
        if self.int8:
            utils = ("test_schema", *utils)
        *args, _ = self.opcheck_args()
        for pdl in (True, False):
            torch.library.opcheck(self.torch_op, (*args, pdl), test_utils=utils)

    @pytest.mark.gpu
    @pytest.mark.parametrize("shape", [(1, 7168), (2048, 4096)], ids=str)
    def test_pdl_reads_what_the_previous_kernel_wrote(self, shape):
        # With PDL the launch overlaps the previous kernel; griddepcontrol.wait must still see its writes.
        # Producers: a plain copy, then fused_add_rmsnorm launched with PDL (it lets dependents launch early).
        x = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
        r, w = torch.randn_like(x), torch.rand(shape[-1], device="cuda", dtype=x.dtype) + 0.5
        buf = torch.empty_like(x)
        results = []
        for pdl in (True, False, None):
            buf.fill_(float("nan"))
            buf.copy_(x)
            q = self.poison_q(torch.empty(shape, device="cuda", dtype=self.q_dtype))
            s = torch.full((shape[0], shape[1] // 128), float("nan"), device="cuda")
            self.fn(buf, q, s, 128, EPS, *self.limits, enable_pdl=pdl)
            want_q, want_s = reference(x, 128, EPS, *self.limits, int8=self.int8)
            assert torch.equal(q.view(torch.uint8), want_q.view(torch.uint8)) and torch.equal(s, want_s)
            kernelkit_ops.fused_add_rmsnorm(buf, r.clone(), w, enable_pdl=True)
            self.fn(buf, q, s, 128, EPS, *self.limits, enable_pdl=pdl)
            want_q, want_s = reference(buf, 128, EPS, *self.limits, int8=self.int8)
            assert torch.equal(q.view(torch.uint8), want_q.view(torch.uint8)) and torch.equal(s, want_s)
            results.append(q.view(torch.uint8).clone())
        assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])

    @pytest.mark.gpu
    def test_torch_compile_fullgraph(self):
        extra = () if self.int8 else (True,)  # ue8m0 on for fp8

        @torch.compile(fullgraph=True)
        def quantize(x):
            q = torch.empty(x.shape, device=x.device, dtype=self.q_dtype)
            s = torch.empty(x.shape[1] // 128, x.shape[0], device=x.device).T
            self.fn(x, q, s, 128, EPS, *self.limits, *extra)
            return q, s * 2

        x = torch.randn(24, 1024, device="cuda", dtype=torch.bfloat16)
        q, s2 = quantize(x)
        want_q, want_s = reference(x, 128, EPS, *self.limits, int8=self.int8, ue8m0=bool(extra))
        assert torch.equal(q.view(torch.uint8), want_q.view(torch.uint8)) and torch.equal(s2, want_s * 2)

    @pytest.mark.gpu
    def test_binding_rejects_a_tensor_on_another_device(self):
        x, q, s, group_size, *_ = self.opcheck_args()
        with pytest.raises(RuntimeError, match=rf"{self.op}: output_s must be a CUDA tensor"):
            self.call(x, q, s.cpu(), group_size)
        with pytest.raises(RuntimeError, match=rf"{self.op}: output_q must be a CUDA tensor"):
            self.call(x, q.cpu(), s, group_size)

    @pytest.mark.gpu
    def test_binding_rejects_bad_input(self):
        x, q, s, group_size, eps, lo, hi, *extra = self.opcheck_args()
        op = self.torch_op
        with pytest.raises(
            RuntimeError,
            match=rf"{self.op}: the last dimension of input \(384\) must be a multiple of group_size \(256\)",
        ):
            op(x[:, :384], q[:, :384], s[:, :1], 256, eps, lo, hi, *extra)
        with pytest.raises(RuntimeError, match=rf"{self.op}: group_size must be one of 16, 32, 64, 128, 256, got 96"):
            op(x, q, s, 96, eps, lo, hi, *extra)
        with pytest.raises(RuntimeError, match=rf"{self.op}: eps must be a positive finite float32"):
            op(x, q, s, 128, 0.0, lo, hi, *extra)
        with pytest.raises(RuntimeError, match=rf"{self.op}: {self.bounds[0]} must be in"):
            op(x, q, s, 128, eps, hi, hi - 1, *extra)
        with pytest.raises(RuntimeError, match=rf"{self.op}: output_s must have shape \[16, 4\]"):
            op(x, q, s[:, :3], 128, eps, lo, hi, *extra)
        with pytest.raises(RuntimeError, match=rf"{self.op}: output_q must be"):
            op(x, q.view(torch.uint8), s, 128, eps, lo, hi, *extra)
        with pytest.raises(
            RuntimeError, match=rf"{self.op}: output_s of shape \[16, 4\] has negative or overlapping strides"
        ):
            op(x, q, torch.empty(16, 1, device="cuda").expand(16, 4), 128, eps, lo, hi, *extra)
        with pytest.raises(RuntimeError, match=rf"{self.op}: output_s must be float32"):
            op(x, q, s.double(), 128, eps, lo, hi, *extra)
