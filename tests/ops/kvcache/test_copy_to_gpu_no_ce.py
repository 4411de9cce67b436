"""Tests of `copy_to_gpu_no_ce`: the int32 host values land bit for bit in the CUDA output (``output.copy_(input)``),
for every size from 1 to the 1024 maximum (each parameter capacity and its edges), under torch.compile and CUDA-graph
capture (where the captured values are baked in, as upstream).

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "copy_to_gpu_no_ce"
OP = kernelkit_ops.copy_to_gpu_no_ce
MAX = 1024


def torch_op():
    return torch.ops.kernelkit.copy_to_gpu_no_ce.default


def host_values(n, pinned=False):
    x = torch.randint(-(2**31), 2**31 - 1, (n,), dtype=torch.int32)
    return x.pin_memory() if pinned else x


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["input", "output"]
    assert schema.arguments[0].alias_info is None
    assert schema.arguments[1].alias_info is not None and schema.arguments[1].alias_info.is_write
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        assert OP(torch.empty(64, dtype=torch.int32), torch.empty(64, device="cuda", dtype=torch.int32)) is None


def test_rejects_cpu_output():
    with pytest.raises(RuntimeError, match=f"{NAME}: output must be a CUDA tensor"):
        OP(torch.zeros(64, dtype=torch.int32), torch.zeros(64, dtype=torch.int32))


def test_rejects_dtypes():
    with pytest.raises(RuntimeError, match=f"{NAME}: input must be int32, got int64"):
        OP(torch.zeros(64, dtype=torch.int64), torch.zeros(64, dtype=torch.int32))
    with pytest.raises(RuntimeError, match=f"{NAME}: output must be int32, got float32"):
        OP(torch.zeros(64, dtype=torch.int32), torch.zeros(64))


def test_rejects_shapes():
    x = torch.zeros(64, dtype=torch.int32)
    with pytest.raises(RuntimeError, match=rf"{NAME}: input must be a 1-D contiguous tensor, got shape \[8, 8\]"):
        OP(x.view(8, 8), x.clone())
    with pytest.raises(RuntimeError, match=rf"{NAME}: input must be a 1-D contiguous tensor, got shape \[32\]"):
        OP(x[::2], torch.zeros(32, dtype=torch.int32))
    with pytest.raises(RuntimeError, match=rf"{NAME}: output must be a 1-D contiguous tensor, got shape \[2, 32\]"):
        OP(x, x.clone().view(2, 32))
    with pytest.raises(RuntimeError, match=f"{NAME}: output must have input's 64 elements, got 72"):
        OP(x, torch.zeros(72, dtype=torch.int32))
    with pytest.raises(RuntimeError, match=f"{NAME}: input must have at most 1024 elements .*got 1025"):
        OP(torch.zeros(MAX + 1, dtype=torch.int32), torch.zeros(MAX + 1, dtype=torch.int32))


def test_rejects_cpu_output_after_shape_checks_pass_at_the_maximum():
    with pytest.raises(RuntimeError, match=f"{NAME}: output must be a CUDA tensor"):
        OP(torch.zeros(MAX, dtype=torch.int32), torch.zeros(MAX, dtype=torch.int32))


# ---------------- GPU: bit-exact copies ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("n", [1, 2, 31, 32, 33, 63, 64, 65, 72, 255, 256, 257, 777, 1023, 1024])
@pytest.mark.parametrize("pinned", [False, True], ids=["pageable", "pinned"])
def test_copies_every_value(n, pinned):
    x = host_values(n, pinned)
    out = torch.full((n,), -7, device="cuda", dtype=torch.int32)
    assert OP(x, out) is None
    assert torch.equal(out.cpu(), x)


@pytest.mark.gpu
def test_leaves_neighbours_untouched():
    buf = torch.full((200,), 123, device="cuda", dtype=torch.int32)
    x = host_values(72)
    OP(x, buf[64:136])
    assert torch.equal(buf[64:136].cpu(), x)
    assert bool((buf[:64] == 123).all()) and bool((buf[136:] == 123).all())


@pytest.mark.gpu
def test_zero_elements_launches_nothing():
    out = torch.empty(0, device="cuda", dtype=torch.int32)
    OP(torch.empty(0, dtype=torch.int32), out)
    assert out.numel() == 0


@pytest.mark.gpu
def test_rejects_cuda_input():
    with pytest.raises(RuntimeError, match=f"{NAME}: input must be a CPU tensor"):
        OP(torch.zeros(64, device="cuda", dtype=torch.int32), torch.zeros(64, device="cuda", dtype=torch.int32))


@pytest.mark.gpu
def test_ordered_on_the_current_stream():
    """The copy is a kernel on the current stream: a later kernel there sees the values."""
    side = torch.cuda.Stream()
    x = host_values(64)
    with torch.cuda.stream(side):
        out = torch.zeros(64, device="cuda", dtype=torch.int32)
        OP(x, out)
        doubled = out * 2
    side.synchronize()
    assert torch.equal(doubled.cpu(), x * 2)


@pytest.mark.gpu
def test_opcheck():
    torch.library.opcheck(torch_op(), (host_values(64), torch.zeros(64, device="cuda", dtype=torch.int32)))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def step(x, out):
        OP(x, out)
        return out.sum()

    fn = torch.compile(step, fullgraph=True)
    x = torch.arange(72, dtype=torch.int32)
    out = torch.zeros(72, device="cuda", dtype=torch.int32)
    assert int(fn(x, out)) == int(x.sum())
    assert torch.equal(out.cpu(), x)


@pytest.mark.gpu
def test_cuda_graph_bakes_in_the_captured_values():
    x = host_values(64)
    captured = x.clone()
    out = torch.zeros(64, device="cuda", dtype=torch.int32)
    OP(x, out)  # warm-up outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(x, out)
    x.copy_(host_values(64))
    out.zero_()
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(out.cpu(), captured)
