"""Tests of `concat_mla_absorb_q`: bit-exact against ``torch.cat([a, b], -1)``.

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "concat_mla_absorb_q"
OP = kernelkit_ops.concat_mla_absorb_q


def torch_op():
    return torch.ops.kernelkit.concat_mla_absorb_q.default


def bits(x):
    return (
        x.view(torch.uint8) if x.element_size() == 1 else x.view(torch.int16 if x.element_size() == 2 else torch.int32)
    )


def make(t, h, da, db, dtype, strided=False):
    if strided:  # a is a window of a wider buffer (as a bmm output slice), b a slice of q's rope part
        a = torch.randn(t, h + 1, da + 64, device="cuda").to(dtype)[:, 1:, 64:]
        b = torch.randn(t, h, 128 + db, device="cuda").to(dtype)[:, :, 128:]
    else:
        a = torch.randn(t, h, da, device="cuda").to(dtype)
        b = torch.randn(t, h, db, device="cuda").to(dtype)
    return a, b


# ---------------- CPU ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [x.name for x in schema.arguments] == ["a", "b", "out", "enable_pdl"]
    assert schema.arguments[2].alias_info is not None and schema.arguments[2].alias_info.is_write
    assert schema.returns == []


def test_fake_impl_allocates():
    with FakeTensorMode():
        a = torch.empty(3, 128, 512, device="cuda", dtype=torch.bfloat16)
        b = torch.empty(3, 128, 64, device="cuda", dtype=torch.bfloat16)
        out = OP(a, b)
        assert out.shape == (3, 128, 576) and out.dtype == torch.bfloat16


def test_rejects():
    a, b = torch.zeros(2, 4, 16), torch.zeros(2, 4, 8)
    with pytest.raises(RuntimeError, match=f"{NAME}: a must be a CUDA tensor"):
        OP(a, b)
    with pytest.raises(RuntimeError, match=rf"{NAME}: a must be 3-D \[num_tokens, num_heads, a_dim\], got \[4, 16\]"):
        OP(a[0], b[0])
    with pytest.raises(RuntimeError, match=rf"{NAME}: b must be 3-D \[num_tokens, num_heads, b_dim\] with"):
        OP(a, torch.zeros(2, 5, 8))
    with pytest.raises(RuntimeError, match=rf"{NAME}: b must have the dtype of a \(float32\), got float16"):
        OP(a, b.half())
    with pytest.raises(RuntimeError, match=rf"{NAME}: out must have shape \[num_tokens, num_heads, a_dim \+ b_dim\]"):
        torch_op()(a, b, torch.zeros(2, 4, 16), False)
    with pytest.raises(RuntimeError, match=f"{NAME}: a must be contiguous in its last dimension"):
        OP(torch.zeros(2, 4, 32)[:, :, ::2], b)


# ---------------- GPU ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float8_e4m3fn], ids=str)
@pytest.mark.parametrize("heads,da,db", [(128, 512, 64), (16, 512, 64), (5, 100, 12), (3, 7, 1)])
@pytest.mark.parametrize("tokens", [1, 9, 1000])
def test_matches_cat(tokens, heads, da, db, dtype):
    a, b = make(tokens, heads, da, db, dtype)
    out = OP(a, b)
    assert out.is_contiguous() and out.shape == (tokens, heads, da + db)
    assert torch.equal(bits(out), bits(torch.cat([a, b], dim=-1)))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float8_e4m3fn], ids=str)
def test_strided(dtype):
    a, b = make(77, 128, 512, 64, dtype, strided=True)
    assert not a.is_contiguous() and not b.is_contiguous()
    assert torch.equal(bits(OP(a, b)), bits(torch.cat([a, b], dim=-1)))


@pytest.mark.gpu
def test_into_strided_out_through_the_op():
    a, b = make(20, 16, 512, 64, torch.bfloat16)
    out = torch.full((20, 17, 576 + 8), float("nan"), device="cuda", dtype=torch.bfloat16)[:, 1:, 8:]
    torch_op()(a, b, out, False)
    assert torch.equal(out, torch.cat([a, b], dim=-1))


@pytest.mark.gpu
def test_zero_tokens_and_large():
    a, b = make(0, 128, 512, 64, torch.bfloat16)
    assert OP(a, b).shape == (0, 128, 576)
    a, b = make(4096, 128, 512, 64, torch.bfloat16)
    assert torch.equal(OP(a, b), torch.cat([a, b], dim=-1))


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    a, b = make(33, 128, 512, 64, torch.bfloat16)
    assert torch.equal(OP(a, b, enable_pdl=enable_pdl), torch.cat([a, b], dim=-1))


@pytest.mark.gpu
def test_opcheck():
    a, b = make(5, 16, 512, 64, torch.bfloat16)
    out = torch.empty(5, 16, 576, device="cuda", dtype=torch.bfloat16)
    torch.library.opcheck(torch_op(), (a, b, out, False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    fn = torch.compile(lambda a, b: OP(a, b).float() * 2, fullgraph=True)
    a, b = make(8, 128, 512, 64, torch.bfloat16)
    assert torch.equal(fn(a, b), torch.cat([a, b], dim=-1).float() * 2)


@pytest.mark.gpu
def test_cuda_graph_replay():
    a, b = make(64, 128, 512, 64, torch.bfloat16)
    out = torch.empty(64, 128, 576, device="cuda", dtype=torch.bfloat16)
    graph = torch.cuda.CUDAGraph()
    torch_op()(a, b, out, False)
    with torch.cuda.graph(graph):
        torch_op()(a, b, out, False)
    a.copy_(torch.randn_like(a))
    b.copy_(torch.randn_like(b))
    out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(out, torch.cat([a, b], dim=-1))
