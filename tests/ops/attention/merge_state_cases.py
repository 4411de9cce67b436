"""What the merge_state and merge_state_v2 tests share: inputs, the float64 reference in either LSE base, the
tolerances, and the GPU checks both ops must pass (each test file runs them for its op and base)."""

from __future__ import annotations

import math

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
# (rtol, atol) of v_merged against the float64 reference: one rounding to the dtype, plus fp32 weights.
V_TOL = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-3, 2e-3), torch.bfloat16: (1.6e-2, 1e-2)}
LSE_TOL = (1e-5, 1e-5)
# Head dims real models use: 64 (small Llamas), 128 (Llama-3, Qwen), 256 (Gemma), 512 + 64 (DeepSeek MLA),
# and odd ones (upstream's 32/48/96; 7 has no 16-byte vector).
HEAD_DIMS = [64, 128, 256, 576, 32, 48, 96, 7]


def make_states(tokens: int, heads: int, head_dim: int, dtype: torch.dtype, strided: bool = False):
    """v_a, s_a, v_b, s_b with LSEs of a few units apart (weights far from 0.5 as well as near it).

    strided: v tensors are windows of wider buffers (heads and tokens not packed) and the LSEs are transposed
    views of [H, T] buffers (strides (1, T)).
    """
    if strided:
        v_a = torch.randn(tokens, heads + 1, head_dim + 8, device="cuda", dtype=dtype)[:, 1:, 8:]
        v_b = torch.randn(tokens, heads, head_dim + 16, device="cuda", dtype=dtype)[:, :, :head_dim]
        s_a = (3 * torch.randn(heads, tokens, device="cuda")).t()
        s_b = (3 * torch.randn(heads, tokens, device="cuda")).t()
    else:
        v_a = torch.randn(tokens, heads, head_dim, device="cuda", dtype=dtype)
        v_b = torch.randn(tokens, heads, head_dim, device="cuda", dtype=dtype)
        s_a = 3 * torch.randn(tokens, heads, device="cuda")
        s_b = 3 * torch.randn(tokens, heads, device="cuda")
    return v_a, s_a, v_b, s_b


def poisoned_outputs(v_a: torch.Tensor):
    t, h, d = v_a.shape
    v = torch.full((t, h, d), float("nan"), device=v_a.device, dtype=v_a.dtype)
    s = torch.full((t, h), float("nan"), device=v_a.device, dtype=torch.float32)
    return v, s


def reference(v_a, s_a, v_b, s_b, base: str):
    """The merge in float64. base "2": sgl-kernel's merge_state (LSEs as given); base "e": merge_state_v2
    (an infinite LSE counts as -inf)."""
    sa, sb = s_a.double(), s_b.double()
    if base == "e":
        sa = torch.where(torch.isinf(sa), -math.inf, sa)
        sb = torch.where(torch.isinf(sb), -math.inf, sb)
    exp = torch.exp2 if base == "2" else torch.exp
    log = torch.log2 if base == "2" else torch.log
    m = torch.maximum(sa, sb)
    ea, eb = exp(sa - m), exp(sb - m)
    d = ea + eb
    v = v_a.double() * (ea / d).unsqueeze(-1) + v_b.double() * (eb / d).unsqueeze(-1)
    return v, log(d) + m


def assert_merged(v, s, v_a, s_a, v_b, s_b, base: str):
    v_ref, s_ref = reference(v_a, s_a, v_b, s_b, base)
    rtol, atol = V_TOL[v.dtype]
    torch.testing.assert_close(v.double(), v_ref, rtol=rtol, atol=atol)
    torch.testing.assert_close(s.double(), s_ref, rtol=LSE_TOL[0], atol=LSE_TOL[1])


def cpu_args(t=2, h=4, d=8, dtype=torch.bfloat16):
    return [
        torch.zeros(t, h, d, dtype=dtype),
        torch.zeros(t, h),
        torch.zeros(t, h, d, dtype=dtype),
        torch.zeros(t, h),
        torch.zeros(t, h, d, dtype=dtype),
        torch.zeros(t, h),
    ]


