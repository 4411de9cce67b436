"""Tests of `transfer_kv_all_layer_direct_lf_pf` (sgl-kernel's kvcacheio op): every layer's pages from layer-first
buffers to page-first pools ``[pages, layers, page_size, ...]`` by the copy engine, bit for bit against sgl-kernel's
test reference (``pool[dst_idx[i] // P][layer] = src[layer][src_idx[i : i + P]]``); runs of consecutive pages as one
2-D copy.

CPU tests check the schema, the fake and the binding's refusals through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from kv_direct_cases import HEAD_DIM, HEADS, LAYERS, SLOTS, assert_same, buffer, page_indices, wheres
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "transfer_kv_all_layer_direct_lf_pf"
OP = kernelkit_ops.transfer_kv_all_layer_direct_lf_pf


def torch_op():
    return torch.ops.kernelkit.transfer_kv_all_layer_direct_lf_pf.default


def reference(layers, pool, src_indices, dst_indices, page_size):
    """sgl-kernel's ref_copy_with_indices_pf_direct (layer first -> page first), every layer into one pool."""
    out = pool.cpu().clone()
    for layer, src in enumerate(layers):
        src = src.cpu()
        for i in range(0, len(src_indices), page_size):
            out[int(dst_indices[i]) // page_size][layer] = src[src_indices[i : i + page_size]]
    return out


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["src_ptrs", "dst_ptrs", "src_indices", "dst_indices", "page_size"]
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        pool = torch.empty(4, 2, 16, 8, device="cuda")
        src = [torch.empty(64, 8, device="cuda") for _ in range(2)]
        idx = torch.empty(16, dtype=torch.int64, device="cuda")
        assert OP(src, [pool], idx, idx, 16) is None


def test_rejects_arguments():
    pool, src, idx = torch.zeros(4, 2, 16, 8), torch.zeros(64, 8), torch.arange(16)
    with pytest.raises(RuntimeError, match=f"{NAME}: dst_ptrs must hold one page-first pool .* or two .*, got 0"):
        OP([src], [], idx, idx, 16)
    with pytest.raises(RuntimeError, match=f"{NAME}: src_ptrs must hold one layer buffer per layer for each of the 2"):
        OP([src] * 3, [pool, pool], idx, idx, 16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: dst_ptrs\[0\] holds 2 layers, the copy needs 3"):
        OP([src] * 3, [pool], idx, idx, 16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_ptrs\[1\] must have rows of dst_ptrs\[0\]'s dtype"):
        OP([src, src.half()], [pool], idx, idx, 16)
    with pytest.raises(RuntimeError, match=f"{NAME}: needs a CUDA tensor among its buffers and indices"):
        OP([src, src], [pool], idx, idx, 16)


# ---------------- GPU: bit-exact against sgl-kernel's reference ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("indices_on", ["cpu", "cuda"])
@pytest.mark.parametrize("runs", [True, False])
@pytest.mark.parametrize("page_size", [1, 16])
@pytest.mark.parametrize("mla", [False, True])
@pytest.mark.parametrize("direction", ["d2h", "d2d"])
def test_matches_reference(direction, mla, page_size, runs, indices_on):
    """sglang's backup_from_device_all_layer: every layer's K then V buffers -> [k_pool, v_pool] (or [pool])."""
    sw, dw = wheres(direction)
    n_pools = 1 if mla else 2
    src = [buffer((SLOTS, HEADS, HEAD_DIM), sw) for _ in range(n_pools * LAYERS)]
    dst = [buffer((SLOTS // page_size, LAYERS, page_size, HEADS, HEAD_DIM), dw) for _ in range(n_pools)]
    si, di = page_indices(10, page_size, runs)
    want = [reference(src[k * LAYERS : (k + 1) * LAYERS], dst[k], si, di, page_size) for k in range(n_pools)]
    assert OP(src, dst, si.to(indices_on), di.to(indices_on), page_size) is None
    torch.cuda.synchronize()
    for d, w in zip(dst, want):
        assert_same(d, w)


@pytest.mark.gpu
def test_strided_source_rows():
    """Layer buffers whose slot stride exceeds a row: each page its own 2-D copy."""
    page_size = 16
    src = [buffer((SLOTS, HEADS * HEAD_DIM + 16), "d")[:, : HEADS * HEAD_DIM] for _ in range(LAYERS)]
    dst = [buffer((SLOTS // page_size, LAYERS, page_size, HEADS * HEAD_DIM), "h")]
    si, di = page_indices(9, page_size, runs=True)
    want = reference(src, dst[0], si, di, page_size)
    OP(src, dst, si, di, page_size)
    torch.cuda.synchronize()
    assert_same(dst[0], want)


@pytest.mark.gpu
def test_zero_indices_copy_nothing():
    src, dst = [buffer((SLOTS, 8), "d")], [buffer((SLOTS // 16, 1, 16, 8), "h")]
    before = dst[0].clone()
    empty = torch.empty(0, dtype=torch.int64)
    OP(src, dst, empty, empty, 16)
    torch.cuda.synchronize()
    assert_same(dst[0], before)


@pytest.mark.gpu
def test_refuses_pages_outside():
    src, dst = [buffer((SLOTS, 8), "d")], [buffer((SLOTS // 16, 1, 16, 8), "h")]
    idx = torch.arange(16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: dst_indices\[0\] = {SLOTS} is out of range: dst_ptrs hold"):
        OP(src, dst, idx, idx + SLOTS, 16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_indices\[0\] = -16 is out of range"):
        OP(src, dst, idx - 16, idx, 16)
