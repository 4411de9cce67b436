"""Tests of the custom all-reduce: `all_reduce` and the host functions registered beside it.

CPU: the schemas (sgl-kernel's, in the kernelkit namespace), the Python API's names and parameters (sgl-kernel's
``sgl_kernel.allreduce``), the refusals of bad handles and buffers, and the setup helper's decisions.
One GPU: two "ranks" in one process on two streams (the kernel's arithmetic and both algorithms, without IPC), then
2 and 4 processes on the one GPU through CUDA IPC (tests/ops/allreduce/allreduce_workers.py): eager calls, a CUDA
graph registered after capture, the fallback, and the refusals of a live communicator. Results are compared bit for
bit with fp32 sums in rank order. Several GPUs (issue 27): the same scenarios, one rank per GPU, and the bench.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
import time

import allreduce_workers as workers
import kernelkit_ops
import pytest
import torch
import torch.multiprocessing as mp
from kernelkit_ops import allreduce
from kernelkit_ops.allreduce import _communicator as communicator

NAME = "all_reduce"
OP = kernelkit_ops.all_reduce  # the wrapper under test

# sgl-kernel's schemas (sgl-kernel/csrc/common_extension.cc), here in namespace kernelkit
SGL_SCHEMAS = {
    "all_reduce": "all_reduce(int fa, Tensor inp, Tensor(a!) out, int reg_buffer, int reg_buffer_sz_bytes) -> ()",
    "init_custom_ar": "init_custom_ar(int[] ipc_tensors, Tensor rank_data, int rank, bool full_nvlink) -> int",
    "dispose": "dispose(int fa) -> ()",
    "meta_size": "meta_size() -> int",
    "register_buffer": "register_buffer(int fa, int[] buffer_ptrs) -> ()",
    "get_graph_buffer_ipc_meta": "get_graph_buffer_ipc_meta(int fa) -> (int[], int[])",
    "register_graph_buffers": "register_graph_buffers(int fa, int[][] handles, int[][] offsets) -> ()",
}
# sgl_kernel.allreduce's Python parameters (CUDA build)
SGL_PARAMETERS = {
    "init_custom_ar": ["ipc_tensors", "rank_data", "rank", "full_nvlink"],
    "dispose": ["fa"],
    "all_reduce": ["fa", "inp", "out", "reg_buffer", "reg_buffer_sz_bytes"],
    "get_graph_buffer_ipc_meta": ["fa"],
    "register_buffer": ["fa", "fake_ipc_ptrs"],
    "register_graph_buffers": ["fa", "handles", "offsets"],
    "meta_size": [],
}
NOT_A_HANDLE = 12345


# ---------------------------------------------------------------- CPU: schemas, API, refusals, decisions


@pytest.mark.parametrize("name", sorted(SGL_SCHEMAS))
def test_schema_is_sgl_kernels(name):
    schema = getattr(torch.ops.kernelkit, name).default._schema
    expected = torch._C.parse_schema("kernelkit::" + SGL_SCHEMAS[name])

    def shape(s):  # names, types, which tensors are written, returns (alias-set names aside: `!` is `(a!)`)
        args = [(a.name, str(a.type), bool(a.alias_info and a.alias_info.is_write)) for a in s.arguments]
        return s.name, args, [str(r.type) for r in s.returns]

    assert shape(schema) == shape(expected)


@pytest.mark.parametrize("name", sorted(SGL_PARAMETERS))
def test_python_api_is_sgl_kernels(name):
    fn = getattr(allreduce, name)
    assert list(inspect.signature(fn).parameters) == SGL_PARAMETERS[name]
    assert getattr(kernelkit_ops, name) is fn  # exported at the top too, as sgl-kernel does


def test_meta_size_is_a_whole_number_of_cache_lines():
    size = allreduce.meta_size()
    assert size > 0 and size % 128 == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: allreduce.dispose(NOT_A_HANDLE),
        lambda: allreduce.register_buffer(NOT_A_HANDLE, [1 << 20, 2 << 20]),
        lambda: allreduce.get_graph_buffer_ipc_meta(NOT_A_HANDLE),
        lambda: allreduce.register_graph_buffers(NOT_A_HANDLE, [[1] * 64, [2] * 64], [[0], [16]]),
    ],
    ids=["dispose", "register_buffer", "get_graph_buffer_ipc_meta", "register_graph_buffers"],
)
def test_a_handle_that_is_not_live_is_refused(call):
    with pytest.raises(RuntimeError, match=f"fa = {NOT_A_HANDLE} is not a live all-reduce handle"):
        call()


def test_buffers_not_from_the_helpers_are_refused():
    with pytest.raises(RuntimeError, match="not a live buffer from allocate_shared_buffer"):
        allreduce.free_shared_buffer(4096)
    with pytest.raises(RuntimeError, match="a CUDA IPC handle is 64"):
        allreduce.open_shared_buffer([0] * 63)
    with pytest.raises(RuntimeError, match="IPC handle byte 3 is 256"):
        allreduce.open_shared_buffer([0, 0, 0, 256] + [0] * 60)
    with pytest.raises(RuntimeError, match="at least one byte"):
        allreduce.allocate_shared_buffer(0)


def test_init_refuses_what_it_cannot_run():
    rank_data = torch.empty(1024, dtype=torch.uint8)
    with pytest.raises(RuntimeError, match="rank_data must be a CUDA tensor"):
        allreduce.init_custom_ar([1 << 20, 2 << 20], rank_data, 0, True)


def test_all_reduce_refuses_host_tensors_and_mismatches():
    x = torch.ones(64, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="all_reduce: inp must be a CUDA tensor"):
        OP(NOT_A_HANDLE, x, torch.empty_like(x), 0, 0)
    with pytest.raises(RuntimeError, match="all_reduce: out must have inp's 64 elements, got 32"):
        OP(NOT_A_HANDLE, x, torch.empty(32, dtype=torch.bfloat16), 0, 0)
    with pytest.raises(RuntimeError, match="dtype"):
        OP(NOT_A_HANDLE, x, torch.empty(64, dtype=torch.float16), 0, 0)
    with pytest.raises(RuntimeError, match="inp"):
        OP(NOT_A_HANDLE, torch.ones(64, dtype=torch.int32), torch.empty(64, dtype=torch.int32), 0, 0)


def test_fake_leaves_shapes_alone():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x = torch.empty(8, 4096, dtype=torch.bfloat16, device="cuda")
        out = torch.empty_like(x)
        torch.ops.kernelkit.all_reduce.default(1, x, out, 0, 0)
        assert out.shape == (8, 4096)


@pytest.mark.parametrize(
    ("world", "physical", "nvlink", "forced", "expected"),
    [
        (1, [0], {}, None, (False, "one rank")),
        (3, [0, 1, 2], {}, None, (False, "3 ranks")),
        (2, [0, 1], {(0, 1): False}, None, (False, None)),  # two ranks: PCIe P2P is fine
        (2, [0, 1], {(0, 1): True}, None, (True, None)),
        (4, [0, 1, 2, 3], {(a, b): True for a in range(4) for b in range(a + 1, 4)}, None, (True, None)),
        (4, [0, 1, 2, 3], {(a, b): (a, b) != (1, 3) for a in range(4) for b in range(a + 1, 4)}, None,
         (False, "without NVLink")),
        (4, [0, 1, 2, 3], {(a, b): None for a in range(4) for b in range(a + 1, 4)}, None, (False, "without NVLink")),
        (4, [None, 1, 2, 3], {}, None, (False, "without NVLink")),  # GPUs named by UUID: NVML cannot be asked
        (4, [0, 0, 0, 0], {}, None, (False, "without NVLink")),  # four ranks on one GPU
        (4, [0, 0, 0, 0], {}, True, (True, None)),  # ...unless the caller says so (tests of the two-shot path)
    ],
)  # fmt: skip
def test_setup_decision(world, physical, nvlink, forced, expected):
    full, reason = communicator.decide(world, physical, nvlink, forced)
    assert full == expected[0]
    if expected[1] is None:
        assert reason is None
    else:
        assert reason is not None and expected[1] in reason


@pytest.mark.parametrize(
    ("visible", "index", "expected"),
    [(None, 3, 3), ("", 1, 1), ("4,5,6", 1, 5), ("4, 5", 1, 5), ("GPU-1a2b,GPU-3c4d", 0, None), ("2", 1, None)],
)
def test_physical_gpu_index_follows_cuda_visible_devices(visible, index, expected):
    env = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    assert communicator.physical_gpu_index(index, env) == expected


def test_a_group_the_custom_path_cannot_serve_falls_back_to_its_own_all_reduce(tmp_path):
    """One process, a gloo group: no custom path (and why), and all_reduce still returns the group's sum."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        comm = allreduce.CustomAllreduce()
        why = "one rank: nothing to reduce" if torch.cuda.is_available() else "a rank sees no CUDA GPU"
        assert comm.disabled and comm.disabled_reason == why
        x = torch.arange(8, dtype=torch.bfloat16, device=comm.device)
        assert not comm.should_custom_ar(x)
        assert torch.equal(comm.all_reduce(x), x)  # one rank: the sum is its own tensor
        comm.close()
    finally:
        dist.destroy_process_group()


