"""What the tests of the three direct kvcacheio transfers share (sgl-kernel's ``transfer_kv_direct``,
``transfer_kv_per_layer_direct_pf_lf``, ``transfer_kv_all_layer_direct_lf_pf``: copy-engine copies, indices read
on the host): buffers, index patterns and the references of sgl-kernel's own test, re-stated.

Layer-first buffers are ``[slots, heads, head_dim]`` (sglang's device pool, one per layer); page-first-direct pools
are ``[pages, layers, page_size, heads, head_dim]`` (sglang's ``page_first_direct`` host layout).
"""

from __future__ import annotations

import torch

SLOTS = 512
PAGES = SLOTS // 16
LAYERS = 3
HEADS, HEAD_DIM = 2, 24  # a 96-byte bf16 row: 16-byte aligned rows, small buffers


def buffer(shape, where: str, dtype=torch.bfloat16) -> torch.Tensor:
    """Random values (never zeros) on the device ("d") or in pinned host memory ("h")."""
    x = torch.randn(shape).to(dtype) if dtype.is_floating_point else torch.randint(0, 256, shape, dtype=dtype)
    return x.pin_memory() if where == "h" else x.cuda()


def wheres(direction: str) -> tuple[str, str]:
    return {"d2d": ("d", "d"), "h2d": ("h", "d"), "d2h": ("d", "h")}[direction]


def page_indices(n_pages: int, page_size: int, runs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Slot indices (CPU int64) of n_pages whole pages on each side: distinct random pages, or (runs) runs of
    consecutive pages on both sides, which the op moves as one copy per run."""
    total = SLOTS // page_size
    if runs:
        src_pages = torch.cat([torch.arange(3, 7), torch.arange(12, 12 + n_pages - 4)])
        dst_pages = torch.cat([torch.arange(20, 24), torch.arange(1, 1 + n_pages - 4)])
    else:
        src_pages, dst_pages = torch.randperm(total)[:n_pages], torch.randperm(total)[:n_pages]
    offsets = torch.arange(page_size)
    return (src_pages[:, None] * page_size + offsets).flatten(), (dst_pages[:, None] * page_size + offsets).flatten()


def bits(x: torch.Tensor) -> torch.Tensor:
    return x.view(torch.int16) if x.element_size() == 2 else x


def assert_same(got: torch.Tensor, want: torch.Tensor) -> None:
    assert torch.equal(bits(got.cpu()), bits(want.cpu())), "bytes differ from the reference"
