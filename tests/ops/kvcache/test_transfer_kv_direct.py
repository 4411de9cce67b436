"""Tests of `transfer_kv_direct` (sgl-kernel's kvcacheio op): token rows between two lists of buffers by the copy
engine, ``dst_layers[j][dst_indices] = src_layers[j][src_indices]`` bit for bit, runs of consecutive indices as one
copy; indices on the CPU or the GPU, buffers on the GPU or in pinned host memory.

CPU tests check the schema, the fake and the binding's refusals through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from kv_direct_cases import HEAD_DIM, HEADS, LAYERS, SLOTS, assert_same, buffer, page_indices, wheres
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "transfer_kv_direct"
OP = kernelkit_ops.transfer_kv_direct


def torch_op():
    return torch.ops.kernelkit.transfer_kv_direct.default


def reference(src_layers, dst_layers, src_indices, dst_indices):
    out = []
    for s, d in zip(src_layers, dst_layers):
        d = d.cpu().clone()
        d[dst_indices.cpu()] = s.cpu()[src_indices.cpu()]
        out.append(d)
    return out


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["src_layers", "dst_layers", "src_indices", "dst_indices", "page_size"]
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        bufs = [torch.empty(8, 4, device="cuda") for _ in range(2)]
        idx = torch.empty(4, dtype=torch.int64, device="cuda")
        assert OP(bufs[:1], bufs[1:], idx, idx, 1) is None


def test_rejects_arguments():
    a, idx = torch.zeros(16, 8), torch.arange(4)
    with pytest.raises(RuntimeError, match=f"{NAME}: src_layers and dst_layers must hold the same number of buffers"):
        OP([a], [a, a], idx, idx, 1)
    with pytest.raises(RuntimeError, match=f"{NAME}: page_size must be positive, got 0"):
        OP([a], [a], idx, idx, 0)
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_indices length \(4\) must be a multiple of page_size \(3\)"):
        OP([a], [a], idx, idx, 3)
    with pytest.raises(RuntimeError, match=f"{NAME}: src_indices must be int64, got int32"):
        OP([a], [a], idx.int(), idx, 1)
    with pytest.raises(RuntimeError, match=rf"{NAME}: dst_layers\[0\] must have rows of src_layers\[0\]'s dtype"):
        OP([a], [a.half()], idx, idx, 1)
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_layers\[0\] of shape .* must be contiguous after its first"):
        OP([torch.zeros(16, 16)[:, ::2]], [a], idx, idx, 1)
    with pytest.raises(RuntimeError, match=f"{NAME}: needs a CUDA tensor among its buffers and indices"):
        OP([a], [a], idx, idx, 1)


# ---------------- GPU: bit-exact against torch indexing ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("indices_on", ["cpu", "cuda"])
@pytest.mark.parametrize("runs", [True, False])
@pytest.mark.parametrize("page_size", [1, 16])
@pytest.mark.parametrize("mla", [False, True])
@pytest.mark.parametrize("direction", ["d2d", "h2d", "d2h"])
def test_matches_indexing(direction, mla, page_size, runs, indices_on):
    """sglang's calls: one layer's [K, V] (or MLA's one buffer), or every layer's K then V."""
    sw, dw = wheres(direction)
    n = 2 if mla else 2 * LAYERS
    src = [buffer((SLOTS, HEADS, HEAD_DIM), sw) for _ in range(n)]
    dst = [buffer((SLOTS, HEADS, HEAD_DIM), dw) for _ in range(n)]
    si, di = page_indices(10, page_size, runs)
    want = reference(src, dst, si, di)
    assert OP(src, dst, si.to(indices_on), di.to(indices_on), page_size) is None
    torch.cuda.synchronize()
    for d, w in zip(dst, want):
        assert_same(d, w)


@pytest.mark.gpu
@pytest.mark.parametrize("direction", ["h2d", "d2h"])
def test_strided_rows_and_odd_row_sizes(direction):
    """Rows of 6 bytes, and buffers whose slot stride exceeds a row (windows of wider buffers): 2-D copies."""
    sw, dw = wheres(direction)
    src = [buffer((SLOTS, 6), sw, torch.uint8), buffer((SLOTS, 10), sw, torch.uint8)[:, 2:8]]
    dst = [buffer((SLOTS, 9), dw, torch.uint8)[:, 3:], buffer((SLOTS, 6), dw, torch.uint8)]
    si, di = page_indices(12, 4, runs=True)
    want = reference(src, dst, si, di)
    OP(src, dst, si, di, 4)
    torch.cuda.synchronize()
    for d, w in zip(dst, want):
        assert_same(d, w)


@pytest.mark.gpu
def test_zero_indices_copy_nothing():
    src, dst = [buffer((SLOTS, 8), "h")], [buffer((SLOTS, 8), "d")]
    before = dst[0].clone()
    empty = torch.empty(0, dtype=torch.int64)
    OP(src, dst, empty, empty, 16)
    torch.cuda.synchronize()
    assert_same(dst[0], before)


@pytest.mark.gpu
def test_refuses_indices_outside():
    src, dst = [buffer((SLOTS, 8), "h")], [buffer((SLOTS, 8), "d")]
    idx = torch.arange(4)
    bad = torch.tensor([0, 1, SLOTS, 3])
    with pytest.raises(RuntimeError, match=rf"{NAME}: src_indices\[2\] = {SLOTS} is out of range: src_layers hold"):
        OP(src, dst, bad, idx, 1)
    with pytest.raises(RuntimeError, match=rf"{NAME}: dst_indices\[0\] = -1 is out of range"):
        OP(src, dst, idx, torch.tensor([-1, 1, 2, 3]), 1)


@pytest.mark.gpu
def test_cuda_graph_capture_with_host_indices():
    """With CPU indices the copies capture as graph nodes (the indices are baked in, as in sgl-kernel): a replay
    copies the buffers' current contents."""
    src, dst = [buffer((SLOTS, HEADS, HEAD_DIM), "h")], [buffer((SLOTS, HEADS, HEAD_DIM), "d")]
    si, di = page_indices(6, 16, runs=True)
    stream = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        OP(src, dst, si, di, 16)
    src[0].copy_(torch.randn(SLOTS, HEADS, HEAD_DIM).bfloat16())
    want = reference(src, dst, si, di)
    graph.replay()
    torch.cuda.synchronize()
    assert_same(dst[0], want[0])
