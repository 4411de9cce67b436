"""Tests of `moe_sum_reduce`: bit-exact against sgl-kernel's arithmetic (fp32 sum in slot order, times the
fp32 factor, rounded once; moe_sum_cases.moe_sum_reduce_reference).

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from moe_sum_cases import DTYPES, bit_equal, make_input, make_output, moe_sum_reduce_reference
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "moe_sum_reduce"
OP = kernelkit_ops.moe_sum_reduce


def torch_op():
    return torch.ops.kernelkit.moe_sum_reduce.default


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["input", "output", "routed_scaling_factor", "enable_pdl"]
    assert schema.arguments[1].alias_info is not None and schema.arguments[1].alias_info.is_write
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        x = torch.empty(3, 8, 64, device="cuda", dtype=torch.bfloat16)
        out = torch.empty(3, 64, device="cuda", dtype=torch.bfloat16)
        assert OP(x, out, 2.5) is None


def test_rejects_cpu_tensor():
    with pytest.raises(RuntimeError, match=f"{NAME}: input must be a CUDA tensor"):
        OP(torch.zeros(2, 4, 8), torch.zeros(2, 8), 1.0)


def test_rejects_output_shape():
    with pytest.raises(RuntimeError, match=rf"{NAME}: output must have shape \[num_tokens, hidden\] = \[2, 8\]"):
        OP(torch.zeros(2, 4, 8), torch.zeros(3, 8), 1.0)


def test_rejects_dtype_mismatch():
    with pytest.raises(RuntimeError, match=f"{NAME}: output must have the dtype of input"):
        OP(torch.zeros(2, 4, 8, dtype=torch.bfloat16), torch.zeros(2, 8), 1.0)


def test_rejects_double():
    with pytest.raises(RuntimeError, match=f"{NAME}: input must be bfloat16, float16 or float32, got float64"):
        OP(torch.zeros(2, 4, 8, dtype=torch.float64), torch.zeros(2, 8, dtype=torch.float64), 1.0)


# ---------------- GPU: bit-exact ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("topk", [1, 2, 4, 6, 8, 9, 16])
@pytest.mark.parametrize("tokens,hidden", [(1, 128), (33, 511), (257, 2048), (222, 7168), (0, 64), (5, 1)])
def test_matches_reference(tokens, hidden, topk, dtype):
    x = make_input(tokens, topk, hidden, dtype)
    out = make_output(tokens, hidden, dtype)
    OP(x, out, 2.5)
    assert bit_equal(out, moe_sum_reduce_reference(x, 2.5))


@pytest.mark.gpu
@pytest.mark.parametrize("factor", [1.0, 0.3, -1.7, 2.827])
def test_factors(factor):
    """The factor is cast to fp32 and multiplies the fp32 sum before the one rounding."""
    x = make_input(300, 8, 1024, torch.bfloat16)
    out = make_output(300, 1024, torch.bfloat16)
    OP(x, out, factor)
    assert bit_equal(out, moe_sum_reduce_reference(x, factor))


@pytest.mark.gpu
def test_default_factor_is_zero():
    """sgl-kernel's default routed_scaling_factor=0 multiplies the sum by 0 (IEEE: a negative sum gives -0)."""
    x = make_input(4, 8, 256, torch.float16)
    out = make_output(4, 256, torch.float16)
    OP(x, out)
    assert bool((out == 0).all())
    assert bit_equal(out, moe_sum_reduce_reference(x, 0.0))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_strided_tensors(dtype):
    x = make_input(37, 8, 300, dtype, strided=True)
    out = make_output(37, 300, dtype, strided=True)
    OP(x, out, 1.5)
    assert bit_equal(out, moe_sum_reduce_reference(x, 1.5))


@pytest.mark.gpu
def test_large():
    x = make_input(16384, 8, 4096, torch.bfloat16)
    out = make_output(16384, 4096, torch.bfloat16)
    OP(x, out, 2.5)
    assert bit_equal(out, moe_sum_reduce_reference(x, 2.5))


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    x = make_input(64, 8, 512, torch.bfloat16)
    out = make_output(64, 512, torch.bfloat16)
    OP(x, out, 1.0, enable_pdl=enable_pdl)
    assert bit_equal(out, moe_sum_reduce_reference(x, 1.0))


@pytest.mark.gpu
def test_opcheck():
    x = make_input(16, 8, 40, torch.bfloat16)
    torch.library.opcheck(torch_op(), (x, torch.empty(16, 40, device="cuda", dtype=torch.bfloat16), 2.5, False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def step(x, out):
        OP(x, out, 2.5)
        return out + 1

    fn = torch.compile(step, fullgraph=True)
    x = make_input(8, 8, 256, torch.float32)
    out = make_output(8, 256, torch.float32)
    assert bit_equal(fn(x, out), moe_sum_reduce_reference(x, 2.5) + 1)


@pytest.mark.gpu
def test_cuda_graph_replay():
    x = make_input(100, 8, 1024, torch.bfloat16)
    out = make_output(100, 1024, torch.bfloat16)
    OP(x, out, 2.5)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(x, out, 2.5)
    x.copy_(make_input(100, 8, 1024, torch.bfloat16))
    out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert bit_equal(out, moe_sum_reduce_reference(x, 2.5))
