"""What the tests of the ten kernel-form kvcacheio transfers share (sgl-kernel's ``transfer_kv_*`` ops that a few
CTAs run): each op as a `Form` (its source and destination layouts, K+V or MLA, its call), cache buffers of every
layout, a torch reference, and `KvTransferTests`, the tests every form passes (each test file subclasses it).

Layouts (kernelkit/families/kv_transfer_args.h), as byte tensors so every item size is possible:
  lf   one layer [slots, item]                      (per-layer forms)
  tbl  num_layers lf buffers named by a uint64 table of their data_ptr()s, a CUDA tensor as sglang builds it
  pf   [slots, layout_dim] with layer l's item at bytes [l * item, (l + 1) * item) of a slot
  ph   [pages, heads, page_size, layers, item / heads]
The reference brings both sides to one canonical form, [slots, layers, item] (copies), moves the items with torch
indexing, and brings the destination back: the whole destination buffer must then be equal, byte for byte (slots
not named and padding included).
"""

from __future__ import annotations

from dataclasses import dataclass

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

# sgl-kernel's Python defaults (sgl_kernel/kvcacheio.py, CUDA)
DEFAULT_BLOCK_QUOTA = 2
DEFAULT_WARPS = 32
SLOTS = 384  # per buffer; ph pools hold SLOTS // PAGE pages
LAYERS = 3
PAGE = 16
HEADS = 4
# Item sizes in bytes: Llama-3's 8 x 128 bf16 (2048), DeepSeek MLA's 576 bf16 (1152), sgl-kernel's test (256 fp16
# = 512) and sizes with no 16-byte word (24: 8-byte words, 6: 2-byte, 1: bytes). Page-head items are split in
# HEADS segments, so theirs are multiples of 4.
ITEMS = [2048, 1152, 24, 6, 1]
PH_ITEMS = [2048, 1152, 24, 8, 4]
DIRECTIONS = ["d2d", "h2d", "d2h"]  # where the source and destination buffers live (h: pinned host)
DEVICE = "cuda"  # where "d" buffers, tables and indices live


@dataclass(frozen=True)
class Form:
    op: str
    src: str  # lf | tbl | pf | ph
    dst: str
    nkv: int  # 2: K and V; 1: MLA's one latent buffer
    args: tuple[str, ...]  # sgl-kernel's positional parameters before block_quota / num_warps_per_block

    @property
    def per_layer(self) -> bool:
        return "tbl" not in (self.src, self.dst)

    @property
    def buffers(self) -> list[str]:
        """The arguments naming K/V buffers or layer tables (not indices, not sizes)."""
        return [a for a in self.args if a.startswith(("src", "dst")) and not a.endswith(("indices", "layout_dim"))]

    @property
    def ph(self) -> bool:
        return "ph" in (self.src, self.dst)

    def layers(self) -> int:
        """Layers the buffers hold: the per-layer lf->lf forms move one; the others LAYERS."""
        return 1 if self.src == self.dst == "lf" else LAYERS


