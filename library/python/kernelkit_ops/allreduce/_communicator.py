"""`CustomAllreduce`: the custom all-reduce set up from a ``torch.distributed`` group, with NCCL where it cannot run.

One process per rank, all on one node. The setup (collective: every rank of the group calls it together) shares the
meta and staging buffers through CUDA IPC, creates the communicator and registers the staging buffers. Then
``all_reduce(t)`` takes the custom path when it can and the group's own all-reduce otherwise:

* the custom path needs 2, 4, 6 or 8 ranks; more than two need NVLink between every pair of GPUs (``full_nvlink``,
  asked of NVML; without it the one-shot kernel reads every peer over PCIe, slower than NCCL's ring); ranks that
  share one GPU (tests) count as connected;
* a message takes it when it is bf16/fp16/fp32, contiguous, whole 16-byte packs and at most ``max_size`` bytes;
* inside CUDA-graph capture (``with comm.capture(): ...``) the inputs are read where they lie and registered with
  the peers when the capture ends.

``disabled_reason`` says why the custom path is off (``None`` when on); ``NCCL_NVLS_ENABLE=0`` keeps NCCL's own
multicast path off where the machine forbids it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist

from kernelkit_ops.allreduce import all_reduce as ops

_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
_WORLD_SIZES = (2, 4, 6, 8)
_RANK_DATA_BYTES = 8 << 20  # 64 bytes per registered buffer: room for 131072 captured all-reduces


def physical_gpu_index(device_index: int, env: dict[str, str] | os._Environ | None = None) -> int | None:
    """The NVML (physical) index of visible CUDA device ``device_index``, from CUDA_VISIBLE_DEVICES; None where the
    variable names GPUs by UUID or MIG instance (no index to map to)."""
    value = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if value is None or not value.strip():
        return device_index
    entries = [e.strip() for e in value.split(",") if e.strip()]
    if device_index >= len(entries) or not entries[device_index].isdigit():
        return None
    return int(entries[device_index])


def nvlink_between(a: int, b: int) -> bool | None:
    """Whether NVML reports an NVLink P2P path between physical GPUs a and b; None where NVML cannot say."""
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    if lib.nvmlInit_v2() != 0:
        return None
    try:
        handles = []
        for index in (a, b):
            handle = ctypes.c_void_p()
            if lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
                return None
            handles.append(handle)
        status = ctypes.c_int()
        nvml_p2p_caps_index_nvlink = 2
        if lib.nvmlDeviceGetP2PStatus(handles[0], handles[1], nvml_p2p_caps_index_nvlink, ctypes.byref(status)) != 0:
            return None
        return status.value == 0  # NVML_P2P_STATUS_OK
    finally:
        lib.nvmlShutdown()


def decide(
    world_size: int,
    physical: list[int | None],
    nvlink: dict[tuple[int, int], bool | None],
    full_nvlink: bool | None = None,
) -> tuple[bool, str | None]:
    """(full_nvlink, why the custom path is off or None) for ranks on physical GPUs ``physical`` (rank order)."""
    if world_size == 1:
        return False, "one rank: nothing to reduce"
    if world_size not in _WORLD_SIZES:
        return False, f"{world_size} ranks: the custom all-reduce runs on 2, 4, 6 or 8"
    if full_nvlink is None:
        if any(p is None for p in physical):
            full_nvlink = False  # GPUs named by UUID: NVML's indices cannot be matched
        else:
            pairs = {(min(a, b), max(a, b)) for a in physical for b in physical if a != b}
            full_nvlink = bool(pairs) and all(nvlink.get(pair) is True for pair in pairs)
    if world_size > 2 and not full_nvlink:
        return False, f"{world_size} ranks without NVLink between every pair of GPUs: NCCL's ring is faster"
    return full_nvlink, None


class CustomAllreduce:
    """The custom all-reduce of ``group``'s ranks (default: the whole world), each on its current CUDA device."""

    def __init__(self, group: dist.ProcessGroup | None = None, max_size: int = 8 << 20,
                 full_nvlink: bool | None = None) -> None:  # fmt: skip
        if max_size <= 0 or max_size % 16:
            raise ValueError(f"max_size = {max_size}: a positive multiple of 16 bytes")
        self.group = group if group is not None else dist.group.WORLD
        self.rank = dist.get_rank(self.group)
        self.world_size = dist.get_world_size(self.group)
        self.max_size = max_size
        self._fa: int | None = None
        self._own: list[int] = []  # buffers this rank allocated
        self._opened: list[int] = []  # peers' buffers mapped here
        cuda = torch.cuda.is_available()
        self.device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
        if not all(self._gather(cuda)):
            self.full_nvlink, self.disabled_reason = False, "a rank sees no CUDA GPU"
            return
        physical = physical_gpu_index(self.device.index)
        everyone = self._gather(physical)
        nvlink: dict[tuple[int, int], bool | None] = {}
        if full_nvlink is None and all(p is not None for p in everyone):
            for a in everyone:
                for b in everyone:
                    if a is not None and b is not None and a < b:
                        nvlink[(a, b)] = nvlink_between(a, b)
        verdicts = self._gather(decide(self.world_size, everyone, nvlink, full_nvlink))
        # one verdict for all: the ranks must agree on the algorithm of every message
        self.full_nvlink = all(v[0] for v in verdicts)
        self.disabled_reason = next((v[1] for v in verdicts if v[1] is not None), None)
        if self.disabled_reason is None:
            self._setup()

    @property
    def disabled(self) -> bool:
        return self.disabled_reason is not None

    def _gather(self, value: object) -> list:
        out: list = [None] * self.world_size
        dist.all_gather_object(out, value, group=self.group)
        return out

    def _shared_buffer(self, size: int) -> list[int]:
        """Every rank's buffer of ``size`` zeroed bytes, as mapped here (this rank's own at index ``rank``)."""
        ptr, handle = ops.allocate_shared_buffer(size)
        self._own.append(ptr)
        handles = self._gather(handle)
        ptrs = []
        for r, peer_handle in enumerate(handles):
            if r == self.rank:
                ptrs.append(ptr)
            else:
                ptrs.append(ops.open_shared_buffer(peer_handle))
                self._opened.append(ptrs[-1])
        return ptrs

    def _setup(self) -> None:
        with torch.cuda.device(self.device):
            self.meta_ptrs = self._shared_buffer(ops.meta_size() + self.max_size)
            self.buffer_ptrs = self._shared_buffer(self.max_size)
            self.rank_data = torch.empty(_RANK_DATA_BYTES, dtype=torch.uint8, device=self.device)
            self._fa = ops.init_custom_ar(self.meta_ptrs, self.rank_data, self.rank, self.full_nvlink)
            ops.register_buffer(self._fa, self.buffer_ptrs)
            torch.cuda.synchronize(self.device)
        dist.barrier(group=self.group)  # every rank's buffers are zeroed and registered before anyone's first call

    def should_custom_ar(self, inp: torch.Tensor) -> bool:
        """Whether ``all_reduce(inp)`` takes the custom path."""
        if self.disabled or inp.dtype not in _DTYPES or not inp.is_cuda or not inp.is_contiguous():
            return False
        size = inp.numel() * inp.element_size()
        return size % 16 == 0 and 0 < size <= self.max_size and inp.data_ptr() % 16 == 0

    def all_reduce(self, inp: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """The sum of every rank's ``inp`` (into ``out``, or a new tensor), by the custom path when it can run."""
        if out is None:
            out = torch.empty_like(inp)
        if not self.should_custom_ar(inp):
            return self._fallback(inp, out)
        if torch.cuda.is_current_stream_capturing():
            ops.all_reduce(self._fa, inp, out, 0, 0)
        else:
            ops.all_reduce(self._fa, inp, out, self.buffer_ptrs[self.rank], self.max_size)
        return out

    def _fallback(self, inp: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if dist.get_backend(self.group) == dist.Backend.GLOO:
            # gloo reduces host tensors only, and not every dtype (bf16): in fp32 on the host, rounded once
            host = inp.float().cpu()
            dist.all_reduce(host, group=self.group)
            return out.copy_(host)
        out.copy_(inp)
        dist.all_reduce(out, group=self.group)
        return out

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Wraps CUDA-graph capture: the all-reduces captured inside read their inputs where they lie; on leaving,
        the ranks exchange those inputs' IPC handles and register them (collective: every rank leaves together)."""
        try:
            yield
        finally:
            if not self.disabled:
                self.register_graph_buffers()

    def register_graph_buffers(self) -> None:
        handle, offsets = ops.get_graph_buffer_ipc_meta(self._fa)
        everyone = self._gather((list(handle), list(offsets)))
        ops.register_graph_buffers(self._fa, [h for h, _ in everyone], [o for _, o in everyone])

    def close(self) -> None:
        """Frees the communicator and its buffers (call on every rank, with no all-reduce in flight)."""
        if self.disabled:
            return
        if self._fa is not None:
            torch.cuda.synchronize(self.device)
            ops.dispose(self._fa)
            self._fa = None
        for ptr in self._opened:
            ops.free_shared_buffer(ptr)
        self._opened = []
        if self._own:
            dist.barrier(group=self.group)  # no peer maps this rank's buffers any more
            for ptr in self._own:
                ops.free_shared_buffer(ptr)
            self._own = []
