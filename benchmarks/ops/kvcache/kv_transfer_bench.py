"""What the kvcacheio transfer benchmarks share: cache buffers in each layout, sglang's index pattern, the calls, the
torch baselines and the bytes model.

Cases (bf16 caches; a "token" is one slot of the cache, `tokens` of them move per call):
  * Llama-3 8B (8 kv heads x 128: a 2 KiB item per layer, K and V, 32 layers), DeepSeek-V3 MLA (576 x bf16: a
    1152-byte latent per layer, 61 layers);
  * direction: h2d (pinned host -> device, sglang's load_to_device_per_layer), d2h (device -> pinned host, its
    backup_from_device_all_layer) or d2d;
  * tokens 64 .. 8192 as whole pages of 64 consecutive slots at random pages (sglang's allocation: 1 .. 128 pages).
The pools are shared by every input copy (only the slots the indices name are touched, and those differ per copy).

Bytes (exact): every item read once and written once (2 * tokens * layers * K/V * item), plus the two int64
indices. Across PCIe the ceiling is the host link, not HBM: the `torch` baseline of a host case is a pinned <-> device
copy_ of the same bytes (contiguous) plus the device-side scatter/gather, i.e. the link's own speed; of a d2d case
index_select + index_copy_.
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench

PAGE = 64
DIRS = {"d2d": 0, "h2d": 1, "d2h": 2}
_POOLS: dict[tuple, dict] = {}


def case(tokens: int, item: int, layers: int, direction: str) -> Case:
    return Case(tokens=tokens, dtype="bfloat16", shape=(("item", item), ("layers", layers), ("dir", DIRS[direction])))


def _where(c: Case) -> tuple[str, str]:
    return {0: ("d", "d"), 1: ("h", "d"), 2: ("d", "h")}[c.size("dir")]


def _buffer(shape, where: str):
    import torch

    x = torch.randint(0, 256, shape, dtype=torch.uint8)
    return x.pin_memory() if where == "h" else x.cuda()


def _side(layout: str, where: str, slots: int, item: int, layers: int, nkv: int) -> dict:
    """K (and V) buffers of one side; for tbl the layer buffers and their uint64 table."""
    import torch

    side: dict = {"bufs": [], "tables": [], "layout_dim": layers * item}
    for _ in range(nkv):
        if layout == "lf":
            side["bufs"].append(_buffer((slots, item), where))
        elif layout == "pf":
            side["bufs"].append(_buffer((slots, layers * item), where))
        elif layout == "ph":
            side["bufs"].append(_buffer((slots // PAGE, 8, PAGE, layers, item // 8), where))
        else:  # tbl
            layer_bufs = [_buffer((slots, item), where) for _ in range(layers)]
            side["bufs"].append(layer_bufs)
            side["tables"].append(torch.tensor([b.data_ptr() for b in layer_bufs], dtype=torch.uint64, device="cuda"))
    return side


def _pages(tokens: int, slots: int, device: str):
    import torch

    pages = torch.randperm(slots // PAGE)[: (tokens + PAGE - 1) // PAGE]
    return (pages[:, None] * PAGE + torch.arange(PAGE)).flatten()[:tokens].to(device)


def transfer_inputs(src_layout: str, dst_layout: str, nkv: int, per_layer: bool) -> Callable[[Case], dict]:
    def make_inputs(c: Case) -> dict:
        import torch

        t, item, layers = c.tokens, c.size("item"), c.size("layers")
        slots = max(2 * t, 4 * PAGE)
        key = (src_layout, dst_layout, nkv, slots, item, layers, c.size("dir"))
        if key not in _POOLS:
            _POOLS.clear()  # the previous case's pools go
            sw, dw = _where(c)
            src, dst = _side(src_layout, sw, slots, item, layers, nkv), _side(dst_layout, dw, slots, item, layers, nkv)
            # the baseline's staging: the same bytes, contiguous, on the other side of the link
            n = t * (1 if per_layer else layers) * nkv * item
            staging = {"host": _buffer((n,), "h"), "dev": torch.empty(n, device="cuda", dtype=torch.uint8)}
            _POOLS[key] = {"src": src, "dst": dst, **staging}
        pools = _POOLS[key]
        si, di = _pages(t, slots, "cuda"), _pages(t, slots, "cuda")
        return {**pools, "si": si, "di": di, "case": c, "dir": c.size("dir"), "item": item, "tokens": t}

    return make_inputs


def reference(i: dict):
    """torch's way to move the same bytes: across the link as one contiguous copy_ (host cases), on the device as
    index_select + index_copy_ of one layer's K (both sides as [slots, item] rows)."""
    if i["dir"] == 1:
        i["dev"].copy_(i["host"], non_blocking=True)
    elif i["dir"] == 2:
        i["host"].copy_(i["dev"], non_blocking=True)
    else:
        src, dst = i["src"]["bufs"][0], i["dst"]["bufs"][0]
        src = src[0] if isinstance(src, list) else src
        dst = dst[0] if isinstance(dst, list) else dst
        item = i["item"]
        rows = i["dev"].view(-1, item)[: i["tokens"]]
        rows.copy_(src.view(-1, item).index_select(0, i["si"]))
        dst.view(-1, item).index_copy_(0, i["di"], rows)