FORMS = {
    "transfer_kv_per_layer": Form(
        "transfer_kv_per_layer", "lf", "lf", 2,
        ("src_k", "dst_k", "src_v", "dst_v", "src_indices", "dst_indices", "item_size"),
    ),
    "transfer_kv_per_layer_pf_lf": Form(
        "transfer_kv_per_layer_pf_lf", "pf", "lf", 2,
        ("src_k", "dst_k", "src_v", "dst_v", "src_indices", "dst_indices", "layer_id", "item_size", "src_layout_dim"),
    ),
    "transfer_kv_per_layer_ph_lf": Form(
        "transfer_kv_per_layer_ph_lf", "ph", "lf", 2,
        ("src_k", "dst_k", "src_v", "dst_v", "src_indices", "dst_indices", "layer_id", "item_size", "src_layout_dim",
         "page_size", "head_num"),
    ),
    "transfer_kv_all_layer": Form(
        "transfer_kv_all_layer", "tbl", "tbl", 2,
        ("src_k_layers", "dst_k_layers", "src_v_layers", "dst_v_layers", "src_indices", "dst_indices", "item_size",
         "num_layers"),
    ),
    "transfer_kv_all_layer_lf_pf": Form(
        "transfer_kv_all_layer_lf_pf", "tbl", "pf", 2,
        ("src_k_layers", "dst_k", "src_v_layers", "dst_v", "src_indices", "dst_indices", "item_size",
         "dst_layout_dim", "num_layers"),
    ),
    "transfer_kv_all_layer_lf_ph": Form(
        "transfer_kv_all_layer_lf_ph", "tbl", "ph", 2,
        ("src_k_layers", "dst_k", "src_v_layers", "dst_v", "src_indices", "dst_indices", "item_size",
         "dst_layout_dim", "num_layers", "page_size", "head_num"),
    ),
    "transfer_kv_per_layer_mla": Form(
        "transfer_kv_per_layer_mla", "lf", "lf", 1, ("src", "dst", "src_indices", "dst_indices", "item_size"),
    ),
    "transfer_kv_per_layer_mla_pf_lf": Form(
        "transfer_kv_per_layer_mla_pf_lf", "pf", "lf", 1,
        ("src", "dst", "src_indices", "dst_indices", "layer_id", "item_size", "src_layout_dim"),
    ),
    "transfer_kv_all_layer_mla": Form(
        "transfer_kv_all_layer_mla", "tbl", "tbl", 1,
        ("src_layers", "dst_layers", "src_indices", "dst_indices", "item_size", "num_layers"),
    ),
    "transfer_kv_all_layer_mla_lf_pf": Form(
        "transfer_kv_all_layer_mla_lf_pf", "tbl", "pf", 1,
        ("src_layers", "dst", "src_indices", "dst_indices", "item_size", "dst_layout_dim", "num_layers"),
    ),
}  # fmt: skip


# ---------------- buffers ----------------


def rand_bytes(shape, where: str) -> torch.Tensor:
    x = torch.randint(0, 256, shape, dtype=torch.uint8)
    return x.pin_memory() if where == "h" else x.to(DEVICE)


@dataclass
class Side:
    """The K (and V) buffers of one side in its layout; for tbl also the layer tables."""

    layout: str
    bufs: list  # per K/V: a tensor (lf/pf/ph) or a list of layer tensors (tbl)
    tables: list  # tbl: per K/V a uint64 CUDA tensor of layer data_ptr()s
    layers: int
    item: int
    layout_dim: int

    def arg(self, kv: int):
        return self.tables[kv] if self.layout == "tbl" else self.bufs[kv]

    def cpu_bytes(self, kv: int) -> torch.Tensor | list:
        b = self.bufs[kv]
        return [x.cpu().clone() for x in b] if isinstance(b, list) else b.cpu().clone()


