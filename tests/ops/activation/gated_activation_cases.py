"""Tests shared by silu_and_mul, gelu_and_mul and gelu_tanh_and_mul: each test file subclasses
GatedActivationTests with its op name and fp32 reference."""

from __future__ import annotations

from collections.abc import Callable

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
TOLERANCES = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-3, 2e-3), torch.bfloat16: (1.6e-2, 1e-2)}

# (leading shape, d): real MLP widths, odd d (scalar path), 1 and 0 tokens, 3-D inputs, many rows.
SHAPES = [
    ((1,), 14336),
    ((128,), 14336),
    ((7,), 13),
    ((33,), 4100),
    ((5,), 1),
    ((0,), 64),
    ((2, 3), 96),
    ((65537,), 8),  # more rows than one grid dimension holds: the row loop must wrap
]


class GatedActivationTests:
    op: str
    reference: Callable[[torch.Tensor], torch.Tensor]  # act(x) in float32

    def wrapper(self, *args, **kwargs):
        return getattr(kernelkit_ops, self.op)(*args, **kwargs)

    @property
    def torch_op(self):
        return getattr(torch.ops.kernelkit, self.op).default

    def expected(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1] // 2
        xf = x.float()
        return (type(self).reference(xf[..., :d]) * xf[..., d:]).to(x.dtype)

    # ---------------- CPU: schema, fake impl, the binding's checks (runs in CI) ----------------

    def test_schema_registered(self):
        schema = self.torch_op._schema
        assert schema.name == f"kernelkit::{self.op}"
        args = [(a.name, str(a.type)) for a in schema.arguments]
        assert args == [("out", "Tensor"), ("input", "Tensor"), ("enable_pdl", "bool")]
        assert schema.arguments[0].alias_info is not None and schema.arguments[0].alias_info.is_write
        assert schema.arguments[1].alias_info is None
        assert schema.returns == []

    def test_exported_with_sgl_kernel_signature(self):
        import inspect

        fn = getattr(kernelkit_ops, self.op)
        params = inspect.signature(fn).parameters
        # sgl-kernel's (input, out=None), then FlashInfer's enable_pdl=None keyword
        assert list(params) == ["input", "out", "enable_pdl"]
        assert params["out"].default is None and params["enable_pdl"].default is None
        assert self.op in kernelkit_ops.__all__
        assert f"sgl_kernel.{self.op}" in (fn.__doc__ or "")

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_fake_impl_shapes(self, dtype):
        with FakeTensorMode():
            x = torch.empty(3, 5, 2 * 24, device="cuda", dtype=dtype)
            y = self.wrapper(x)
            assert y.shape == (3, 5, 24) and y.dtype == dtype and y.device.type == "cuda"
            out = torch.empty(3, 5, 24, device="cuda", dtype=dtype)
            assert self.wrapper(x, out) is out

    # The op is registered for CPU tensors too: its binding checks them as it checks CUDA tensors and then
    # refuses them by name, so every check runs here, through the wrapper, without a GPU.

    def test_rejects_cpu_tensor(self):
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
            self.wrapper(torch.randn(4, 16))
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
            self.wrapper(torch.randn(0, 16))  # an empty input is checked before it returns

    def test_rejects_non_tensor(self):
        # torch's own argument parsing names it; the wrapper meets it first where it reads the input
        # (allocating out, or asking its device for the PDL default).
        with pytest.raises(RuntimeError, match=r"Expected a value of type 'Tensor' for argument 'input'"):
            self.wrapper([1.0, 2.0], torch.empty(1), enable_pdl=False)
        with pytest.raises(AttributeError, match="'list' object has no attribute"):
            self.wrapper([1.0, 2.0])

    @pytest.mark.parametrize(
        "make, message",
        [
            (
                lambda: (torch.empty(4, 16, dtype=torch.int32), None),
                r"input must be bfloat16, float16 or float32, got int32",
            ),
            (lambda: (torch.empty(4, 15, dtype=torch.bfloat16), None), r"input's last dimension must be even"),
            (
                lambda: (torch.empty((), dtype=torch.bfloat16), None),
                r"input's last dimension must be even \(gate and up halves\), got shape \[\]",
            ),
            (
                lambda: (torch.empty(4, 16, dtype=torch.bfloat16), torch.empty(4, 7, dtype=torch.bfloat16)),
                r"out must have shape \[4, 8\], got \[4, 7\]",
            ),
            (
                lambda: (torch.empty(4, 16, dtype=torch.bfloat16), torch.empty(4, 8, dtype=torch.float16)),
                r"out must have the dtype of input",
            ),
            (
                lambda: (torch.empty(16, 4, dtype=torch.bfloat16).t(), None),
                r"input must be contiguous in its last dimension",
            ),
            (
                lambda: (torch.empty(4, 16, dtype=torch.bfloat16), torch.empty(8, 4, dtype=torch.bfloat16).t()),
                r"out must be contiguous in its last dimension",
            ),
        ],
        ids=[
            "dtype",
            "odd-last-dim",
            "0-d",
            "out-shape",
            "out-dtype",
            "input-strided-last-dim",
            "out-strided-last-dim",
        ],
    )
    def test_rejects_bad_input(self, make, message):
        x, out = make()
        with pytest.raises(RuntimeError, match=rf"{self.op}: {message}"):
            self.wrapper(x, out)

    # ---------------- GPU: numerics, strides, opcheck, compile ----------------

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    @pytest.mark.parametrize("lead, d", SHAPES, ids=lambda s: str(s))
    def test_matches_fp32_reference(self, dtype, lead, d):
        x = torch.randn(*lead, 2 * d, device="cuda", dtype=dtype) * 3
        out = torch.full((*lead, d), float("nan"), device="cuda", dtype=dtype)
        result = self.wrapper(x, out)
        assert result is out
        rtol, atol = TOLERANCES[dtype]
        torch.testing.assert_close(out, self.expected(x), rtol=rtol, atol=atol)

    @pytest.mark.gpu
    @pytest.mark.parametrize("dtype", DTYPES, ids=str)
    def test_row_strided_input_and_output(self, dtype):
        # A slice of a wider buffer (e.g. the gate/up part of a fused projection) and a strided out.
        buf = torch.randn(37, 2 * 200 + 24, device="cuda", dtype=dtype)
        x = buf[:, : 2 * 200]
        out_buf = torch.full((37, 256), float("nan"), device="cuda", dtype=dtype)
        out = out_buf[:, :200]
        self.wrapper(x, out)
        rtol, atol = TOLERANCES[dtype]
        torch.testing.assert_close(out, self.expected(x), rtol=rtol, atol=atol)
        assert torch.isnan(out_buf[:, 200:]).all(), "wrote outside out's view"

    @pytest.mark.gpu
    def test_misaligned_pointer_falls_back_to_narrow_vectors(self):
        buf = torch.randn(9, 2 * 64 + 1, device="cuda", dtype=torch.bfloat16)
        x = buf[:, 1:]  # 2-byte offset: 16-byte loads would fault
        out = self.wrapper(x)
        torch.testing.assert_close(out, self.expected(x), rtol=1.6e-2, atol=1e-2)

    @pytest.mark.gpu
    def test_allocates_output_when_not_given(self):
        x = torch.randn(3, 4, 2 * 72, device="cuda", dtype=torch.bfloat16)
        y = self.wrapper(x)
        assert y.shape == (3, 4, 72)
        torch.testing.assert_close(y, self.expected(x), rtol=1.6e-2, atol=1e-2)

    @pytest.mark.gpu
    def test_runs_on_current_stream(self):
        x = torch.randn(1024, 2 * 2048, device="cuda", dtype=torch.bfloat16)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())  # x is written on the current stream
        with torch.cuda.stream(stream):
            y = self.wrapper(x)
        torch.cuda.current_stream().wait_stream(stream)  # the check reads y on the current stream
        torch.testing.assert_close(y, self.expected(x), rtol=1.6e-2, atol=1e-2)

    @pytest.mark.gpu
    def test_opcheck(self):
        x = torch.randn(16, 2 * 40, device="cuda", dtype=torch.bfloat16)
        out = torch.empty(16, 40, device="cuda", dtype=torch.bfloat16)
        for pdl in (True, False):
            torch.library.opcheck(self.torch_op, (out, x, pdl))

    @pytest.mark.gpu
    def test_pdl_reads_what_the_previous_kernel_wrote(self):
        # With PDL the launch overlaps the previous kernel; the kernel's griddepcontrol.wait must still
        # see that kernel's writes. Producer: a copy into the buffer the op reads right after.
        x = torch.randn(512, 2 * 4096, device="cuda", dtype=torch.bfloat16)
        buf = torch.full_like(x, float("nan"))
        results = []
        for pdl in (True, False, None):
            buf.fill_(float("nan"))
            buf.copy_(x)
            results.append(self.wrapper(buf, enable_pdl=pdl))
        torch.testing.assert_close(results[0], self.expected(x), rtol=1.6e-2, atol=1e-2)
        assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])

    @pytest.mark.gpu
    def test_torch_compile_fullgraph(self):
        fn = torch.compile(lambda t: self.wrapper(t) * 2, fullgraph=True)
        x = torch.randn(8, 2 * 256, device="cuda", dtype=torch.bfloat16)
        torch.testing.assert_close(fn(x), self.expected(x) * 2, rtol=1.6e-2, atol=2e-2)

    @pytest.mark.gpu
    def test_binding_rejects_bad_input(self):
        # The raw torch op is public too: its C++ binding checks and names the argument.
        x = torch.randn(4, 16, device="cuda", dtype=torch.bfloat16)
        with pytest.raises(RuntimeError, match=rf"{self.op}: out must have shape"):
            self.torch_op(torch.empty(4, 7, device="cuda", dtype=torch.bfloat16), x, True)
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be bfloat16, float16 or float32"):
            self.torch_op(torch.empty(4, 8, device="cuda", dtype=torch.float64), x.double(), True)
        with pytest.raises(RuntimeError, match=rf"{self.op}: out must have the dtype of input"):
            self.torch_op(torch.empty(4, 8, device="cuda", dtype=torch.float16), x, True)
        with pytest.raises(RuntimeError, match=rf"{self.op}: input must be contiguous in its last dimension"):
            self.torch_op(
                torch.empty(8, 8, device="cuda", dtype=torch.bfloat16),
                torch.empty(16, 8, device="cuda", dtype=torch.bfloat16).t(),
                True,
            )

    @pytest.mark.gpu
    def test_binding_rejects_a_tensor_on_another_device(self):
        x = torch.randn(4, 16, device="cuda", dtype=torch.bfloat16)
        with pytest.raises(RuntimeError, match=rf"{self.op}: out must be a CUDA tensor"):
            self.wrapper(x, torch.empty(4, 8, dtype=torch.bfloat16))
        if torch.cuda.device_count() > 1:
            other = torch.empty(4, 8, device="cuda:1", dtype=torch.bfloat16)
            with pytest.raises(RuntimeError, match=rf"{self.op}: input and out must be on the same device"):
                self.wrapper(x, other)

    @pytest.mark.gpu
    def test_zero_tokens_launches_nothing(self):
        x = torch.empty(0, 2 * 128, device="cuda", dtype=torch.bfloat16)
        assert self.wrapper(x).shape == (0, 128)
        self.torch_op(torch.empty(0, 128, device="cuda", dtype=torch.bfloat16), x, True)  # the binding too
