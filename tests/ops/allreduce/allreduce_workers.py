"""What each rank of the multi-process all-reduce tests runs (a module of its own: spawned processes import it).

Every rank draws every rank's input from seeded generators, so each computes the expected sum itself: fp32, in
rank order, rounded once -- the kernel's arithmetic, so results are compared bit for bit. A rank that finds a
difference raises, and the parent's join reports its traceback.
"""

from __future__ import annotations

import os
import traceback
from datetime import timedelta

import torch
import torch.distributed as dist

DTYPES = (torch.bfloat16, torch.float16, torch.float32)


def rank_input(rank: int, numel: int, dtype: torch.dtype, salt: int = 0) -> torch.Tensor:
    """Rank ``rank``'s input, the same on every process (values of a few units: sums stay exact enough to matter)."""
    gen = torch.Generator().manual_seed(1000 * salt + rank)
    return (torch.randn(numel, generator=gen) * 3).to(dtype)


def expected_sum(world: int, numel: int, dtype: torch.dtype, salt: int = 0) -> torch.Tensor:
    acc = rank_input(0, numel, dtype, salt).float()
    for r in range(1, world):
        acc = acc + rank_input(r, numel, dtype, salt).float()
    return acc.to(dtype)


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int16) if t.element_size() == 2 else t.view(torch.int32)


def assert_same_bits(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    got, want = got.cpu(), want.cpu()
    if not torch.equal(bits(got), bits(want)):
        bad = (bits(got) != bits(want)).nonzero()[:5].flatten().tolist()
        raise AssertionError(f"{what}: {len(bad)}+ elements differ, first at {bad}: {got[bad]} vs {want[bad]}")


def _init(rank: int, world: int, port: int) -> None:
    os.environ["NCCL_NVLS_ENABLE"] = "0"
    # every rank on the one GPU (CUDA IPC between processes works on one device), or one rank per GPU
    torch.cuda.set_device(rank if os.environ.get("KK_ALLREDUCE_RANK_PER_GPU") == "1" else 0)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=120))  # fmt: skip


def run(rank: int, world: int, port: int, scenario: str, full_nvlink: bool | None, result_dir: str) -> None:
    """Entry point of one spawned rank: runs ``scenario`` and leaves ``<result_dir>/<rank>.ok`` or ``.err``."""
    try:
        _init(rank, world, port)
        SCENARIOS[scenario](rank, world, full_nvlink)
        dist.barrier()
        dist.destroy_process_group()
        with open(os.path.join(result_dir, f"{rank}.ok"), "w") as f:
            f.write("ok")
    except BaseException:
        with open(os.path.join(result_dir, f"{rank}.err"), "w") as f:
            f.write(traceback.format_exc())
        raise