def make_side(layout: str, where: str, nkv: int, item: int, layers: int, pad: int = 0, offset: int = 0) -> Side:
    """Random buffers of SLOTS slots; pf slots padded by `pad` bytes; tbl layer buffers starting `offset` bytes
    into their allocation (a layer table pointer that is not 16-byte aligned)."""
    dim = layers * item + pad
    bufs, tables = [], []
    for _ in range(nkv):
        if layout == "lf":
            bufs.append(rand_bytes((SLOTS, item), where))
        elif layout == "pf":
            bufs.append(rand_bytes((SLOTS, dim), where))
        elif layout == "ph":
            bufs.append(rand_bytes((SLOTS // PAGE, HEADS, PAGE, layers, item // HEADS), where))
        else:
            raw = [rand_bytes((SLOTS * item + offset,), where) for _ in range(layers)]
            layer_bufs = [r[offset:].view(SLOTS, item) for r in raw]
            bufs.append(layer_bufs)
            tables.append(torch.tensor([x.data_ptr() for x in layer_bufs], dtype=torch.uint64, device=DEVICE))
    return Side(layout, bufs, tables, layers, item, dim)


def to_canon(side: Side, x) -> torch.Tensor:
    """[slots, layers, item] of one K/V buffer (CPU copy)."""
    n, item = side.layers, side.item
    if side.layout == "lf":
        return x.view(-1, 1, item).clone()
    if side.layout == "tbl":
        return torch.stack([b.view(-1, item) for b in x], dim=1)
    if side.layout == "pf":
        return x[:, : n * item].reshape(-1, n, item).clone()
    pages, heads, page, layers, seg = x.shape  # ph
    return x.permute(0, 2, 3, 1, 4).reshape(pages * page, layers, heads * seg).clone()


def from_canon(side: Side, canon: torch.Tensor, before):
    """The buffer (CPU) holding `canon`, its other bytes (pf padding) as in `before`."""
    if side.layout == "lf":
        return canon[:, 0, :].clone()
    if side.layout == "tbl":
        return [canon[:, layer, :].clone() for layer in range(canon.shape[1])]
    if side.layout == "pf":
        out = before.clone()
        out[:, : side.layers * side.item] = canon.reshape(out.shape[0], -1)
        return out
    pages, heads, page, layers, seg = before.shape
    return canon.view(pages, page, layers, heads, seg).permute(0, 3, 1, 2, 4).contiguous()


def capacity(side: Side) -> int:
    return SLOTS  # every layout holds SLOTS slots here (ph: SLOTS // PAGE full pages)


def expected(form: Form, src: Side, dst: Side, si: torch.Tensor, di: torch.Tensor, layer_id: int, before: list):
    """Per K/V the destination buffer after the transfer (CPU)."""
    si, di = si.cpu(), di.cpu()
    ok = (si >= 0) & (di >= 0)
    if src.layout != "tbl":
        ok &= si < capacity(src)
    if dst.layout != "tbl":
        ok &= di < capacity(dst)
    if form.per_layer:
        src_layers = [layer_id if src.layout in ("pf", "ph") else 0]
        dst_layers = [0]
    else:
        src_layers = dst_layers = list(range(src.layers))
    out = []
    for kv in range(form.nkv):
        s_canon = to_canon(src, src.cpu_bytes(kv) if src.layout != "tbl" else src.cpu_bytes(kv))
        d_canon = to_canon(dst, before[kv])
        for sl, dl in zip(src_layers, dst_layers):
            d_canon[di[ok], dl] = s_canon[si[ok], sl]
        out.append(from_canon(dst, d_canon, before[kv]))
    return out


def assert_equal_bytes(dst: Side, want: list) -> None:
    for kv, w in enumerate(want):
        got = dst.cpu_bytes(kv)
        if isinstance(got, list):
            for layer, (g, e) in enumerate(zip(got, w)):
                assert torch.equal(g, e), f"K/V {kv} layer {layer}: bytes differ from the reference"
        else:
            assert torch.equal(got, w), f"K/V {kv}: bytes differ from the reference"


def indices(pattern: str, n: int):
    """src and dst slot lists of n items: "random" (distinct random slots), "pages" (whole pages of consecutive
    slots, as sglang allocates them), "skips" (random, some negative or past the end on tensor sides)."""
    if pattern == "pages":
        pages = torch.randperm(SLOTS // PAGE)
        need = (n + PAGE - 1) // PAGE
        src = (pages[:need, None] * PAGE + torch.arange(PAGE)).flatten()[:n]
        pages = torch.randperm(SLOTS // PAGE)
        dst = (pages[:need, None] * PAGE + torch.arange(PAGE)).flatten()[:n]
    else:
        src, dst = torch.randperm(SLOTS)[:n], torch.randperm(SLOTS)[:n]
    return src.to(DEVICE), dst.to(DEVICE)


def with_skips(form: Form, si: torch.Tensor, di: torch.Tensor):
    """Some entries negative on either side; past the end where the side is a tensor (a table has no end)."""
    si, di = si.clone(), di.clone()
    si[0::5] = -1
    di[1::5] = -(2**40)
    if form.src != "tbl":
        si[2::5] = SLOTS + 7
    if form.dst != "tbl":
        di[3::5] = 2**40
    return si, di


@dataclass
class Setup:
    form: Form
    src: Side
    dst: Side
    item: int
    layer_id: int

    def op_args(self, si, di) -> list:
        """sgl-kernel's positional arguments of the form for these buffers and indices."""
        f, s, d = self.form, self.src, self.dst
        values = {
            "item_size": self.item,
            "layer_id": self.layer_id,
            "src_layout_dim": s.layout_dim,
            "dst_layout_dim": d.layout_dim,
            "num_layers": s.layers,
            "page_size": PAGE,
            "head_num": HEADS,
            "src_indices": si,
            "dst_indices": di,
        }
        for side, prefix in ((s, "src"), (d, "dst")):
            for kv, suffix in ((0, "_k"), (1, "_v")) if f.nkv == 2 else ((0, ""),):
                values[prefix + suffix] = values[prefix + suffix + "_layers"] = side.arg(kv)
        return [values[a] for a in f.args]

    def call(self, si, di, **knobs):
        return getattr(kernelkit_ops, self.form.op)(*self.op_args(si, di), **knobs)

    def before(self):
        return [self.dst.cpu_bytes(kv) for kv in range(self.form.nkv)]


def setup(form: Form, direction: str, item: int, pad: int = 0, offset: int = 0) -> Setup:
    src_where, dst_where = {"d2d": ("d", "d"), "h2d": ("h", "d"), "d2h": ("d", "h")}[direction]
    layers = form.layers()
    src = make_side(form.src, src_where, form.nkv, item, layers, pad, offset)
    dst = make_side(form.dst, dst_where, form.nkv, item, layers, pad, offset)
    layer_id = LAYERS - 1 if form.src in ("pf", "ph") else 0
    return Setup(form, src, dst, item, layer_id)


def run_and_check(s: Setup, si, di, **knobs):
    before = s.before()
    torch.cuda.synchronize()
    assert s.call(si, di, **knobs) is None
    torch.cuda.synchronize()
    assert_equal_bytes(s.dst, expected(s.form, s.src, s.dst, si, di, s.layer_id, before))


def cpu_setup_args(form: Form, item=64, n=4, indices_on="cpu"):
    """Positional arguments with CPU buffers (the binding checks them, then refuses the CPU indices)."""
    values = {
        "item_size": item,
        "layer_id": 0,
        "src_layout_dim": LAYERS * item,
        "dst_layout_dim": LAYERS * item,
        "num_layers": LAYERS,
        "page_size": PAGE,
        "head_num": HEADS,
        "src_indices": torch.arange(n),
        "dst_indices": torch.arange(n),
    }
    table = torch.zeros(LAYERS, dtype=torch.uint64)
    for a in form.args:
        if a.endswith("_layers") and a != "num_layers":
            values[a] = table.clone()
        elif a in form.buffers:
            values[a] = torch.zeros(SLOTS, LAYERS * item, dtype=torch.uint8)
    return [values[a] for a in form.args], values


class KvTransferTests:
    """Every kernel-form transfer's tests; a test file sets `form`."""

    form: Form

    @property
    def wrapper(self):
        return getattr(kernelkit_ops, self.form.op)

    @property
    def torch_op(self):
        return getattr(torch.ops.kernelkit, self.form.op).default

    def items(self):
        return PH_ITEMS if self.form.ph else ITEMS

    # ---------------- CPU: schema, fake, the binding's checks ----------------

    def test_schema_registered(self):
        schema = self.torch_op._schema
        assert [a.name for a in schema.arguments] == [*self.form.args, "block_quota", "num_warps_per_block"]
        written = {a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write}
        assert written == {a for a in self.form.buffers if a.startswith("dst")}
        assert schema.arguments[-2].default_value == DEFAULT_BLOCK_QUOTA
        assert schema.arguments[-1].default_value == DEFAULT_WARPS
        assert schema.returns == []

    def test_fake_impl_runs(self):
        args, _ = cpu_setup_args(self.form)
        with FakeTensorMode():
            fake = [
                torch.empty(a.shape, dtype=a.dtype, device="cuda") if isinstance(a, torch.Tensor) else a for a in args
            ]
            assert self.wrapper(*fake) is None

    def test_rejects_cpu_indices(self):
        args, _ = cpu_setup_args(self.form)
        with pytest.raises(RuntimeError, match=f"{self.form.op}: src_indices must be a CUDA tensor"):
            self.wrapper(*args)

    def test_rejects_knobs(self):
        args, v = cpu_setup_args(self.form)
        op = self.form.op
        with pytest.raises(RuntimeError, match=f"{op}: item_size must be positive"):
            self.wrapper(*[0 if a == "item_size" else v[a] for a in self.form.args])
        with pytest.raises(RuntimeError, match=rf"{op}: block_quota must be in \[1, 2\^31\)"):
            self.wrapper(*args, block_quota=0)
        with pytest.raises(RuntimeError, match=rf"{op}: num_warps_per_block must be in \[1, 32\], got 33"):
            self.wrapper(*args, num_warps_per_block=33)

    def test_rejects_indices(self):
        _, v = cpu_setup_args(self.form)
        op = self.form.op

        def call(**over):
            return self.wrapper(*[over.get(a, v[a]) for a in self.form.args])

        with pytest.raises(RuntimeError, match=f"{op}: src_indices must be int64, got int32"):
            call(src_indices=torch.arange(4, dtype=torch.int32))
        with pytest.raises(RuntimeError, match=f"{op}: dst_indices must be contiguous"):
            call(dst_indices=torch.arange(8)[::2])
        with pytest.raises(RuntimeError, match=f"{op}: src_indices and dst_indices must have the same length"):
            call(dst_indices=torch.arange(3))

    def test_rejects_layout_arguments(self):
        _, v = cpu_setup_args(self.form)
        op, args = self.form.op, self.form.args

        def call(**over):
            return self.wrapper(*[over.get(a, v[a]) for a in args])

        if "src_layout_dim" in args or "dst_layout_dim" in args:
            name = "src_layout_dim" if "src_layout_dim" in args else "dst_layout_dim"
            with pytest.raises(RuntimeError, match=f"{op}: {name} .* must hold"):
                call(**{name: 64}, layer_id=1) if "layer_id" in args else call(**{name: 64})
        if "head_num" in args:
            with pytest.raises(RuntimeError, match=rf"{op}: item_size \(64\) must be a multiple of head_num \(3\)"):
                call(head_num=3)
        if "layer_id" in args:
            with pytest.raises(RuntimeError, match=f"{op}: layer_id must be >= 0, got -1"):
                call(layer_id=-1)
        tables = [a for a in args if a.endswith("_layers") and a != "num_layers"]
        for t in tables:
            with pytest.raises(RuntimeError, match=f"{op}: {t} must be int64 or uint64"):
                call(**{t: torch.zeros(LAYERS, dtype=torch.float32)})
        if tables:
            with pytest.raises(RuntimeError, match=f"{op}: {tables[0]} must have num_layers \\(2\\) entries, got 3"):
                call(num_layers=2)
        for b in [a for a in self.form.buffers if a not in tables]:
            with pytest.raises(RuntimeError, match=f"{op}: {b} must be contiguous"):
                call(**{b: v[b].t()})

    # ---------------- GPU: bit-exact against torch indexing ----------------

    @pytest.mark.gpu
    @pytest.mark.parametrize("pattern", ["random", "pages"])
    @pytest.mark.parametrize("item_index", range(5))
    @pytest.mark.parametrize("direction", DIRECTIONS)
    def test_matches_indexing(self, direction, item_index, pattern):
        item = self.items()[item_index]
        s = setup(self.form, direction, item)
        si, di = indices(pattern, 200)
        run_and_check(s, si, di)

    @pytest.mark.gpu
    @pytest.mark.parametrize("direction", DIRECTIONS)
    def test_skips_slots_outside(self, direction):
        s = setup(self.form, direction, 64)
        si, di = with_skips(self.form, *indices("random", 100))
        run_and_check(s, si, di)

    @pytest.mark.gpu
    @pytest.mark.parametrize("n", [1, 7, SLOTS])
    def test_counts(self, n):
        s = setup(self.form, "h2d", self.items()[1])
        run_and_check(s, *indices("random", n))

    @pytest.mark.gpu
    @pytest.mark.parametrize("block_quota,warps", [(1, 1), (1, 32), (8, 4), (132, 32), (4096, 2)])
    def test_launch_knobs(self, block_quota, warps):
        s = setup(self.form, "d2d", self.items()[0])
        si, di = indices("random", SLOTS)
        run_and_check(s, si, di, block_quota=block_quota, num_warps_per_block=warps)

    @pytest.mark.gpu
    def test_zero_items_is_a_noop(self):
        s = setup(self.form, "h2d", 64)
        empty = torch.empty(0, dtype=torch.int64, device=DEVICE)
        run_and_check(s, empty, empty)

    @pytest.mark.gpu
    def test_refuses_pageable_host_buffer(self):
        """The GPU cannot reach pageable memory: a plain CPU destination buffer (or a CPU table naming the
        destination layers) is refused by name."""
        s = setup(self.form, "d2d", 64)
        if s.dst.layout == "tbl":
            s.dst.tables[0] = s.dst.tables[0].cpu()
        else:
            s.dst.bufs[0] = s.dst.bufs[0].cpu()
        name = next(a for a in self.form.buffers if a.startswith("dst"))
        with pytest.raises(RuntimeError, match=f"{self.form.op}: {name} is a CPU tensor in pageable memory"):
            s.call(*indices("random", 8))

    @pytest.mark.gpu
    def test_cuda_graph_replays_with_new_indices(self):
        """Captured once, replayed after the index tensors were refilled: the kernel reads them at replay."""
        s = setup(self.form, "d2d", 1152 if not self.form.ph else 1024)
        si, di = indices("random", 64)
        s.call(si, di)  # warm-up outside the capture
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            s.call(si, di)
        new_si, new_di = indices("pages", 64)
        si.copy_(new_si)
        di.copy_(new_di)
        before = s.before()
        graph.replay()
        torch.cuda.synchronize()
        assert_equal_bytes(s.dst, expected(s.form, s.src, s.dst, si, di, s.layer_id, before))

    @pytest.mark.gpu
    def test_opcheck(self):
        s = setup(self.form, "d2d", 64)
        args = s.op_args(*indices("random", 16))
        torch.library.opcheck(self.torch_op, (*args, DEFAULT_BLOCK_QUOTA, DEFAULT_WARPS))


class PageFirstTests:
    """The forms with a page-first side."""

    form: Form

    @pytest.mark.gpu
    def test_padded_page_first_slots(self):
        """A page-first slot longer than its layers' items (layout_dim > layers * item): padding untouched."""
        s = setup(self.form, "h2d" if self.form.src == "pf" else "d2h", 48, pad=40)
        run_and_check(s, *indices("random", 150))


class LayerTableTests:
    """The all-layer forms: layers named by a table of addresses the host never checks."""

    form: Form

    @pytest.mark.gpu
    @pytest.mark.parametrize("offset", [8, 4, 1])
    @pytest.mark.parametrize("direction", ["h2d", "d2h"])
    def test_misaligned_layer_pointers(self, direction, offset):
        """Layer buffers starting `offset` bytes into their allocation: 16-byte words would be misaligned; the
        kernel copies those chunks in narrower pieces."""
        s = setup(self.form, direction, 64, offset=offset)
        run_and_check(s, *indices("random", 120))

    @pytest.mark.gpu
    def test_int64_tables(self):
        """Tables as int64 (what torch.tensor(list_of_ptrs) gives without a dtype) work like sglang's uint64."""
        s = setup(self.form, "h2d", 1152)
        for side in (s.src, s.dst):
            side.tables = [t.view(torch.int64) for t in side.tables]
        run_and_check(s, *indices("pages", 100))


class CompileTests:
    """The forms whose destination is a tensor: the call traces under torch.compile(fullgraph=True)."""

    form: Form

    @pytest.mark.gpu
    def test_torch_compile_fullgraph(self):
        s = setup(self.form, "d2d", 64)
        si, di = indices("random", 32)
        before = s.before()
        fn = torch.compile(lambda a, b: s.call(a, b), fullgraph=True)
        fn(si, di)
        torch.cuda.synchronize()
        assert_equal_bytes(s.dst, expected(s.form, s.src, s.dst, si, di, s.layer_id, before))