def test_max_size_must_be_whole_packs():
    with pytest.raises(ValueError, match="multiple of 16"):
        allreduce.CustomAllreduce(max_size=1000)


# ---------------------------------------------------------------- one GPU, one process: two ranks on two streams


@contextlib.contextmanager
def _ranks_in_one_process(max_size: int, full_nvlink: bool, world: int = 2):
    """`world` communicators of this process over local buffers (no IPC needed inside one process), released on
    leaving (what a test disposed or freed itself is skipped)."""
    metas = [allreduce.allocate_shared_buffer(allreduce.meta_size() + max_size)[0] for _ in range(world)]
    bufs = [allreduce.allocate_shared_buffer(max_size)[0] for _ in range(world)]
    rank_data = [torch.empty(1 << 16, dtype=torch.uint8, device="cuda") for _ in range(world)]
    fas = [allreduce.init_custom_ar(metas, rank_data[r], r, full_nvlink) for r in range(world)]
    for fa in fas:
        allreduce.register_buffer(fa, bufs)
    try:
        yield fas, bufs
    finally:
        torch.cuda.synchronize()
        for release, handles in ((allreduce.dispose, fas), (allreduce.free_shared_buffer, metas + bufs)):
            for handle in handles:
                with contextlib.suppress(RuntimeError):  # already released by the test
                    release(handle)