def bytes_moved(nkv: int, per_layer: bool) -> Callable[[Case], int]:
    def count(c: Case) -> int:
        layers = 1 if per_layer else c.size("layers")
        return 2 * c.tokens * layers * nkv * c.size("item") + 16 * c.tokens

    return count


def transfer_bench(op: str, cases: list[Case], src_layout: str, dst_layout: str, nkv: int, args) -> OpBench:
    """`args(i)` gives the op's positional arguments before block_quota for inputs `i`."""
    per_layer = "tbl" not in (src_layout, dst_layout)

    def impl(block_quota: int):
        def run(i: dict):
            import kernelkit_ops

            return getattr(kernelkit_ops, op)(*args(i), block_quota=block_quota)

        return run

    return OpBench(
        op=op,
        cases=cases,
        make_inputs=transfer_inputs(src_layout, dst_layout, nkv, per_layer),
        impls={"kernelkit": impl(2), "kernelkit_8cta": impl(8)},  # sgl-kernel's default quota, and 8 SMs
        reference=reference,
        bytes_moved=bytes_moved(nkv, per_layer),
    )


def side_arg(i: dict, side: str, kv: int):
    s = i[side]
    return s["tables"][kv] if s["tables"] else s["bufs"][kv]


def direct_inputs(mode: str) -> Callable[[Case], dict]:
    """The direct forms' buffers: "lf" per-layer [slots, item] lists (K then V); "pf_lf" page-first pools
    [pages, layers, PAGE, item] to one layer's buffers; "lf_pf" every layer's buffers to the pools. Host indices
    (as sglang passes them), whole pages."""

    def make_inputs(c: Case) -> dict:
        import torch

        t, item, layers = c.tokens, c.size("item"), c.size("layers")
        slots = max(2 * t, 4 * PAGE)
        key = ("direct", mode, slots, item, layers, c.size("dir"))
        if key not in _POOLS:
            _POOLS.clear()
            sw, dw = _where(c)
            pool_where, lf_where = (sw, dw) if mode == "pf_lf" else (dw, sw)
            lf_layers = 1 if mode == "pf_lf" else layers
            pools = [_buffer((slots // PAGE, layers, PAGE, item), pool_where) for _ in range(2)]
            lf = [_buffer((slots, item), lf_where) for _ in range(2 * lf_layers)]
            if mode == "lf":
                lf_dst = [_buffer((slots, item), dw) for _ in range(2)]
                src, dst = lf[:2], lf_dst
            elif mode == "pf_lf":
                src, dst = pools, lf
            else:
                src, dst = lf, pools
            n = t * (1 if mode != "lf_pf" else layers) * 2 * item
            staging = {"host": _buffer((n,), "h"), "dev": torch.empty(n, device="cuda", dtype=torch.uint8)}
            _POOLS[key] = {"src": {"bufs": src}, "dst": {"bufs": dst}, **staging}
        p = _POOLS[key]
        si, di = _pages(t, slots, "cpu"), _pages(t, slots, "cpu")
        return {**p, "si": si, "di": di, "case": c, "dir": c.size("dir"), "item": item, "tokens": t}

    return make_inputs


def direct_bench(op: str, cases: list[Case], mode: str, args) -> OpBench:
    def run(i: dict):
        import kernelkit_ops

        return getattr(kernelkit_ops, op)(*args(i))

    return OpBench(
        op=op,
        cases=cases,
        make_inputs=direct_inputs(mode),
        impls={"kernelkit": run},
        reference=reference,
        bytes_moved=bytes_moved(2, mode != "lf_pf"),
    )
