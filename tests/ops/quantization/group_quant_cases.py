"""Tests shared by sgl_per_token_group_quant_fp8 and sgl_per_token_group_quant_int8: each test file
subclasses GroupQuantTests with its op's name, output dtype and bounds.

The contract is sgl-kernel's arithmetic on an H100, bit for bit (RCP/MUL/LG2/EX2/CEIL as in sgl_math.py;
kernelkit/families/per_token_group_quant.cuh), per group of a row, amax = max(absmax(group), eps):

    v1:  s = MUL(amax, RCP(qmax))    ue8m0 (fp8): s = EX2(CEIL(LG2(max(s, 1e-10))))      y = RCP(s)
    v2:  s = MUL(amax, fl32(1/qmax)), y = MUL(RCP(amax), qmax)
         ue8m0 (fp8): s = pow2_ceil(MUL(amax, fl32(1/448))), y = 1 / s (exact)
    q = fminf(fmaxf(MUL(x, y), qmin), qmax)     the max first: NaN -> qmin
    fp8: e4m3(q);  int8: truncation toward zero (round half to even with round_to_nearest=True)

enable_v2=None picks v2 where sgl-kernel's newest releases do (resolve_v2). Quantized values are compared
bit for bit with reference() (which runs the instructions on the GPU), scales with torch.equal.
CPU: schema, sgl-kernel signature (keyword-only enable_v2 / round_to_nearest), fake impl under
FakeTensorMode, the binding's checks and the scale layouts it accepts (the op takes CPU tensors, checks
them and refuses them by name), the enable_v2 refusal, which arithmetic the wrapper asks the op for, the
bench's bytes model.
GPU: numerics for every dtype / group size (8 included) / scale layout (row-major, column-major,
TMA-padded), v1 and v2 (explicit and by default), ue8m0, int8 truncation and rounding, all-zero groups,
NaN/inf groups, strided and misaligned rows, 0/1/odd/large T, N-D input, custom bounds, poisoned outputs,
sgl-kernel's upstream sweep (T x H x group x layout), opcheck, torch.compile, the binding's own checks.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import kernelkit_ops
import pytest
import torch
from quant_reference import FP8, absmax, assert_fp8_equal, assert_int8_equal, clamp_max_first, pow2_ceil
from sgl_math import C127, C448, ceil_ftz, ex2_approx, f32, lg2_approx, mul_ftz, rcp_approx
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode

GROUP_SIZES = (8, 16, 32, 64, 128, 256)  # the group sizes with a kernel
V2_GROUP_SIZES = (16, 32, 64, 128)  # the group sizes of sgl-kernel's v2 kernel
UNIFIED = "sgl_per_token_group_quant_8bit"
DTYPES = [torch.bfloat16, torch.float16, torch.float32]
LAYOUTS = ["row", "col", "tma"]
EPS = 1e-10
# (leading shape, hidden, group_size): real DeepSeek/Llama widths, every group size, one group per row,
# 0 / 1 / odd / > 2^14 tokens, group 64 past the narrow (E = 8) launch, N-D input.
SHAPES = [
    ((1,), 7168, 128), ((7,), 4096, 64), ((128,), 7168, 128), ((33,), 4096, 128), ((3,), 256, 16),
    ((5,), 512, 32), ((2,), 1024, 256), ((4,), 128, 128), ((0,), 4096, 128), ((16385,), 4096, 128),
    ((4099,), 4096, 64), ((2, 3), 1024, 128), ((5,), 1024, 8), ((3,), 8, 8), ((129,), 4096, 8),
]  # fmt: skip
FAKE_SHAPES = [((4,), 256, 128), ((3,), 64, 16), ((2, 5), 512, 64), ((0,), 256, 128), ((3,), 64, 8)]
# sgl-kernel's upstream test sweep (test_per_token_group_quant_8bit.py): tokens x hidden x group size.
SWEEP_TOKENS = (127, 128, 512, 1024, 4096)
SWEEP_HIDDEN = (256, 512, 1024, 2048, 4096)
SWEEP_GROUPS = (8, 16, 32, 64, 128)


def resolve_v2(enable_v2, dtype, group_size, eps, lo, hi, limits) -> bool:
    """The arithmetic a call gets: enable_v2 as given, or (None) v2 exactly where sgl-kernel's v2 kernel
    takes the call -- bf16/fp16, eps = 1e-10 (within 1e-13, sgl-kernel's test), the type's full range and a
    group size of 16..128 -- as sgl-kernel's newest releases choose."""
    if enable_v2 is not None:
        return bool(enable_v2)
    return (
        group_size in V2_GROUP_SIZES
        and dtype in (torch.bfloat16, torch.float16)
        and abs(eps - 1e-10) < 1e-13
        and (lo, hi) == tuple(limits)
    )


def group_scale(amax: torch.Tensor, hi: float, *, int8: bool, ue8m0: bool, v2: bool):
    """(s, y) of groups with the given (eps-floored) float32 absmax: the scale stored and the multiplier."""
    if v2:
        if ue8m0:
            s = pow2_ceil(mul_ftz(amax, C448))
            return s, torch.reciprocal(s)  # exact: a power of two
        return mul_ftz(amax, C127 if int8 else C448), mul_ftz(rcp_approx(amax), f32(hi))
    s = mul_ftz(amax, rcp_approx(amax.new_tensor(f32(hi))))
    if ue8m0:
        s = ex2_approx(ceil_ftz(lg2_approx(torch.fmax(s, s.new_tensor(f32(1e-10))))))
    return s, rcp_approx(s)


def reference(x, group_size, eps, lo, hi, *, int8, ue8m0=False, v2=False, round_nearest=False):
    """(q, s): sgl-kernel's v1 or v2 arithmetic (the module docstring), on the GPU."""
    xg = x.float().unflatten(-1, (x.shape[-1] // group_size, group_size))
    amax = torch.fmax(absmax(xg, dim=-1, keepdim=True), xg.new_tensor(f32(eps)))
    s, y = group_scale(amax, hi, int8=int8, ue8m0=ue8m0 and not int8, v2=v2)
    v = clamp_max_first(mul_ftz(xg, y), f32(lo), f32(hi))
    if int8:
        q = (v.round() if round_nearest else v.trunc()).to(torch.int8)
    else:
        q = v.to(FP8)
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


def varied_rows(tokens: int, hidden: int, dtype=torch.bfloat16) -> torch.Tensor:
    """Random rows whose magnitudes differ by up to ~e^4, as activations do."""
    x = torch.randn(tokens, hidden, device="cuda") * torch.exp(torch.randn(tokens, 1, device="cuda") * 1.5)
    return x.to(dtype)


class _CaptureOp(TorchDispatchMode):
    """Records the arguments of calls to one kernelkit op and skips them (CPU tests of the wrappers)."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.calls = f"kernelkit::{name}", []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._schema.name == self.name:
            self.calls.append(args)
            return None
        return func(*args, **(kwargs or {}))


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
        """Fill with e4m3 NaN (never written: the clamp turns NaN into fp8_min) or int8 -128 (written only
        for NaN or inf inputs, or with fp8_min = -128 reached, which random data does not)."""
        q.view(torch.uint8).fill_(0x7F if not self.int8 else 0x80)
        return q

    def raw_flags(self, ue8m0=False, v2=False, round_nearest=False, pdl=True) -> tuple:
        """The raw op's arguments after the bounds: fp8 (scale_ue8m0, v2, enable_pdl), int8 (v2,
        round_nearest, enable_pdl)."""
        return (ue8m0, v2, pdl) if not self.int8 else (v2, round_nearest, pdl)

    def call(
        self,
        x,
        q,
        s,
        group_size,
        eps=EPS,
        lo=None,
        hi=None,
        ue8m0=False,
        enable_v2=None,
        round_nearest=False,
        enable_pdl=None,
    ):
        lo = self.limits[0] if lo is None else lo
        hi = self.limits[1] if hi is None else hi
        args = (x, q, s, group_size, eps, lo, hi) + ((ue8m0,) if not self.int8 else ())
        kwargs = {"enable_v2": enable_v2, "enable_pdl": enable_pdl}
        if round_nearest:
            kwargs["round_to_nearest"] = True
        return self.fn(*args, **kwargs)

    def assert_q_equal(self, q: torch.Tensor, want: torch.Tensor) -> None:
        if self.int8:
            assert_int8_equal(q, want)
        else:
            assert_fp8_equal(q, want)

    def want(self, x, group_size, eps=EPS, lo=None, hi=None, ue8m0=False, enable_v2=None, round_nearest=False):
        """The reference's (q, s) for a call with these arguments (enable_v2 resolved as the wrapper does)."""
        lo = self.limits[0] if lo is None else lo
        hi = self.limits[1] if hi is None else hi
        v2 = resolve_v2(enable_v2, x.dtype, group_size, eps, lo, hi, self.limits)
        return reference(x, group_size, eps, lo, hi, int8=self.int8, ue8m0=ue8m0, v2=v2, round_nearest=round_nearest)

    def check(
        self,
        x,
        group_size,
        layout="row",
        eps=EPS,
        lo=None,
        hi=None,
        ue8m0=False,
        q=None,
        enable_v2=None,
        round_nearest=False,
    ):
        """Run on x with poisoned outputs; compare with the reference; return (q, s)."""
        lead, groups = tuple(x.shape[:-1]), x.shape[-1] // group_size
        s, s_buf = make_scales(lead, groups, layout)
        if q is None:
            q = torch.empty(x.shape, device="cuda", dtype=self.q_dtype)
        self.poison_q(q)
        assert self.call(x, q, s, group_size, eps, lo, hi, ue8m0, enable_v2, round_nearest) is None
        want_q, want_s = self.want(x, group_size, eps, lo, hi, ue8m0, enable_v2, round_nearest)
        self.assert_q_equal(q, want_q)
        assert torch.equal(s, want_s), f"scales differ at {torch.nonzero(s != want_s)[:5].tolist()}"
        if layout == "tma":  # the padding rows of the scale buffer are not the op's to write
            assert s_buf[:, math.prod(lead) :].isnan().all(), "wrote into the scale buffer's padding"
        return q, s

    # ---------------- CPU: schema, signature, fake impl, validation ----------------

    def test_schema_registered(self):
        schema = self.torch_op._schema
        names = ["input", "output_q", "output_s", "group_size", "eps", *self.bounds]
        flags = ["v2", "round_nearest"] if self.int8 else ["scale_ue8m0", "v2"]
        assert [a.name for a in schema.arguments] == names + flags + ["enable_pdl"]
        types = [str(a.type) for a in schema.arguments]
        assert types == ["Tensor"] * 3 + ["int", "float", "float", "float"] + ["bool"] * 3
        written = {a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write}
        assert written == {"output_q", "output_s"} and schema.returns == []

    def test_sgl_kernel_signature(self):
        params = inspect.signature(self.fn).parameters
        names = ["input", "output_q", "output_s", "group_size", "eps", *self.bounds]
        # sgl-kernel's unified 8-bit signature (its fp8 and int8 quantizers are that function), then FlashInfer's
        # enable_pdl=None, then keyword-only: (int8) kernelkit's round_to_nearest
        defaults = {"scale_ue8m0": False, "fuse_silu_and_mul": False, "masked_m": None, "enable_v2": None}
        positional = names + list(defaults) + ["enable_pdl"]
        keyword_only = ["round_to_nearest"] if self.int8 else []
        assert list(params) == positional + keyword_only
        assert all(params[n].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for n in positional)
        assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in keyword_only)
        assert all(params[n].default is inspect.Parameter.empty for n in names)
        assert all(params[n].default == d for n, d in defaults.items()) and params["enable_pdl"].default is None
        if self.int8:
            assert params["round_to_nearest"].default is False
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
            for lead, hidden, group_size in FAKE_SHAPES:
                x, q, s = self.fake_args(lead, hidden, group_size, dtype, layout)
                assert self.call(x, q, s, group_size) is None
                assert self.call(x, q, s, group_size, enable_v2=False) is None

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
        cases = [
            (dict(group_size=96), r"group_size must be one of 8, 16, 32, 64, 128, 256, got 96"),
            (dict(group_size=4), r"group_size must be one of 8, 16, 32, 64, 128, 256, got 4"),
            (dict(group_size=512), r"group_size must be one of 8, 16, 32, 64, 128, 256, got 512"),
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
            # an output_s or output_q of another dtype makes it sgl_per_token_group_quant_8bit's call (sgl-kernel's
            # fp8 and int8 quantizers are that one), whose checks then name what it takes
            (dict(s_dtype=torch.bfloat16), r"output_s must be float32 \(scales\) or int32", UNIFIED),
            (dict(q_dtype=torch.uint8), r"output_q must be float8_e4m3fn or int8", UNIFIED),
            (dict(q_shape=(4, 128)), r"output_q must have the shape of input \[4, 256\], got \[4, 128\]"),
            (dict(x_dtype=torch.int32), r"input must be bfloat16, float16 or float32, got int32"),
            (dict(x_t=True), r"input must be contiguous in its last dimension"),
            (dict(q_t=True), r"output_q must be contiguous in its last dimension"),
            (dict(s_expand=True), r"output_s of shape \[4, 2\] has negative or overlapping strides"),
            (dict(s_overlap=True), r"output_s of shape \[4, 2\] has negative or overlapping strides"),
        ]
        for spec, message, *op in cases:
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
            with pytest.raises(RuntimeError, match=rf"{op[0] if op else self.op}: {message}"):
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

    def v2_refusal_cases(self) -> list[dict]:
        """Calls outside sgl-kernel's v2 kernel (each breaks one of its preconditions; every other check passes)."""
        lo, hi = self.limits
        cases = [
            dict(dtype=torch.float32),
            dict(eps=1e-4),
            dict(eps=1.01e-10),  # |eps - 1e-10| = 1e-12: sgl-kernel's v2 takes only 1e-10 within 1e-13
            dict(lo=lo / 2),
            dict(hi=hi / 2),
            dict(group_size=8),
            dict(group_size=256),
        ]
        if self.int8:
            cases.append(dict(lo=-hi))  # [-127, 127] is not int8's full range
        return cases

    def cpu_call(self, dtype=torch.bfloat16, group_size=128, eps=EPS, lo=None, hi=None, **kwargs):
        x = torch.zeros(4, 512, dtype=dtype)
        q = torch.empty(4, 512, dtype=self.q_dtype)
        s = torch.empty(4, 512 // group_size)
        return self.call(x, q, s, group_size, eps, lo, hi, **kwargs)

    def test_enable_v2_is_refused_where_sgl_kernel_has_no_v2(self):
        """enable_v2=True outside v2's preconditions: the binding refuses it before it looks at the device;
        None and False take such a call (v1)."""
        lo_name, hi_name = self.bounds
        message = (
            rf"{self.op}: enable_v2 \(sgl-kernel's v2 arithmetic\) needs bfloat16/float16 input, eps = 1e-10, "
            rf"the full range \({lo_name} = {self.limits[0]:g}, {hi_name} = {self.limits[1]:g}\) and group_size "
            r"16, 32, 64 or 128; got "
        )
        for case in self.v2_refusal_cases():
            with pytest.raises(RuntimeError, match=message):
                self.cpu_call(**case, enable_v2=True)
            for enable_v2 in (None, False):
                with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
                    self.cpu_call(**case, enable_v2=enable_v2)

    @pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
    @pytest.mark.parametrize("group_size", V2_GROUP_SIZES)
    def test_enable_v2_is_taken_for_v2_calls(self, dtype, group_size):
        for enable_v2 in (True, False, None):
            with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
                self.cpu_call(dtype, group_size, enable_v2=enable_v2)
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
            self.cpu_call(dtype, group_size, eps=1.0001e-10, enable_v2=True)  # within 1e-13 of 1e-10

    def test_the_wrapper_asks_for_the_arithmetic_sgl_kernel_picks(self):
        """Which arithmetic (and rounding, and PDL) the wrapper hands the op, seen at the dispatcher: v2 for
        exactly the calls sgl-kernel's newest releases send to v2 when enable_v2 is None."""
        lo, hi = self.limits
        cases = [
            (dict(), True),
            (dict(dtype=torch.float16, group_size=16), True),
            (dict(group_size=32), True),
            (dict(group_size=64), True),
            (dict(eps=1.0001e-10), True),
            (dict(dtype=torch.float32), False),
            (dict(group_size=8), False),
            (dict(group_size=256), False),
            (dict(eps=1e-4), False),
            (dict(eps=1.01e-10), False),
            (dict(lo=lo / 2), False),
            (dict(hi=hi / 2), False),
        ]
        for case, v2 in cases:
            for enable_v2, want in ((None, v2), (False, False), (True, True)):
                for pdl in (False, True):
                    extra = {"enable_pdl": pdl, "enable_v2": enable_v2}
                    with _CaptureOp(self.op) as capture:
                        self.cpu_call(**case, **extra)
                    (args,) = capture.calls
                    assert args[7:] == self.raw_flags(False, want, False, pdl), (case, extra)
        if self.int8:
            for rn in (False, True):
                with _CaptureOp(self.op) as capture:
                    self.cpu_call(round_nearest=rn, enable_pdl=True)
                assert capture.calls[0][7:] == (True, rn, True)
        else:
            with _CaptureOp(self.op) as capture:
                self.cpu_call(ue8m0=True, enable_pdl=False)
            assert capture.calls[0][7:] == (True, True, False)

    def test_resolve_v2_matches_the_wrapper(self):
        """The tests' own statement of the default (resolve_v2) against the wrapper's, on a grid of calls."""
        lo, hi = self.limits
        for dtype in DTYPES:
            for group_size in GROUP_SIZES:
                for eps in (1e-10, 1.0001e-10, 1.01e-10, 1e-6):
                    for bounds in ((lo, hi), (lo / 2, hi), (lo, hi / 2)):
                        with _CaptureOp(self.op) as capture:
                            self.cpu_call(dtype, group_size, eps, *bounds, enable_pdl=False)
                        got = capture.calls[0][7 if self.int8 else 8]
                        assert got == resolve_v2(None, dtype, group_size, eps, *bounds, self.limits)

    def test_pow2_ceil_on_cpu(self):
        """pow2_ceil (v2's ue8m0 scale) is exact PyTorch: the power of two >= s, from the bits."""
        s = torch.tensor([1.0, 1.0000001, 0.75, 3.0, 2.0**-126, 2.0**-100 * 1.5, 2.0**127, float("inf")])
        want = torch.tensor([1.0, 2.0, 1.0, 4.0, 2.0**-126, 2.0**-99, 2.0**127, float("inf")])
        assert torch.equal(pow2_ceil(s), want)
        r = torch.rand(100000) * 1000 + 1e-3
        p = pow2_ceil(r)
        assert bool(((p.view(torch.int32) & 0x7FFFFF) == 0).all()) and bool((p >= r).all() & (p < 2 * r).all())

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
    @pytest.mark.parametrize("v2", [False, True])
    def test_reference_semantics(self, v2):
        """The reference the GPU tests hold the kernels to, on values whose results are known: the eps floor,
        NaN ignored by absmax and -> qmin itself, an inf group's scale inf, its finite values +-0 and the inf
        qmin, the scale and multiplier formulas of v1 and v2."""
        lo, hi = self.limits
        x = torch.randn(3, 64, device="cuda") * 3
        x[0, :32] = 0.0  # an all-zero group
        x[1, 0] = float("nan")  # NaN ignored by absmax
        x[2, 40] = float("inf")  # inf: scale inf, finite values -> 0
        q, s = reference(x, 32, EPS, lo, hi, int8=self.int8, v2=v2)

        def scale(amax):  # v1: MUL(amax, RCP(qmax)); v2: MUL(amax, fl32(1/qmax))
            return mul_ftz(amax, C127 if self.int8 else C448) if v2 else mul_ftz(amax, rcp_approx(x.new_tensor(hi)))

        assert s[0, 0] == scale(x.new_tensor(f32(EPS)))
        assert s[1, 0] == scale(absmax(x[1, 1:32]))
        assert s[2, 1] == float("inf")
        qf = q.float()
        assert (qf[0, :32] == 0).all() and (qf[2, 32:40] == 0).all() and (qf[2, 41:] == 0).all()
        assert qf[2, 40] == lo and qf[1, 0] == lo
        # the largest value of a group quantizes to the top of the range (int8: 126 or 127, truncated)
        top = qf[1, 1:32].abs().max()
        assert top == hi if not self.int8 else top in (126, 127)

    @pytest.mark.gpu
    @pytest.mark.parametrize("layout", LAYOUTS)
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("shape", SHAPES, ids=str)
    def test_matches_reference(self, shape, dtype, layout):
        lead, hidden, group_size = shape
        x = torch.randn(*lead, hidden, device="cuda", dtype=dtype) * 4
        self.check(x, group_size, layout)

    @pytest.mark.gpu
    @pytest.mark.parametrize("layout", ["row", "tma"])
    @pytest.mark.parametrize("enable_v2", [False, True])
    @pytest.mark.parametrize("group_size", V2_GROUP_SIZES)
    @pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
    def test_v1_and_v2(self, dtype, group_size, enable_v2, layout, ue8m0):
        """Both arithmetics on every call both take (bf16/fp16, eps 1e-10, full range, group 16..128)."""
        self.check(varied_rows(300, 2048, dtype), group_size, layout, ue8m0=ue8m0, enable_v2=enable_v2)

    @pytest.mark.gpu
    def test_v1_and_v2_differ_on_random_data(self):
        """The switch is real: on random bf16 data v1 and v2 give different codes somewhere (each bit-exact)."""
        x = varied_rows(4096, 7168)
        q1, s1 = self.check(x, 128, "row", enable_v2=False)
        q2, s2 = self.check(x, 128, "row", enable_v2=True)
        differ = q1.view(torch.uint8) != q2.view(torch.uint8)
        assert differ.any(), "v1 and v2 gave the same codes on 29M random values"

    @pytest.mark.gpu
    @pytest.mark.parametrize(
        "case, v2",
        [
            (dict(), True),
            (dict(dtype=torch.float16, group_size=32), True),
            (dict(group_size=8), False),
            (dict(group_size=256), False),
            (dict(dtype=torch.float32), False),
            (dict(eps=1e-6), False),
            (dict(bounds="half"), False),
        ],
        ids=str,
    )
    def test_enable_v2_none_picks_what_sgl_kernel_picks(self, case, v2):
        """The default's bits are those of enable_v2=True for v2's calls and of enable_v2=False otherwise."""
        dtype, group_size, eps = case.get("dtype", torch.bfloat16), case.get("group_size", 128), case.get("eps", EPS)
        lo, hi = self.limits
        if case.get("bounds"):
            lo, hi = lo / 2, hi / 2
        assert resolve_v2(None, dtype, group_size, eps, lo, hi, self.limits) == v2
        x = varied_rows(1024, 4096, dtype)
        q_default, s_default = self.check(x, group_size, "col", eps, lo, hi)
        q_explicit, s_explicit = self.check(x, group_size, "col", eps, lo, hi, enable_v2=v2)
        assert torch.equal(q_default.view(torch.uint8), q_explicit.view(torch.uint8))
        assert torch.equal(s_default, s_explicit)

    @pytest.mark.gpu
    @pytest.mark.parametrize("group_size", GROUP_SIZES)
    def test_every_group_size(self, group_size):
        # groups of very different magnitudes, so a scale taken from the wrong group shows
        x = torch.randn(19, 2048, device="cuda") * torch.logspace(
            -3, 3, 2048 // group_size, device="cuda"
        ).repeat_interleave(group_size)
        self.check(x.to(torch.bfloat16), group_size, "col")

    @pytest.mark.gpu
    @pytest.mark.parametrize("layout", LAYOUTS)
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("lead, hidden", [((1,), 8), ((3,), 24), ((129,), 4096), ((4099,), 1024), ((2, 3), 64)])
    def test_group_size_8(self, lead, hidden, dtype, layout, ue8m0):
        """sgl-kernel accepts group_size 8 (its v1 kernel: one 16-byte vector of bf16 per group)."""
        x = torch.randn(*lead, hidden, device="cuda", dtype=dtype) * 4
        self.check(x, 8, layout, ue8m0=ue8m0)
        self.check(x, 8, layout, ue8m0=ue8m0, enable_v2=False)

    @pytest.mark.gpu
    @pytest.mark.parametrize("eps", [1e-10, 1e-4, 1.0])
    def test_all_zero_groups_get_the_eps_floor(self, eps, ue8m0):
        x = torch.randn(5, 1024, device="cuda", dtype=torch.bfloat16)
        x[1] = 0.0
        x[3, 128:256] = 0.0
        x[4, :128] = -0.0
        q, s = self.check(x, 128, "tma", eps=eps, ue8m0=ue8m0)
        v2 = resolve_v2(None, x.dtype, 128, eps, *self.limits, self.limits)
        amax = x.new_tensor([f32(eps)], dtype=torch.float32)
        floor, _ = group_scale(amax, self.limits[1], int8=self.int8, ue8m0=ue8m0 and not self.int8, v2=v2)
        floor = floor.item()
        assert (s[1] == floor).all() and s[3, 1] == floor and s[4, 0] == floor
        assert (q[1].view(torch.uint8) & 0x7F == 0).all()  # +-0
        assert (q[4, :128].view(torch.uint8) == (0 if self.int8 else 0x80)).all()  # fp8: -0 stays -0

    @pytest.mark.gpu
    @pytest.mark.parametrize("enable_v2", [None, False])
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    def test_nan_and_inf_groups(self, dtype, ue8m0, enable_v2):
        """NaN: ignored by the scale, qmin itself (the clamp takes the max first). An inf: its group's scale
        inf, multiplier 0, so the group's finite values are +-0 and the inf NaN -> qmin."""
        lo = self.limits[0]
        x = torch.randn(6, 512, device="cuda", dtype=dtype)
        x[0, 3] = float("nan")
        x[1, 130] = float("inf")  # +inf: the group's scale is inf
        x[2, 260] = float("-inf")
        x[3, :128] = float("nan")  # all NaN: absmax 0 -> eps floor
        x[4, 0], x[4, 1] = float("nan"), float("inf")
        x[5] = float("nan")
        q, s = self.check(x, 128, "row", ue8m0=ue8m0, enable_v2=enable_v2)
        assert s[1, 1] == float("inf") and s[2, 2] == float("inf") and not s.isnan().any()
        qf = q.float()
        assert qf[0, 3] == lo and qf[1, 130] == lo and qf[2, 260] == lo and (qf[3, :128] == lo).all()
        assert qf[4, 0] == lo and qf[4, 1] == lo and (qf[5] == lo).all()
        assert (qf[1, 128:256].nan_to_num(0)[torch.arange(128, device="cuda") != 2] == 0).all()

    @pytest.mark.gpu
    @pytest.mark.parametrize("layout", LAYOUTS)
    @pytest.mark.parametrize("enable_v2", [False, True])
    def test_ue8m0_scales_are_powers_of_two(self, layout, enable_v2):
        """ue8m0 scales are powers of two: v2's the one >= the plain scale (exact), v1's 2^ceil(log2) through
        the approximate lg2/ex2 (so within a factor of two of the plain scale either way)."""
        x = torch.randn(300, 7168, device="cuda", dtype=torch.bfloat16) * 10
        _, s = self.check(x, 128, layout, ue8m0=True, enable_v2=enable_v2)
        mantissa = s.contiguous().view(torch.int32) & 0x007FFFFF
        assert (mantissa == 0).all()
        _, plain = reference(x, 128, EPS, *self.limits, int8=False, v2=enable_v2)
        if enable_v2:
            assert (s >= plain).all() and (s < 2 * plain).all()
        else:
            assert (s >= plain / 2).all() and (s <= 2 * plain).all()

    @pytest.mark.gpu
    def test_row_strided_input_and_output(self):
        buf = torch.randn(37, 4096 + 64, device="cuda", dtype=torch.bfloat16)
        qbuf = torch.empty(37, 4096 + 128, device="cuda", dtype=self.q_dtype)
        self.poison_q(qbuf)
        self.check(buf[:, :4096], 128, "row", q=qbuf[:, 64 : 64 + 4096])
        self.check(buf[:, :4096], 8, "row", q=qbuf[:, 64 : 64 + 4096])
        bits = qbuf.view(torch.uint8)
        assert (bits[:, :64] == bits[0, 0]).all() and (bits[:, 64 + 4096 :] == bits[0, 0]).all(), (
            "wrote outside output_q"
        )

    @pytest.mark.gpu
    @pytest.mark.parametrize("group_size", [8, 64, 128])
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
    @pytest.mark.parametrize("group_size", [8, 64])
    def test_misaligned_rows_take_the_scalar_path(self, dtype, offset, group_size):
        # rows that start off a 16-byte boundary (and an odd row stride): no vector loads possible
        buf = torch.randn(9, 1024 + 5, device="cuda", dtype=dtype)
        qbuf = torch.empty(9, 1024 + 7, device="cuda", dtype=self.q_dtype)
        self.check(buf[:, offset : offset + 1024], group_size, "col", q=qbuf[:, offset : offset + 1024])

    @pytest.mark.gpu
    @pytest.mark.parametrize("group_size", [8, 128])
    def test_custom_bounds(self, group_size):
        """Bounds other than the full range (v1; the clamp uses them, the scale fp8_max)."""
        x = torch.randn(64, 1024, device="cuda", dtype=torch.bfloat16)
        lo, hi = self.limits
        for bounds in [(-hi / 2, hi / 2), (-hi / 4, hi), (lo, hi / 3), (hi / 8, hi / 8)]:
            self.check(x, group_size, "row", lo=bounds[0], hi=bounds[1])

    @pytest.mark.gpu
    def test_many_tokens_odd_count(self):
        x = torch.randn(20001, 7168, device="cuda", dtype=torch.bfloat16)
        self.check(x, 128, "tma")
        self.check(x, 128, "tma", enable_v2=False)

    @pytest.mark.gpu
    @pytest.mark.parametrize("layout", LAYOUTS)
    @pytest.mark.parametrize("group_size", SWEEP_GROUPS)
    @pytest.mark.parametrize("hidden", SWEEP_HIDDEN)
    @pytest.mark.parametrize("tokens", SWEEP_TOKENS)
    def test_sgl_kernel_sweep(self, tokens, hidden, group_size, layout):
        """sgl-kernel's upstream sweep (tokens x hidden x group size x row / column-major / TMA-aligned
        scales, bf16, eps 1e-10), bit-exact with the default arithmetic (v2 for 16..128, v1 for 8)."""
        self.check(varied_rows(tokens, hidden), group_size, layout)

    @pytest.mark.gpu
    @pytest.mark.parametrize("group_size", V2_GROUP_SIZES)
    @pytest.mark.parametrize("hidden", SWEEP_HIDDEN)
    @pytest.mark.parametrize("tokens", SWEEP_TOKENS)
    def test_sgl_kernel_sweep_v1(self, tokens, hidden, group_size):
        """The same sweep with enable_v2=False (sgl-kernel 0.3.x's default), TMA-aligned scales."""
        self.check(varied_rows(tokens, hidden), group_size, "tma", enable_v2=False)

    @pytest.mark.gpu
    @pytest.mark.parametrize("enable_v2", [False, True])
    @pytest.mark.parametrize("group_size", SWEEP_GROUPS)
    @pytest.mark.parametrize("hidden", SWEEP_HIDDEN)
    @pytest.mark.parametrize("tokens", SWEEP_TOKENS)
    def test_sgl_kernel_sweep_ue8m0(self, tokens, hidden, group_size, enable_v2):
        """fp8 only: the sweep with ue8m0 scales (column-major TMA-aligned, as DeepGEMM takes them)."""
        if enable_v2 and group_size not in V2_GROUP_SIZES:
            pytest.skip("v2 has no kernel for this group size")
        self.check(varied_rows(tokens, hidden), group_size, "tma", ue8m0=True, enable_v2=enable_v2)

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
        want_q, want_s = self.want(x, 128)
        self.assert_q_equal(q, want_q)
        assert torch.equal(s, want_s)

    def opcheck_args(self, v2=True):
        x = torch.randn(16, 512, device="cuda", dtype=torch.bfloat16)
        q = torch.empty(x.shape, device="cuda", dtype=self.q_dtype)
        s = torch.empty(4, 16, device="cuda").T  # column-major scales
        return (x, q, s, 128, EPS, *self.limits, *self.raw_flags(v2=v2))

    @pytest.mark.gpu
    def test_opcheck(self):
        # test_schema compares mutated arguments with torch.allclose, which has no float8 kernel:
        # the fp8 op runs the other checks (its writes are checked bit for bit above).
        utils = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
        if self.int8:
            utils = ("test_schema", *utils)
        for v2 in (True, False):
            for rn in (False, True) if self.int8 else (False,):
                *args, _, _, _ = self.opcheck_args()
                for pdl in (True, False):
                    flags = self.raw_flags(False, v2, rn, pdl)
                    torch.library.opcheck(self.torch_op, (*args, *flags), test_utils=utils)

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
            want_q, want_s = self.want(x, 128)
            self.assert_q_equal(q, want_q)
            assert torch.equal(s, want_s)
            kernelkit_ops.fused_add_rmsnorm(buf, r.clone(), w, enable_pdl=True)
            self.fn(buf, q, s, 128, EPS, *self.limits, enable_pdl=pdl)
            want_q, want_s = self.want(buf, 128)
            self.assert_q_equal(q, want_q)
            assert torch.equal(s, want_s)
            results.append(q.view(torch.uint8).clone())
        assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])

    @pytest.mark.gpu
    @pytest.mark.parametrize("enable_v2", [None, False])
    def test_torch_compile_fullgraph(self, enable_v2):
        extra = () if self.int8 else (True,)  # ue8m0 on for fp8

        @torch.compile(fullgraph=True)
        def quantize(x):
            q = torch.empty(x.shape, device=x.device, dtype=self.q_dtype)
            s = torch.empty(x.shape[1] // 128, x.shape[0], device=x.device).T
            self.fn(x, q, s, 128, EPS, *self.limits, *extra, enable_v2=enable_v2)
            return q, s * 2

        x = torch.randn(24, 1024, device="cuda", dtype=torch.bfloat16)
        q, s2 = quantize(x)
        want_q, want_s = self.want(x, 128, ue8m0=bool(extra), enable_v2=enable_v2)
        self.assert_q_equal(q, want_q)
        assert torch.equal(s2, want_s * 2)

    @pytest.mark.gpu
    def test_binding_rejects_a_tensor_on_another_device(self):
        x, q, s, group_size, *_ = self.opcheck_args()
        with pytest.raises(RuntimeError, match=rf"{self.op}: output_s must be a CUDA tensor"):
            self.call(x, q, s.cpu(), group_size)
        with pytest.raises(RuntimeError, match=rf"{self.op}: output_q must be a CUDA tensor"):
            self.call(x, q.cpu(), s, group_size)

    @pytest.mark.gpu
    def test_binding_rejects_bad_input(self):
        x, q, s, group_size, eps, lo, hi, *extra = self.opcheck_args(v2=False)
        op = self.torch_op
        with pytest.raises(
            RuntimeError,
            match=rf"{self.op}: the last dimension of input \(384\) must be a multiple of group_size \(256\)",
        ):
            op(x[:, :384], q[:, :384], s[:, :1], 256, eps, lo, hi, *extra)
        with pytest.raises(
            RuntimeError, match=rf"{self.op}: group_size must be one of 8, 16, 32, 64, 128, 256, got 96"
        ):
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
        v2_flags = self.raw_flags(v2=True)
        with pytest.raises(RuntimeError, match=rf"{self.op}: enable_v2 \(sgl-kernel's v2 arithmetic\) needs"):
            op(x.float(), q, s, 128, eps, lo, hi, *v2_flags)
        with pytest.raises(RuntimeError, match=rf"{self.op}: enable_v2 \(sgl-kernel's v2 arithmetic\) needs"):
            op(x, q, torch.empty(16, 64, device="cuda"), 8, eps, lo, hi, *v2_flags)
