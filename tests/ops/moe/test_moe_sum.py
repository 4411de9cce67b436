"""Tests of `moe_sum`: bit-exact against sgl-kernel's arithmetic (moe_sum_cases.moe_sum_reference) and, for
the k where sgl-kernel calls it, against torch's own sum over dim 1.

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from moe_sum_cases import DTYPES, bit_equal, make_input, make_output, moe_sum_reference
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "moe_sum"
OP = kernelkit_ops.moe_sum


def torch_op():
    return torch.ops.kernelkit.moe_sum.default


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["input", "output", "enable_pdl"]
    assert schema.arguments[1].alias_info is not None and schema.arguments[1].alias_info.is_write
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        x = torch.empty(3, 4, 64, device="cuda", dtype=torch.bfloat16)
        out = torch.empty(3, 64, device="cuda", dtype=torch.bfloat16)
        assert OP(x, out) is None


def test_rejects_cpu_tensor():
    with pytest.raises(RuntimeError, match=f"{NAME}: input must be a CUDA tensor"):
        OP(torch.zeros(2, 4, 8), torch.zeros(2, 8))


def test_rejects_2d_input():
    with pytest.raises(RuntimeError, match=rf"{NAME}: input must be 3-D \[num_tokens, topk, hidden\], got \[2, 8\]"):
        OP(torch.zeros(2, 8), torch.zeros(2, 8))


def test_rejects_output_shape():
    with pytest.raises(RuntimeError, match=rf"{NAME}: output must have shape \[num_tokens, hidden\] = \[2, 8\]"):
        OP(torch.zeros(2, 4, 8), torch.zeros(2, 4, 8))


def test_rejects_dtype_mismatch():
    with pytest.raises(RuntimeError, match=f"{NAME}: output must have the dtype of input"):
        OP(torch.zeros(2, 4, 8), torch.zeros(2, 8, dtype=torch.float16))


def test_rejects_int_input():
    with pytest.raises(RuntimeError, match=f"{NAME}: input must be bfloat16, float16 or float32, got int32"):
        OP(torch.zeros(2, 4, 8, dtype=torch.int32), torch.zeros(2, 8, dtype=torch.int32))


def test_rejects_strided_last_dim():
    with pytest.raises(RuntimeError, match=f"{NAME}: input must be contiguous in its last dimension"):
        OP(torch.zeros(2, 4, 16)[:, :, ::2], torch.zeros(2, 8))
    with pytest.raises(RuntimeError, match=f"{NAME}: output must be contiguous in its last dimension"):
        OP(torch.zeros(2, 4, 8), torch.zeros(2, 16)[:, ::2])


# ---------------- GPU: bit-exact ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("topk", [1, 2, 3, 4, 5, 6, 8, 9, 16])
@pytest.mark.parametrize("tokens,hidden", [(1, 128), (33, 511), (64, 1024), (222, 7168), (0, 64), (5, 1)])
def test_matches_reference(tokens, hidden, topk, dtype):
    x = make_input(tokens, topk, hidden, dtype)
    out = make_output(tokens, hidden, dtype)
    OP(x, out)
    assert bit_equal(out, moe_sum_reference(x))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("topk", [1, 5, 6, 8, 9])
def test_matches_torch_sum_where_sgl_kernel_calls_it(topk, dtype):
    """For k outside {2, 3, 4} sgl-kernel's result is torch.sum(input, dim=1) itself."""
    x = make_input(300, topk, 2048, dtype)
    out = make_output(300, 2048, dtype)
    OP(x, out)
    assert bit_equal(out, x.sum(dim=1))


@pytest.mark.gpu
@pytest.mark.parametrize("topk", [2, 8])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_strided_tensors(dtype, topk):
    x = make_input(37, topk, 300, dtype, strided=True)
    out = make_output(37, 300, dtype, strided=True)
    OP(x, out)
    assert bit_equal(out, moe_sum_reference(x))


@pytest.mark.gpu
def test_large():
    x = make_input(16384, 8, 4096, torch.bfloat16)
    out = make_output(16384, 4096, torch.bfloat16)
    OP(x, out)
    assert bit_equal(out, moe_sum_reference(x))


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    x = make_input(64, 4, 512, torch.bfloat16)
    out = make_output(64, 512, torch.bfloat16)
    OP(x, out, enable_pdl=enable_pdl)
    assert bit_equal(out, moe_sum_reference(x))


@pytest.mark.gpu
def test_opcheck():
    x = make_input(16, 6, 40, torch.bfloat16)
    torch.library.opcheck(torch_op(), (x, torch.empty(16, 40, device="cuda", dtype=torch.bfloat16), False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def step(x, out):
        OP(x, out)
        return out + 1

    fn = torch.compile(step, fullgraph=True)
    x = make_input(8, 8, 256, torch.float32)
    out = make_output(8, 256, torch.float32)
    assert bit_equal(fn(x, out), moe_sum_reference(x) + 1)


@pytest.mark.gpu
def test_cuda_graph_replay():
    x = make_input(100, 8, 1024, torch.bfloat16)
    out = make_output(100, 1024, torch.bfloat16)
    OP(x, out)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(x, out)
    x.copy_(make_input(100, 8, 1024, torch.bfloat16))
    out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert bit_equal(out, moe_sum_reference(x))