class MergeStateTests:
    """The tests both merges pass: each test file subclasses this with its op, its LSE base ("2" or "e") and the
    merged LSE of two equal states in that base."""

    op: str
    base: str
    log_2: float

    def wrapper(self, *args, **kwargs):
        return getattr(kernelkit_ops, self.op)(*args, **kwargs)

    @property
    def torch_op(self):
        return getattr(torch.ops.kernelkit, self.op).default

    # ---------------- CPU: schema, fake, the binding's checks ----------------

    def test_schema_registered(self):
        schema = self.torch_op._schema
        assert [a.name for a in schema.arguments] == ["v_a", "s_a", "v_b", "s_b", "v_merged", "s_merged", "enable_pdl"]
        for i in (4, 5):
            assert schema.arguments[i].alias_info is not None and schema.arguments[i].alias_info.is_write
        for i in (0, 1, 2, 3):
            assert schema.arguments[i].alias_info is None
        assert schema.returns == []

    def test_fake_impl_allocates_and_returns_both(self):
        with FakeTensorMode():
            v = torch.empty(3, 8, 128, device="cuda", dtype=torch.bfloat16)
            s = torch.empty(3, 8, device="cuda", dtype=torch.bfloat16)  # converted to float32 like upstream
            v_m, s_m = self.wrapper(v, s, v, s)
            assert v_m.shape == (3, 8, 128) and v_m.dtype == torch.bfloat16
            assert s_m.shape == (3, 8) and s_m.dtype == torch.float32

    def test_rejects_cpu_tensor(self):
        with pytest.raises(RuntimeError, match=f"{self.op}: v_a must be a CUDA tensor"):
            self.wrapper(*cpu_args())

    def test_rejects_bad_ranks_and_shapes(self):
        a = cpu_args()
        with pytest.raises(
            RuntimeError, match=rf"{self.op}: v_a must be 3-D \[num_tokens, num_heads, head_dim\], got \[2, 4\]"
        ):
            self.wrapper(a[1], a[1], a[2], a[3])
        with pytest.raises(
            RuntimeError, match=rf"{self.op}: v_b must have the shape of v_a \[2, 4, 8\], got \[2, 4, 16\]"
        ):
            self.wrapper(a[0], a[1], torch.zeros(2, 4, 16, dtype=torch.bfloat16), a[3])
        with pytest.raises(
            RuntimeError, match=rf"{self.op}: s_b must have shape \[num_tokens, num_heads\] = \[2, 4\], got"
        ):
            self.wrapper(a[0], a[1], a[2], torch.zeros(2, 5))
        with pytest.raises(RuntimeError, match=rf"{self.op}: v_merged must have the shape of v_a"):
            self.wrapper(a[0], a[1], a[2], a[3], torch.zeros(2, 4, 4, dtype=torch.bfloat16), a[5])
        with pytest.raises(RuntimeError, match=rf"{self.op}: s_merged must have shape \[num_tokens, num_heads\]"):
            self.wrapper(a[0], a[1], a[2], a[3], a[4], torch.zeros(4, 2))

    def test_rejects_dtypes(self):
        a = cpu_args()
        with pytest.raises(RuntimeError, match=f"{self.op}: v_a must be bfloat16, float16 or float32, got int32"):
            self.wrapper(a[0].int(), a[1], a[2].int(), a[3])
        with pytest.raises(RuntimeError, match=rf"{self.op}: v_b must have the dtype of v_a \(bfloat16\), got float16"):
            self.wrapper(a[0], a[1], a[2].half(), a[3])
        with pytest.raises(
            RuntimeError, match=rf"{self.op}: v_merged must have the dtype of v_a \(bfloat16\), got float32"
        ):
            self.wrapper(a[0], a[1], a[2], a[3], a[4].float(), a[5])
        with pytest.raises(RuntimeError, match=f"{self.op}: s_merged must be float32, got bfloat16"):
            self.wrapper(a[0], a[1], a[2], a[3], a[4], a[5].bfloat16())
        with pytest.raises(RuntimeError, match=f"{self.op}: s_a must be float32, got float16"):
            self.torch_op(a[0], a[1].half(), a[2], a[3], a[4], a[5], False)  # the wrapper would convert it

    def test_rejects_strided_last_dim(self):
        a = cpu_args()
        with pytest.raises(RuntimeError, match=f"{self.op}: v_a must be contiguous in its last dimension"):
            self.wrapper(torch.zeros(2, 4, 16, dtype=torch.bfloat16)[:, :, ::2], a[1], a[2], a[3])
        with pytest.raises(RuntimeError, match=f"{self.op}: v_merged must be contiguous in its last dimension"):
            self.wrapper(a[0], a[1], a[2], a[3], torch.zeros(2, 4, 16, dtype=torch.bfloat16)[:, :, ::2], a[5])

    # ---------------- GPU: against the float64 reference ----------------

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("head_dim", HEAD_DIMS)
    @pytest.mark.parametrize("tokens,heads", [(1, 32), (7, 8), (613, 16), (64, 128), (3, 1)])
    def test_matches_reference(self, tokens, heads, head_dim, dtype):
        v_a, s_a, v_b, s_b = make_states(tokens, heads, head_dim, dtype)
        v_out, s_out = poisoned_outputs(v_a)
        v, s = self.wrapper(v_a, s_a, v_b, s_b, v_out, s_out)
        assert v is v_out and s is s_out
        assert_merged(v, s, v_a, s_a, v_b, s_b, self.base)

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    def test_allocates_outputs(self, dtype):
        v_a, s_a, v_b, s_b = make_states(33, 8, 128, dtype)
        v, s = self.wrapper(v_a, s_a, v_b, s_b)
        assert v.dtype == dtype and s.dtype == torch.float32
        assert_merged(v, s, v_a, s_a, v_b, s_b, self.base)

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("head_dim", [128, 576, 40])
    def test_strided_inputs(self, head_dim, dtype):
        v_a, s_a, v_b, s_b = make_states(37, 8, head_dim, dtype, strided=True)
        assert not v_a.is_contiguous() and not s_a.is_contiguous()
        v_out = torch.full((37, 9, head_dim + 8), float("nan"), device="cuda", dtype=dtype)[:, 1:, 8:]
        s_out = torch.full((8, 37), float("nan"), device="cuda").t()
        self.wrapper(v_a, s_a, v_b, s_b, v_out, s_out)
        assert_merged(v_out, s_out, v_a, s_a, v_b, s_b, self.base)

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    def test_empty_partial_state_takes_the_other(self, dtype):
        """An LSE of -inf is an empty KV set: its weight is exactly 0, the other state passes through unchanged."""
        v_a, s_a, v_b, s_b = make_states(50, 8, 128, dtype)
        s_a[::3] = -math.inf
        s_b[1::3] = -math.inf
        v, s = self.wrapper(v_a, s_a, v_b, s_b)
        assert torch.equal(v[::3], v_b[::3]) and torch.equal(s[::3], s_b[::3])
        assert torch.equal(v[1::3], v_a[1::3]) and torch.equal(s[1::3], s_a[1::3])
        assert_merged(v, s, v_a, s_a, v_b, s_b, self.base)

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    def test_equal_lses_average(self, dtype):
        v_a, s_a, v_b, _ = make_states(20, 8, 256, dtype)
        v, s = self.wrapper(v_a, s_a, v_b, s_a.clone())
        if dtype == torch.float32:  # both weights are exactly 1/2: one rounding of (v_a + v_b) / 2
            assert torch.equal(v, ((v_a.double() + v_b.double()) / 2).float())
        torch.testing.assert_close(s.double(), s_a.double() + self.log_2, rtol=1e-6, atol=1e-6)
        assert_merged(v, s, v_a, s_a, v_b, s_a, self.base)

    @pytest.mark.gpu
    def test_zero_tokens_launches_nothing(self):
        v_a, s_a, v_b, s_b = make_states(0, 8, 128, torch.bfloat16)
        v, s = self.wrapper(v_a, s_a, v_b, s_b)
        assert v.shape == (0, 8, 128) and s.shape == (0, 8)

    @pytest.mark.gpu
    def test_large(self):
        v_a, s_a, v_b, s_b = make_states(16384, 32, 128, torch.bfloat16)
        v_out, s_out = poisoned_outputs(v_a)
        self.wrapper(v_a, s_a, v_b, s_b, v_out, s_out)
        assert_merged(v_out, s_out, v_a, s_a, v_b, s_b, self.base)

    @pytest.mark.gpu
    @pytest.mark.parametrize("enable_pdl", [False, True])
    def test_pdl_on_and_off(self, enable_pdl):
        v_a, s_a, v_b, s_b = make_states(64, 32, 128, torch.bfloat16)
        v, s = self.wrapper(v_a, s_a, v_b, s_b, enable_pdl=enable_pdl)
        assert_merged(v, s, v_a, s_a, v_b, s_b, self.base)

    @pytest.mark.gpu
    def test_opcheck(self):
        v_a, s_a, v_b, s_b = make_states(16, 8, 64, torch.bfloat16)
        v_out, s_out = poisoned_outputs(v_a)
        torch.library.opcheck(self.torch_op, (v_a, s_a, v_b, s_b, v_out, s_out, False))

    @pytest.mark.gpu
    def test_torch_compile_fullgraph(self):
        def step(v_a, s_a, v_b, s_b):
            v, s = self.wrapper(v_a, s_a, v_b, s_b)
            return v.float() + 1, s - 1

        fn = torch.compile(step, fullgraph=True)
        v_a, s_a, v_b, s_b = make_states(8, 8, 128, torch.float32)
        v, s = fn(v_a, s_a, v_b, s_b)
        assert_merged(v - 1, s + 1, v_a, s_a, v_b, s_b, self.base)

    @pytest.mark.gpu
    def test_cuda_graph_replay(self):
        v_a, s_a, v_b, s_b = make_states(100, 32, 128, torch.bfloat16)
        v_out, s_out = poisoned_outputs(v_a)
        self.wrapper(v_a, s_a, v_b, s_b, v_out, s_out)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.wrapper(v_a, s_a, v_b, s_b, v_out, s_out)
        fresh = make_states(100, 32, 128, torch.bfloat16)
        for dst, src in zip((v_a, s_a, v_b, s_b), fresh, strict=True):
            dst.copy_(src)
        v_out.fill_(float("nan"))
        s_out.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        assert_merged(v_out, s_out, v_a, s_a, v_b, s_b, self.base)