def _run_ranks(fas, bufs, inputs, max_size):
    """Each rank's call on its own stream (they wait for each other inside the kernel), then join."""
    outs = [torch.empty_like(x) for x in inputs]
    streams = [torch.cuda.Stream() for _ in fas]
    for s in streams:
        s.wait_stream(torch.cuda.current_stream())
    for r, (fa, s) in enumerate(zip(fas, streams)):
        with torch.cuda.stream(s):
            allreduce.all_reduce(fa, inputs[r], outs[r], bufs[r], max_size)
    for s in streams:
        torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    return outs


@pytest.mark.gpu
@pytest.mark.parametrize("world", [2, 4])
@pytest.mark.parametrize("dtype", workers.DTYPES, ids=str)
def test_ranks_on_streams_sum_bit_for_bit(world, dtype):
    max_size = 1 << 20
    with _ranks_in_one_process(max_size, full_nvlink=True, world=world) as (fas, bufs):
        esize = torch.tensor([], dtype=dtype).element_size()
        # one-shot sizes, and 1 MB on 4 ranks: two-shot (full_nvlink), with a remainder slice for the last rank.
        # The ranks' kernels share this GPU's SMs and wait for each other: every rank's blocks must be resident at
        # once (4 ranks x 36 blocks of 512 threads would not be), so the sizes keep 4 ranks at <= 32 blocks each.
        # Every size fits the 1 MiB registered buffer (65536 packs of 16 bytes); 60000 packs give 2 ranks the most
        # blocks (36) with a partial last block.
        packs = (1, 5, 60000 if world == 2 else 16000)
        assert all(p * 16 <= max_size for p in packs)
        for numel in (*(p * 16 // esize for p in packs), max_size // esize):
            inputs = [workers.rank_input(r, numel, dtype, numel % 101).cuda() for r in range(world)]
            outs = _run_ranks(fas, bufs, inputs, max_size)
            want = workers.expected_sum(world, numel, dtype, numel % 101)
            for r in range(world):
                workers.assert_same_bits(outs[r], want, f"rank {r} of {world}, {numel} x {dtype}")


@pytest.mark.gpu
def test_captured_inputs_are_listed_and_hold_their_entries_until_registered():
    with _ranks_in_one_process(1 << 16, full_nvlink=False) as (fas, bufs):
        x = torch.ones(64, dtype=torch.bfloat16, device="cuda")
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            allreduce.all_reduce(fas[0], x, torch.empty_like(x), 0, 0)
        handles, offsets = allreduce.get_graph_buffer_ipc_meta(fas[0])
        assert len(handles) == 64 and len(offsets) == 1  # one captured input, its handle and its offset
        with pytest.raises(RuntimeError, match="register_graph_buffers first"):
            allreduce.register_buffer(fas[0], bufs)  # its entry is taken by the captured launch
        with pytest.raises(RuntimeError, match="captured 1 all_reduce inputs"):
            allreduce.register_graph_buffers(fas[0], [handles, []], [offsets, []])


@pytest.mark.gpu
def test_a_disposed_handle_is_refused():
    with _ranks_in_one_process(1 << 16, full_nvlink=False) as (fas, bufs):
        allreduce.dispose(fas[0])
        x = torch.ones(64, dtype=torch.bfloat16, device="cuda")
        with pytest.raises(RuntimeError, match="is not a live all-reduce handle"):
            allreduce.all_reduce(fas[0], x, torch.empty_like(x), bufs[0], 1 << 16)
        with pytest.raises(RuntimeError, match="is not a live all-reduce handle"):
            allreduce.dispose(fas[0])  # twice
        allreduce.free_shared_buffer(bufs[0])
        with pytest.raises(RuntimeError, match="not a live buffer"):
            allreduce.free_shared_buffer(bufs[0])  # twice


# ---------------------------------------------------------------- one GPU, several processes: CUDA IPC


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(world: int, scenario: str, tmp_path, full_nvlink=None, timeout: float = 240.0) -> None:
    """Runs `scenario` on `world` processes sharing the GPU; fails with the first rank's traceback, or after
    `timeout` seconds (a rank left waiting in a barrier would otherwise hang the suite)."""
    ctx = mp.start_processes(workers.run, args=(world, _free_port(), scenario, full_nvlink, str(tmp_path)),
                             nprocs=world, join=False, start_method="spawn")  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while not ctx.join(timeout=max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                for p in ctx.processes:
                    p.kill()
                pytest.fail(f"{scenario} on {world} ranks: no result after {timeout:.0f} s (a rank hung)")
    except (mp.ProcessRaisedException, mp.ProcessExitedException):
        pass  # the rank's .err file (or its missing .ok: killed by a signal) says what happened
    errors = sorted(tmp_path.glob("*.err"))
    if errors:
        pytest.fail(f"{scenario}, {errors[0].stem} of {world}:\n{errors[0].read_text()}")
    assert sorted(p.name for p in tmp_path.glob("*.ok")) == [f"{r}.ok" for r in range(world)]


@pytest.mark.gpu
def test_two_processes_on_one_gpu(tmp_path):
    _spawn(2, "eager_and_graph", tmp_path)


@pytest.mark.gpu
def test_four_processes_on_one_gpu_two_shot(tmp_path):
    _spawn(4, "eager_and_graph", tmp_path, full_nvlink=True)


@pytest.mark.gpu
def test_four_processes_without_nvlink_fall_back(tmp_path):
    _spawn(4, "disabled_without_nvlink", tmp_path)


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs (one rank per GPU)")
def test_one_rank_per_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("KK_ALLREDUCE_RANK_PER_GPU", "1")  # read by the spawned ranks
    _spawn(2, "eager_and_graph", tmp_path)


_REPLAY_BEFORE_REGISTRATION = """
import torch
from kernelkit_ops import allreduce
metas = [allreduce.allocate_shared_buffer(allreduce.meta_size() + 4096)[0] for _ in range(2)]
bufs = [allreduce.allocate_shared_buffer(4096)[0] for _ in range(2)]
rank_data = torch.empty(4096, dtype=torch.uint8, device="cuda")
fa = allreduce.init_custom_ar(metas, rank_data, 0, False)
allreduce.register_buffer(fa, bufs)
x = torch.ones(64, dtype=torch.bfloat16, device="cuda")
out = torch.full_like(x, 7.0)
graph = torch.cuda.CUDAGraph()
with torch.cuda.graph(graph):
    allreduce.all_reduce(fa, x, out, 0, 0)
try:
    graph.replay()
    torch.cuda.synchronize()
except RuntimeError as e:
    print("REFUSED:", e)
else:
    print("RAN:", out[:4].tolist())
"""


@pytest.mark.gpu
def test_a_graph_replayed_before_registration_fails_loudly():
    """Its launch finds zeroed peer pointers and traps (a sticky CUDA error, so in a process of its own) instead of
    reading through stale pointers or leaving `out` as it was."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _REPLAY_BEFORE_REGISTRATION], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert "REFUSED:" in run.stdout, run.stdout + run.stderr