def eager_and_graph(rank: int, world: int, full_nvlink: bool | None) -> None:
    """Eager calls over sizes and dtypes (one-shot; two-shot where the size and full_nvlink ask for it), a CUDA graph
    of two all-reduces replayed on new inputs, the NCCL/gloo fallback for a size the custom path does not take, and
    the refusals of a live communicator."""
    from kernelkit_ops.allreduce import CustomAllreduce
    from kernelkit_ops.allreduce import all_reduce as raw_all_reduce

    comm = CustomAllreduce(max_size=2 << 20, full_nvlink=full_nvlink)
    assert not comm.disabled, comm.disabled_reason
    dev = torch.device("cuda", torch.cuda.current_device())
    # numel: one pack of fp32 (4) or bf16 (8), odd pack counts, a block-stride remainder, 256 KB and 2 MB of bf16
    # (two-shot from 512 KB on 4 ranks with full_nvlink)
    for dtype in DTYPES:
        pack = 16 // torch.tensor([], dtype=dtype).element_size()
        for packs in (1, 3, 513, 18433, (256 << 10) // 16, (2 << 20) // 16):
            numel = packs * pack
            if numel * torch.tensor([], dtype=dtype).element_size() > comm.max_size:
                continue
            salt = packs % 997
            inp = rank_input(rank, numel, dtype, salt).to(dev)
            keep = inp.clone()
            out = comm.all_reduce(inp)
            torch.cuda.synchronize()
            assert_same_bits(out, expected_sum(world, numel, dtype, salt), f"eager {dtype} x {numel}")
            assert torch.equal(inp, keep), "the input was modified"
    # the same input twice in a row, and in place through reg_buffer: inp == out
    x = rank_input(rank, 4096, torch.bfloat16, 7).to(dev)
    raw_all_reduce(comm._fa, x, x, comm.buffer_ptrs[rank], comm.max_size)
    torch.cuda.synchronize()
    assert_same_bits(x, expected_sum(world, 4096, torch.bfloat16, 7), "in place through reg_buffer")

    # CUDA graph: two all-reduces of static inputs, captured once, replayed on new values
    numel = 24576
    static_a = torch.zeros(numel, dtype=torch.bfloat16, device=dev)
    static_b = torch.zeros(2 * numel, dtype=torch.float32, device=dev)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up, eager, as engines do before capture
        comm.all_reduce(static_a)
        comm.all_reduce(static_b)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with comm.capture():
        with torch.cuda.graph(graph):
            out_a = comm.all_reduce(static_a)
            out_b = comm.all_reduce(static_b)
    for salt in (11, 12, 13):
        static_a.copy_(rank_input(rank, numel, torch.bfloat16, salt))
        static_b.copy_(rank_input(rank, 2 * numel, torch.float32, salt))
        graph.replay()
        torch.cuda.synchronize()
        assert_same_bits(out_a, expected_sum(world, numel, torch.bfloat16, salt), f"graph replay {salt} (bf16)")
        assert_same_bits(out_b, expected_sum(world, 2 * numel, torch.float32, salt), f"graph replay {salt} (fp32)")

    # what the custom path does not take goes to the group's own all-reduce, with the same sum
    odd = rank_input(rank, 7, torch.bfloat16, 5).to(dev)  # 14 bytes: not whole packs
    assert not comm.should_custom_ar(odd)
    torch.testing.assert_close(comm.all_reduce(odd).cpu(), expected_sum(world, 7, torch.bfloat16, 5).float().to(
        torch.bfloat16), rtol=1.6e-2, atol=1e-2)  # fmt: skip
    big = torch.ones(comm.max_size // 2 + 8, dtype=torch.float16, device=dev)  # over max_size
    assert not comm.should_custom_ar(big)
    assert torch.equal(comm.all_reduce(big).cpu(), torch.full_like(big.cpu(), world))

    # refusals of a live communicator: each a RuntimeError naming what to fix, nothing launched
    y = torch.ones(64, dtype=torch.bfloat16, device=dev)
    refusals = [
        (lambda: raw_all_reduce(comm._fa, y, torch.empty_like(y), 0, 0), "not a registered buffer"),
        (lambda: raw_all_reduce(comm._fa, y, torch.empty_like(y), comm.buffer_ptrs[rank] + 16, comm.max_size),
         "not a buffer of register_buffer"),
        (lambda: raw_all_reduce(comm._fa, y, torch.empty_like(y), comm.buffer_ptrs[rank], 64), "more than reg_buffer"),
        (lambda: raw_all_reduce(comm._fa, y, y, 0, 0), "out overlaps inp"),
        (lambda: raw_all_reduce(comm._fa, y[:7], torch.empty(7, dtype=torch.bfloat16, device=dev), 0, 0), "16-byte"),
        (lambda: raw_all_reduce(comm._fa, y[1:9], torch.empty(8, dtype=torch.bfloat16, device=dev), 0, 0),
         "16-byte boundaries"),
    ]  # fmt: skip
    for call, message in refusals:
        try:
            call()
        except RuntimeError as e:
            assert message in str(e), f"expected '{message}' in: {e}"
        else:
            raise AssertionError(f"no error; expected '{message}'")
    # every rank still agrees after the refusals (no rank was left waiting in a barrier)
    z = rank_input(rank, 1024, torch.float16, 3).to(dev)
    assert_same_bits(comm.all_reduce(z), expected_sum(world, 1024, torch.float16, 3), "after the refusals")
    comm.close()


def disabled_without_nvlink(rank: int, world: int, full_nvlink: bool | None) -> None:
    """More than two ranks and no NVLink between every pair: the custom path is off and says why; all_reduce still
    sums (through the group)."""
    from kernelkit_ops.allreduce import CustomAllreduce

    comm = CustomAllreduce(full_nvlink=full_nvlink)
    assert comm.disabled and "NVLink" in comm.disabled_reason, comm.disabled_reason
    x = rank_input(rank, 256, torch.float32, 9).to(torch.device("cuda", torch.cuda.current_device()))
    torch.testing.assert_close(comm.all_reduce(x).cpu(), expected_sum(world, 256, torch.float32, 9))
    comm.close()


SCENARIOS = {"eager_and_graph": eager_and_graph, "disabled_without_nvlink": disabled_without_nvlink}
