"""Tests shared by rmsnorm, gemma_rmsnorm, fused_add_rmsnorm and gemma_fused_add_rmsnorm: each test
file subclasses RmsNormTests with its op name and variant flags."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
TOLERANCES = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-3, 2e-3), torch.bfloat16: (1.6e-2, 1e-2)}
# Real hidden sizes, sizes that are not a multiple of 8 (scalar path), H = 1, a row too wide for
# registers (two-pass path); 0, 1, odd and > 2^14 tokens.
SHAPES = [
    (1, 4096), (7, 2048), (128, 5120), (33, 7168), (2, 8192), (5, 4100), (3, 1), (0, 4096),
    (4, 40000), (16385, 4096), (2, 3, 1024),
]  # fmt: skip


def reference_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, gemma: bool) -> torch.Tensor:
    """fp32 math of the op, rounded once; x is already float32."""
    rms = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    w = weight.float()
    return x * rms * ((1.0 + w) if gemma else w)


class RmsNormTests:
    op: str
    fused: bool
    gemma: bool

    @property
    def fn(self):
        return getattr(kernelkit_ops, self.op)

    @property
    def torch_op(self):
        return getattr(torch.ops.kernelkit, self.op).default

    def make(self, shape, dtype, device="cuda"):
        x = torch.randn(*shape, device=device, dtype=dtype) * 2
        w = torch.randn(shape[-1], device=device, dtype=dtype)
        r = torch.randn(*shape, device=device, dtype=dtype) if self.fused else None
        return x, r, w

    def run_and_expect(self, x, r, w, eps=1e-6, **kwargs):
        """Runs the op; returns (actual, expected) pairs for every output."""
        if self.fused:
            total = x.float() + r.float()
            expected_res = total.to(x.dtype)
            expected = reference_norm(total, w, eps, self.gemma).to(x.dtype)
            self.fn(x, r, w, eps, **kwargs)
            return [(x, expected, False), (r, expected_res, True)]  # the residual must be bit-exact
        expected = reference_norm(x.float(), w, eps, self.gemma).to(x.dtype)
        out = torch.full_like(x, float("nan"))
        assert self.fn(x, w, eps, out=out, **kwargs) is out
        return [(out, expected, False)]

    # ---------------- CPU: schema, signature, fake impl, the binding's checks ----------------

    def test_schema_registered(self):
        schema = self.torch_op._schema
        first = ["input", "residual"] if self.fused else ["out", "input"]
        assert [a.name for a in schema.arguments] == [*first, "weight", "eps", "enable_pdl"]
        writes = [a.alias_info is not None and a.alias_info.is_write for a in schema.arguments]
        assert writes == ([True, True, False, False, False] if self.fused else [True, False, False, False, False])

    def test_sgl_kernel_signature(self):
        params = inspect.signature(self.fn).parameters
        expected = (
            ["input", "residual", "weight", "eps", "enable_pdl"]
            if self.fused
            else ["input", "weight", "eps", "out", "enable_pdl"]
        )
        assert list(params) == expected
        assert params["eps"].default == 1e-6 and params["enable_pdl"].default is None
        assert self.op in kernelkit_ops.__all__ and f"sgl_kernel.{self.op}" in self.fn.__doc__

    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    def test_fake_impl(self, dtype):
        with FakeTensorMode():
            x, r, w = self.make((3, 5, 64), dtype)
            if self.fused:
                assert self.fn(x, r, w, enable_pdl=False) is None
            else:
                y = self.fn(x, w, enable_pdl=False)
                assert y.shape == x.shape and y.dtype == dtype and y.device.type == "cuda"

    def call(self, x, r, w, **kwargs):
        return self.fn(x, r, w, **kwargs) if self.fused else self.fn(x, w, **kwargs)

    # The op is registered for CPU tensors too: its binding checks them as it checks CUDA tensors and then
    # refuses them by name, so every check runs here, through the wrapper, without a GPU.

    def test_rejects_cpu_tensor(self):
        x, r, w = self.make((4, 16), torch.bfloat16, device="cpu")
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
            self.call(x, r, w)
        x, r, w = self.make((0, 16), torch.bfloat16, device="cpu")
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
            self.call(x, r, w)  # an empty input is checked before it returns

    @pytest.mark.parametrize(
        "mutate, message",
        [
            (lambda x, r, w: (x, r, w.half()), "weight must have the dtype of input"),
            (lambda x, r, w: (x, r, torch.empty(8, dtype=w.dtype)), r"weight must have shape \[16\]"),
            (lambda x, r, w: (x, r, torch.empty(32, dtype=w.dtype)[::2]), "weight must be contiguous"),
            (lambda x, r, w: (x.int(), r, w), "input must be bfloat16, float16 or float32, got int32"),
            (
                lambda x, r, w: (torch.empty(16, 4, dtype=x.dtype).t(), r, w),
                "input must be contiguous in its last dimension",
            ),
        ],
        ids=["weight-dtype", "weight-length", "weight-strided", "input-dtype", "input-strided-last-dim"],
    )
    def test_rejects_bad_input(self, mutate, message):
        x, r, w = mutate(*self.make((4, 16), torch.bfloat16, device="cpu"))
        with pytest.raises(RuntimeError, match=rf"{self.op}: {message}"):
            self.call(x, r, w, enable_pdl=False)

    def test_rejects_negative_eps_and_bad_residual(self):
        x, r, w = self.make((4, 16), torch.bfloat16, device="cpu")
        with pytest.raises(RuntimeError, match=rf"{self.op}: eps must be >= 0"):
            self.call(x, r, w, eps=-1.0, enable_pdl=False)
        if self.fused:
            with pytest.raises(
                RuntimeError, match=rf"{self.op}: residual must have the shape of input \[4, 16\], got \[2, 16\]"
            ):
                self.fn(x, torch.empty(2, 16, dtype=x.dtype), w, enable_pdl=False)
            with pytest.raises(RuntimeError, match=rf"{self.op}: residual must have the dtype of input"):
                self.fn(x, r.float(), w, enable_pdl=False)
            with pytest.raises(RuntimeError, match=rf"{self.op}: residual must be contiguous in its last dimension"):
                self.fn(x, torch.empty(16, 4, dtype=x.dtype).t(), w, enable_pdl=False)
        else:
            with pytest.raises(
                RuntimeError, match=rf"{self.op}: out must have the shape of input \[4, 16\], got \[4, 8\]"
            ):
                self.fn(x, w, out=torch.empty(4, 8, dtype=torch.bfloat16), enable_pdl=False)
            with pytest.raises(RuntimeError, match=rf"{self.op}: out must have the dtype of input"):
                self.fn(x, w, out=torch.empty(4, 16, dtype=torch.float16), enable_pdl=False)

    # ---------------- GPU: numerics, strides, PDL, opcheck, compile ----------------

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("shape", SHAPES, ids=str)
    def test_matches_fp32_reference(self, dtype, shape):
        x, r, w = self.make(shape, dtype)
        rtol, atol = TOLERANCES[dtype]
        for actual, expected, exact in self.run_and_expect(x, r, w):
            if exact:
                assert torch.equal(actual, expected)
            else:
                torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)

    @pytest.mark.gpu
    @pytest.mark.parametrize("enable_pdl", [False, True])
    def test_pdl_on_and_off(self, enable_pdl):
        x, r, w = self.make((300, 4096), torch.bfloat16)
        for actual, expected, exact in self.run_and_expect(x, r, w, 1e-5, enable_pdl=enable_pdl):
            torch.testing.assert_close(actual, expected, rtol=0 if exact else 1.6e-2, atol=0 if exact else 1e-2)

    @pytest.mark.gpu
    def test_row_strided_tensors(self):
        buf = torch.randn(37, 4096 + 64, device="cuda", dtype=torch.bfloat16)
        x = buf[:, :4096]
        r = torch.randn(37, 4096 + 128, device="cuda", dtype=torch.bfloat16)[:, 64:4160] if self.fused else None
        w = torch.randn(4096, device="cuda", dtype=torch.bfloat16)
        untouched = buf[:, 4096:].clone()
        for actual, expected, exact in self.run_and_expect(x, r, w):
            torch.testing.assert_close(actual, expected, rtol=0 if exact else 1.6e-2, atol=0 if exact else 1e-2)
        assert torch.equal(buf[:, 4096:], untouched), "wrote outside the row's view"

    @pytest.mark.gpu
    def test_runs_on_current_stream(self):
        x, r, w = self.make((512, 2048), torch.bfloat16)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            pairs = self.run_and_expect(x, r, w)
        stream.synchronize()
        for actual, expected, exact in pairs:
            torch.testing.assert_close(actual, expected, rtol=0 if exact else 1.6e-2, atol=0 if exact else 1e-2)

    @pytest.mark.gpu
    def test_opcheck(self):
        x, r, w = self.make((16, 256), torch.bfloat16)
        args = (x, r, w, 1e-6, False) if self.fused else (torch.empty_like(x), x, w, 1e-6, False)
        torch.library.opcheck(self.torch_op, args)

    @pytest.mark.gpu
    def test_torch_compile_fullgraph(self):
        x, r, w = self.make((8, 512), torch.bfloat16)
        if self.fused:
            expected = reference_norm(x.float() + r.float(), w, 1e-6, self.gemma).to(x.dtype) * 2

            @torch.compile(fullgraph=True)
            def fn(a, b, c):
                self.fn(a, b, c)
                return a * 2

            got = fn(x, r, w)
        else:
            expected = reference_norm(x.float(), w, 1e-6, self.gemma).to(x.dtype) * 2
            got = torch.compile(lambda a, c: self.fn(a, c) * 2, fullgraph=True)(x, w)
        torch.testing.assert_close(got, expected, rtol=1.6e-2, atol=2e-2)

    @pytest.mark.gpu
    def test_binding_rejects_a_tensor_on_another_device(self):
        x, r, w = self.make((4, 16), torch.bfloat16)
        with pytest.raises(RuntimeError, match=rf"{self.op}: weight must be a CUDA tensor"):
            self.call(x, r, w.cpu())
        if torch.cuda.device_count() > 1:
            with pytest.raises(RuntimeError, match=rf"{self.op}: input and weight must be on the same device"):
                self.call(x, r, w.to("cuda:1"))

    @pytest.mark.gpu
    def test_binding_rejects_bad_input(self):
        x, r, w = self.make((4, 16), torch.bfloat16)
        first = (x, r) if self.fused else (torch.empty_like(x), x)
        with pytest.raises(RuntimeError, match=rf"{self.op}: weight must have shape \[16\]"):
            self.torch_op(*first, w[:8], 1e-6, False)
        with pytest.raises(RuntimeError, match=rf"{self.op}: eps must be >= 0"):
            self.torch_op(*first, w, -1.0, False)
