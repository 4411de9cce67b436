"""Tests of `transfer_kv_per_layer_direct_pf_lf` (sgl-kernel's kvcacheio op): one layer's pages from page-first
pools ``[pages, layers, page_size, ...]`` to layer-first buffers by the copy engine, bit for bit against sgl-kernel's
test reference (``dst[layer][dst_idx[i : i + P]] = pool[src_idx[i] // P][layer]``); runs of consecutive pages as one
2-D copy.

CPU tests check the schema, the fake and the binding's refusals through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from kv_direct_cases import HEAD_DIM, HEADS, LAYERS, SLOTS, assert_same, buffer, page_indices, wheres
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "transfer_kv_per_layer_direct_pf_lf"
OP = kernelkit_ops.transfer_kv_per_layer_direct_pf_lf


def torch_op():
    return torch.ops.kernelkit.transfer_kv_per_layer_direct_pf_lf.default


def reference(pool, dst, src_indices, dst_indices, page_size, layer):
    """sgl-kernel's ref_copy_with_indices_pf_direct (page first -> layer first), one layer buffer."""
    out, pool = dst.cpu().clone(), pool.cpu()
    for i in range(0, len(src_indices), page_size):
        out[dst_indices[i : i + page_size]] = pool[int(src_indices[i]) // page_size][layer]
    return out


def pools(where, n, page_size):
    return [buffer((SLOTS // page_size, LAYERS, page_size, HEADS, HEAD_DIM), where) for _ in range(n)]


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == [
        "src_ptrs", "dst_ptrs", "src_indices", "dst_indices", "layer_id", "page_size",
    ]  # fmt: skip
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        pool = torch.empty(4, 2, 16, 8, device="cuda")
        dst = torch.empty(64, 8, device="cuda")
        idx = torch.empty(16, dtype=torch.int64, device="cuda")
        assert OP([pool], [dst], idx, idx, 0, 16) is None


def test_rejects_arguments():
    pool, dst, idx = torch.zeros(4, 2, 16, 8), torch.zeros(64, 8), torch.arange(16)
    with pytest.raises(RuntimeError, match=f"{NAME}: src_ptrs must hold one page-first pool .* or two .*, got 3"):
        OP([pool] * 3, [dst], idx, idx, 0, 16)
    with pytest.raises(RuntimeError, match=f"{NAME}: dst_ptrs must hold one layer buffer per layer for each of the 2"):
        OP([pool, pool], [dst] * 3, idx, idx, 0, 16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_ptrs\[0\] must be a contiguous page-first pool"):
        OP([torch.zeros(64, 8)], [dst], idx, idx, 0, 16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_ptrs\[0\] holds 2 layers, the copy needs 3"):
        OP([pool], [dst], idx, idx, 2, 16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_ptrs\[0\] holds pages of 16 rows, page_size is 32"):
        OP([pool], [dst], torch.arange(32), torch.arange(32), 0, 32)
    with pytest.raises(RuntimeError, match=rf"{NAME}: dst_ptrs\[0\] must have rows of src_ptrs\[0\]'s dtype"):
        OP([pool], [torch.zeros(64, 4)], idx, idx, 0, 16)
    with pytest.raises(RuntimeError, match=f"{NAME}: layer_id must be >= 0, got -1"):
        OP([pool], [dst], idx, idx, -1, 16)
    with pytest.raises(RuntimeError, match=f"{NAME}: needs a CUDA tensor among its buffers and indices"):
        OP([pool], [dst], idx, idx, 0, 16)


# ---------------- GPU: bit-exact against sgl-kernel's reference ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("indices_on", ["cpu", "cuda"])
@pytest.mark.parametrize("runs", [True, False])
@pytest.mark.parametrize("page_size", [1, 16])
@pytest.mark.parametrize("mla", [False, True])
@pytest.mark.parametrize("direction", ["h2d", "d2d"])
def test_matches_reference(direction, mla, page_size, runs, indices_on):
    """sglang's load_to_device_per_layer: [k_pool, v_pool] (or [pool]) -> that layer's device buffers."""
    sw, dw = wheres(direction)
    src = pools(sw, 1 if mla else 2, page_size)
    layer = LAYERS - 1
    dst = [buffer((SLOTS, HEADS, HEAD_DIM), dw) for _ in src]
    si, di = page_indices(10, page_size, runs)
    want = [reference(p, d, si, di, page_size, layer) for p, d in zip(src, dst)]
    assert OP(src, dst, si.to(indices_on), di.to(indices_on), layer, page_size) is None
    torch.cuda.synchronize()
    for d, w in zip(dst, want):
        assert_same(d, w)


@pytest.mark.gpu
def test_several_layers_from_layer_id():
    """dst_ptrs holds K layers then V layers, starting at layer_id of the pools."""
    page_size = 16
    src = pools("h", 2, page_size)
    dst = [buffer((SLOTS, HEADS, HEAD_DIM), "d") for _ in range(4)]  # layers 1 and 2 of K, then of V
    si, di = page_indices(8, page_size, runs=True)
    want = [reference(src[kv], dst[2 * kv + j], si, di, page_size, 1 + j) for kv in range(2) for j in range(2)]
    OP(src, dst, si, di, 1, page_size)
    torch.cuda.synchronize()
    for d, w in zip(dst, want):
        assert_same(d, w)


@pytest.mark.gpu
def test_strided_destination_rows():
    """Layer buffers whose slot stride exceeds a row: each page its own 2-D copy."""
    page_size = 16
    src = pools("h", 1, page_size)
    dst = [buffer((SLOTS, HEADS * HEAD_DIM + 16), "d")[:, : HEADS * HEAD_DIM]]
    src_flat = [src[0].view(SLOTS // page_size, LAYERS, page_size, -1)]
    si, di = page_indices(9, page_size, runs=True)
    want = [reference(src_flat[0], dst[0], si, di, page_size, 0)]
    OP(src_flat, dst, si, di, 0, page_size)
    torch.cuda.synchronize()
    assert_same(dst[0], want[0])


@pytest.mark.gpu
def test_zero_indices_copy_nothing():
    src, dst = pools("h", 1, 16), [buffer((SLOTS, HEADS, HEAD_DIM), "d")]
    before = dst[0].clone()
    empty = torch.empty(0, dtype=torch.int64)
    OP(src, dst, empty, empty, 0, 16)
    torch.cuda.synchronize()
    assert_same(dst[0], before)


@pytest.mark.gpu
def test_refuses_pages_outside():
    src, dst = pools("h", 1, 16), [buffer((SLOTS, HEADS, HEAD_DIM), "d")]
    idx = torch.arange(16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_indices\[0\] = {SLOTS} is out of range: src_ptrs hold"):
        OP(src, dst, idx + SLOTS, idx, 0, 16)
    with pytest.raises(RuntimeError, match=rf"{NAME}: dst_indices\[0\] = {SLOTS - 8} is out of range: dst_ptrs"):
        OP(src, dst, idx, idx + SLOTS - 8, 0, 16)
