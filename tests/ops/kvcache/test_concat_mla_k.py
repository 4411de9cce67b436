"""Tests of `concat_mla_k`: bit-exact against ``torch.cat([k_nope, k_rope.expand(...)], -1)``.

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "concat_mla_k"
OP = kernelkit_ops.concat_mla_k


def torch_op():
    return torch.ops.kernelkit.concat_mla_k.default


def reference(k_nope, k_rope):
    return torch.cat([k_nope, k_rope.expand(-1, k_nope.shape[1], -1)], dim=-1)


def bits(x):
    return (
        x.view(torch.uint8) if x.element_size() == 1 else x.view(torch.int16 if x.element_size() == 2 else torch.int32)
    )


def make(t, h, n, r, dtype, strided=False):
    if strided:  # k_nope a slice of a kv projection [T, H, N + V]; k_rope a slice of [T, 1, R + 64]
        k_nope = torch.randn(t, h, n + 128, device="cuda").to(dtype)[:, :, :n]
        k_rope = torch.randn(t, 1, r + 64, device="cuda").to(dtype)[:, :, 64:]
        k = torch.full((t, h + 2, n + r), float("nan"), device="cuda").to(dtype)[:, 2:]
    else:
        k_nope = torch.randn(t, h, n, device="cuda").to(dtype)
        k_rope = torch.randn(t, 1, r, device="cuda").to(dtype)
        k = torch.full((t, h, n + r), float("nan"), device="cuda").to(dtype)
    return k, k_nope, k_rope


# ---------------- CPU ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["k", "k_nope", "k_rope", "enable_pdl"]
    assert schema.arguments[0].alias_info is not None and schema.arguments[0].alias_info.is_write
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        k = torch.empty(3, 128, 192, device="cuda", dtype=torch.bfloat16)
        n = torch.empty(3, 128, 128, device="cuda", dtype=torch.bfloat16)
        r = torch.empty(3, 1, 64, device="cuda", dtype=torch.bfloat16)
        assert OP(k, n, r) is None


def test_rejects():
    k, n, r = torch.zeros(2, 4, 24), torch.zeros(2, 4, 16), torch.zeros(2, 1, 8)
    with pytest.raises(RuntimeError, match=f"{NAME}: k must be a CUDA tensor"):
        OP(k, n, r)
    with pytest.raises(RuntimeError, match=rf"{NAME}: k_nope must be 3-D \[num_tokens, num_heads, nope_dim\]"):
        OP(k, n[0], r)
    with pytest.raises(RuntimeError, match=rf"{NAME}: k_rope must be 3-D \[num_tokens, 1, rope_dim\]"):
        OP(k, n, torch.zeros(2, 4, 8))
    with pytest.raises(
        RuntimeError, match=rf"{NAME}: k must have shape \[num_tokens, num_heads, nope_dim \+ rope_dim\] = \[2, 4, 24\]"
    ):
        OP(torch.zeros(2, 4, 25), n, r)
    with pytest.raises(RuntimeError, match=rf"{NAME}: k_rope must have the dtype of k \(float32\), got bfloat16"):
        OP(k, n, r.bfloat16())
    with pytest.raises(RuntimeError, match=f"{NAME}: k_nope must be contiguous in its last dimension"):
        OP(k, torch.zeros(2, 4, 32)[:, :, ::2], r)


# ---------------- GPU ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float8_e4m3fn], ids=str)
@pytest.mark.parametrize("heads,nope,rope", [(128, 128, 64), (16, 128, 64), (7, 96, 32), (3, 5, 3)])
@pytest.mark.parametrize("tokens", [1, 9, 1000])
def test_matches_cat(tokens, heads, nope, rope, dtype):
    k, k_nope, k_rope = make(tokens, heads, nope, rope, dtype)
    assert OP(k, k_nope, k_rope) is None
    assert torch.equal(bits(k), bits(reference(k_nope, k_rope)))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float8_e4m3fn], ids=str)
def test_strided(dtype):
    k, k_nope, k_rope = make(77, 128, 128, 64, dtype, strided=True)
    assert not k.is_contiguous() and not k_nope.is_contiguous() and not k_rope.is_contiguous()
    OP(k, k_nope, k_rope)
    assert torch.equal(bits(k), bits(reference(k_nope, k_rope)))


@pytest.mark.gpu
def test_zero_tokens_and_large():
    k, k_nope, k_rope = make(0, 128, 128, 64, torch.bfloat16)
    OP(k, k_nope, k_rope)
    k, k_nope, k_rope = make(16384, 128, 128, 64, torch.bfloat16)
    OP(k, k_nope, k_rope)
    assert torch.equal(k, reference(k_nope, k_rope))


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    k, k_nope, k_rope = make(33, 128, 128, 64, torch.bfloat16)
    OP(k, k_nope, k_rope, enable_pdl=enable_pdl)
    assert torch.equal(k, reference(k_nope, k_rope))


@pytest.mark.gpu
def test_opcheck():
    k, k_nope, k_rope = make(5, 16, 128, 64, torch.bfloat16)
    torch.library.opcheck(torch_op(), (k, k_nope, k_rope, False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def step(k, k_nope, k_rope):
        OP(k, k_nope, k_rope)
        return k.float() * 2

    fn = torch.compile(step, fullgraph=True)
    k, k_nope, k_rope = make(8, 128, 128, 64, torch.bfloat16)
    assert torch.equal(fn(k, k_nope, k_rope), reference(k_nope, k_rope).float() * 2)


@pytest.mark.gpu
def test_cuda_graph_replay():
    k, k_nope, k_rope = make(64, 128, 128, 64, torch.bfloat16)
    OP(k, k_nope, k_rope)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(k, k_nope, k_rope)
    k_nope.copy_(torch.randn_like(k_nope))
    k_rope.copy_(torch.randn_like(k_rope))
    k.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(k, reference(k_nope, k_rope))
