"""sgl-kernel compatibility of the kvcacheio transfers (self-contained), with sgl-kernel's own call forms.

Facts from sgl-kernel's ``python/sgl_kernel/kvcacheio.py``, ``csrc/kvcacheio/transfer.cu`` and
``tests/test_kvcacheio.py``, and sglang's ``mem_cache/memory_pool_host.py`` (its caller), re-stated as our checks:

* thirteen functions, each returning None, with ``block_quota=2, num_warps_per_block=32`` (CUDA) trailing the
  kernel forms; ``from sgl_kernel.kvcacheio import ...`` is how sglang imports them (``kernelkit_ops.kvcacheio``);
* ``item_size`` is bytes of one layer of one token slot (``head_num * head_dim * itemsize``); layer-first buffers are
  ``[slots, ...]`` per layer; the page-first host pool is ``[slots, layers, ...]`` with ``layout_dim = layers *
  item_size``; the page-head pool ``[pages, heads, page_size, layers, head_dim]``; the all-layer forms take uint64
  CUDA tensors of the layers' ``data_ptr()``s; indices are int64 CUDA tensors;
* the direct forms take lists of tensors and indices on the host or the GPU (read on the host), copying runs with
  the copy engine; the page-first-direct pool is ``[pages, layers, page_size, ...]`` and only the first index of
  each page is read;
* a negative index skips the item in the lf/pf kernel (sglang's padding); upstream refuses item sizes that are not
  multiples of 8 (kernelkit takes any) and leaves slots past a buffer undefined (kernelkit skips them).

Signature checks are CPU tests; everything that launches is marked ``gpu``.
"""

from __future__ import annotations

import kernelkit_ops as sgl_kernel
import pytest
import torch
from compat_helpers import REQUIRED, assert_drop_in_signature

IDX = [("src_indices", REQUIRED), ("dst_indices", REQUIRED)]
KNOBS = [("block_quota", 2), ("num_warps_per_block", 32)]
KV = [("src_k", REQUIRED), ("dst_k", REQUIRED), ("src_v", REQUIRED), ("dst_v", REQUIRED)]
KV_TABLES_PF = [("src_k_layers", REQUIRED), ("dst_k", REQUIRED), ("src_v_layers", REQUIRED), ("dst_v", REQUIRED)]


def req(*names):
    return [(n, REQUIRED) for n in names]


UPSTREAM = {
    "transfer_kv_per_layer": KV + IDX + req("item_size") + KNOBS,
    "transfer_kv_per_layer_pf_lf": KV + IDX + req("layer_id", "item_size", "src_layout_dim") + KNOBS,
    "transfer_kv_per_layer_ph_lf": KV
    + IDX
    + req("layer_id", "item_size", "src_layout_dim", "page_size", "head_num")
    + KNOBS,
    "transfer_kv_all_layer": req("src_k_layers", "dst_k_layers", "src_v_layers", "dst_v_layers")
    + IDX
    + req("item_size", "num_layers")
    + KNOBS,
    "transfer_kv_all_layer_lf_pf": KV_TABLES_PF + IDX + req("item_size", "dst_layout_dim", "num_layers") + KNOBS,
    "transfer_kv_all_layer_lf_ph": KV_TABLES_PF
    + IDX
    + req("item_size", "dst_layout_dim", "num_layers", "page_size", "head_num")
    + KNOBS,
    "transfer_kv_direct": req("src_layers", "dst_layers") + IDX + req("page_size"),
    "transfer_kv_per_layer_direct_pf_lf": req("src_ptrs", "dst_ptrs") + IDX + req("layer_id", "page_size"),
    "transfer_kv_all_layer_direct_lf_pf": req("src_ptrs", "dst_ptrs") + IDX + req("page_size"),
    "transfer_kv_per_layer_mla": req("src", "dst") + IDX + req("item_size") + KNOBS,
    "transfer_kv_per_layer_mla_pf_lf": req("src", "dst") + IDX + req("layer_id", "item_size", "src_layout_dim") + KNOBS,
    "transfer_kv_all_layer_mla": req("src_layers", "dst_layers") + IDX + req("item_size", "num_layers") + KNOBS,
    "transfer_kv_all_layer_mla_lf_pf": req("src_layers", "dst")
    + IDX
    + req("item_size", "dst_layout_dim", "num_layers")
    + KNOBS,
}


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_signature(name):
    assert_drop_in_signature(getattr(sgl_kernel, name), UPSTREAM[name])


def test_kvcacheio_module_has_sglangs_imports():
    from kernelkit_ops import kvcacheio

    assert sorted(kvcacheio.__all__) == sorted(UPSTREAM)
    for name in UPSTREAM:
        assert getattr(kvcacheio, name) is getattr(sgl_kernel, name)


# ---------------- GPU: sgl-kernel's own test, re-stated ----------------

LAYERS, POOL, ITEM = 4, 2048, 256  # upstream: 4 layers, 10240 items of 256 elements


def page_slots(page_size: int, n_items: int, pool: int = POOL):
    """Upstream's indices: whole pages at random, distinct on each side (CPU)."""
    pages = torch.randperm(pool // page_size)
    n = n_items // page_size
    src = torch.cat([torch.arange(p * page_size, (p + 1) * page_size) for p in pages[:n]])
    dst = torch.cat([torch.arange(p * page_size, (p + 1) * page_size) for p in pages[n : 2 * n]])
    return src, dst


@pytest.mark.gpu
@pytest.mark.parametrize("all_layers", [False, True])
@pytest.mark.parametrize("is_mla", [False, True])
@pytest.mark.parametrize("page_size", [1, 16, 64])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_upstream_transfer_kv(dtype, page_size, is_mla, all_layers):
    """test_kvcacheio.py::test_transfer_kv: pinned host pools [layers, items, item] -> device; the kernel form and
    transfer_kv_direct (host src indices, device dst indices) equal ``dst[dst_idx] = src[src_idx]``."""
    src_idx, dst_idx = page_slots(page_size, 1024)
    src_dev_idx, dst_dev_idx = src_idx.cuda(), dst_idx.cuda()
    pools = 1 if is_mla else 2
    src = [torch.randn(LAYERS, POOL, ITEM, dtype=dtype).pin_memory() for _ in range(pools)]
    ref = [torch.zeros(LAYERS, POOL, ITEM, dtype=dtype, device="cuda") for _ in range(pools)]
    kernel = [torch.zeros_like(r) for r in ref]
    direct = [torch.zeros_like(r) for r in ref]
    layers = range(LAYERS) if all_layers else [0]
    for r, s in zip(ref, src):
        for layer in layers:
            r[layer][dst_dev_idx] = s[layer][src_idx].cuda()
    item_size = ITEM * dtype.itemsize
    if all_layers:

        def table(pool):
            return torch.tensor([pool[layer].data_ptr() for layer in layers], dtype=torch.uint64, device="cuda")

        if is_mla:
            sgl_kernel.transfer_kv_all_layer_mla(
                table(src[0]), table(kernel[0]), src_dev_idx, dst_dev_idx, item_size=item_size, num_layers=LAYERS
            )
        else:
            sgl_kernel.transfer_kv_all_layer(
                table(src[0]), table(kernel[0]), table(src[1]), table(kernel[1]), src_dev_idx, dst_dev_idx,
                item_size=item_size, num_layers=LAYERS,
            )  # fmt: skip
    elif is_mla:
        sgl_kernel.transfer_kv_per_layer_mla(src[0][0], kernel[0][0], src_dev_idx, dst_dev_idx, item_size=item_size)
    else:
        sgl_kernel.transfer_kv_per_layer(
            src[0][0], kernel[0][0], src[1][0], kernel[1][0], src_dev_idx, dst_dev_idx, item_size=item_size
        )
    sgl_kernel.transfer_kv_direct(
        [s[layer] for s in src for layer in layers],
        [d[layer] for d in direct for layer in layers],
        src_idx,
        dst_dev_idx,
        page_size=page_size,
    )
    torch.cuda.synchronize()
    for r, k, d in zip(ref, kernel, direct):
        assert torch.equal(k, r) and torch.equal(d, r)


@pytest.mark.gpu
@pytest.mark.parametrize("lf_to_pf", [False, True])
@pytest.mark.parametrize("is_mla", [False, True])
@pytest.mark.parametrize("page_size", [16, 64])
def test_upstream_transfer_kv_pf_direct(page_size, is_mla, lf_to_pf):
    """test_kvcacheio.py::test_transfer_kv_pf_direct: page-first-direct pools [pages, layers, page_size, item] on a
    side stream, host indices."""
    dtype = torch.bfloat16
    src_idx, dst_idx = page_slots(page_size, 1024)
    pools = 1 if is_mla else 2
    stream = torch.cuda.Stream()
    if lf_to_pf:
        src = [torch.randn(LAYERS, POOL, ITEM, dtype=dtype, device="cuda") for _ in range(pools)]
        dst = [torch.zeros(POOL // page_size, LAYERS, page_size, ITEM, dtype=dtype).pin_memory() for _ in range(pools)]
        ref = [d.clone() for d in dst]
        torch.cuda.synchronize()
        with torch.cuda.stream(stream):
            sgl_kernel.transfer_kv_all_layer_direct_lf_pf(
                [s[layer] for s in src for layer in range(LAYERS)], dst, src_idx, dst_idx, page_size
            )
        stream.synchronize()
        for r, s in zip(ref, src):
            for layer in range(LAYERS):
                for i in range(0, len(src_idx), page_size):
                    r[dst_idx[i] // page_size][layer] = s[layer][src_idx[i : i + page_size]].cpu()
    else:
        src = [torch.randn(POOL // page_size, LAYERS, page_size, ITEM, dtype=dtype).pin_memory() for _ in range(pools)]
        dst = [torch.zeros(LAYERS, POOL, ITEM, dtype=dtype, device="cuda") for _ in range(pools)]
        ref = [d.clone() for d in dst]
        torch.cuda.synchronize()
        with torch.cuda.stream(stream):
            sgl_kernel.transfer_kv_per_layer_direct_pf_lf(src, [d[0] for d in dst], src_idx, dst_idx, 0, page_size)
        stream.synchronize()
        for r, s in zip(ref, src):
            for i in range(0, len(src_idx), page_size):
                r[0][dst_idx[i : i + page_size].cuda()] = s[src_idx[i] // page_size][0].cuda()
    for d, r in zip(dst, ref):
        assert torch.equal(d.cpu(), r.cpu())


@pytest.mark.gpu
@pytest.mark.parametrize("lf_to_ph", [False, True])
@pytest.mark.parametrize("head_num", [8, 16])
@pytest.mark.parametrize("page_size", [16, 64])
def test_upstream_transfer_kv_page_head(page_size, head_num, lf_to_ph):
    """test_kvcacheio.py::test_transfer_kv_page_head: the page-head pool [pages, heads, page_size, layers,
    head_dim] (pinned) <-> layer-first [layers, items, heads, head_dim] (device); layout dim = item * layers."""
    dtype, item, pool = torch.bfloat16, 1024, 4096
    head_dim = item // head_num
    src_idx, dst_idx = page_slots(page_size, 256, pool)
    item_size, layout_dim = item * dtype.itemsize, item * LAYERS * dtype.itemsize
    if lf_to_ph:
        src_k = torch.randn(LAYERS, pool, head_num, head_dim, dtype=dtype, device="cuda")
        src_v = torch.randn_like(src_k)
        tables = [
            torch.tensor([x[layer].data_ptr() for layer in range(LAYERS)], dtype=torch.uint64, device="cuda")
            for x in (src_k, src_v)
        ]
        dst_k = torch.zeros(pool // page_size, head_num, page_size, LAYERS, head_dim, dtype=dtype).pin_memory()
        dst_v = torch.zeros_like(dst_k).pin_memory()
        ref_k, ref_v = dst_k.clone(), dst_v.clone()
        sgl_kernel.transfer_kv_all_layer_lf_ph(
            tables[0], dst_k, tables[1], dst_v, src_idx.cuda(), dst_idx.cuda(), item_size, layout_dim, LAYERS,
            page_size, head_num,
        )  # fmt: skip
        torch.cuda.synchronize()
        for ref, src in ((ref_k, src_k.cpu()), (ref_v, src_v.cpu())):
            for layer in range(LAYERS):
                for s, d in zip(src_idx.tolist(), dst_idx.tolist()):
                    ref[d // page_size, :, d % page_size, layer] = src[layer, s]
        assert torch.equal(dst_k, ref_k) and torch.equal(dst_v, ref_v)
    else:
        src_k = torch.randn(pool // page_size, head_num, page_size, LAYERS, head_dim, dtype=dtype).pin_memory()
        src_v = torch.randn_like(src_k).pin_memory()
        dst_k = torch.zeros(LAYERS, pool, head_num, head_dim, dtype=dtype, device="cuda")
        dst_v = torch.zeros_like(dst_k)
        ref_k, ref_v = dst_k.cpu(), dst_v.cpu()
        sgl_kernel.transfer_kv_per_layer_ph_lf(
            src_k, dst_k[0], src_v, dst_v[0], src_idx.cuda(), dst_idx.cuda(), 0, item_size, layout_dim, page_size,
            head_num,
        )  # fmt: skip
        torch.cuda.synchronize()
        for ref, src in ((ref_k, src_k), (ref_v, src_v)):
            for s, d in zip(src_idx.tolist(), dst_idx.tolist()):
                ref[0, d] = src[s // page_size, :, s % page_size, 0]
        assert torch.equal(dst_k.cpu(), ref_k) and torch.equal(dst_v.cpu(), ref_v)


@pytest.mark.gpu
def test_sglang_page_first_host_pool():
    """sglang's page_first host pool: k_buffer [size, layers, heads, head_dim] pinned, layout_dim = item * layers;
    load layer l (pf -> lf), back up every layer (lf -> pf, uint64 tables of the device layers)."""
    dtype, heads, head_dim, size = torch.bfloat16, 8, 128, 1024
    item_size = heads * head_dim * dtype.itemsize
    host = torch.randn(2, size, LAYERS, heads, head_dim, dtype=dtype).pin_memory()
    dev_k = [torch.zeros(size, heads, head_dim, dtype=dtype, device="cuda") for _ in range(LAYERS)]
    dev_v = [torch.zeros_like(x) for x in dev_k]
    host_idx, dev_idx = (x.cuda() for x in page_slots(64, 512, size))
    sgl_kernel.transfer_kv_per_layer_pf_lf(
        host[0], dev_k[2], host[1], dev_v[2], host_idx, dev_idx, layer_id=2, item_size=item_size,
        src_layout_dim=item_size * LAYERS,
    )  # fmt: skip
    torch.cuda.synchronize()
    assert torch.equal(dev_k[2][dev_idx].cpu(), host[0][host_idx.cpu(), 2])
    assert torch.equal(dev_v[2][dev_idx].cpu(), host[1][host_idx.cpu(), 2])
    for x in dev_k + dev_v:
        x.copy_(torch.randn_like(x))
    tables = [torch.tensor([x.data_ptr() for x in xs], dtype=torch.uint64, device="cuda") for xs in (dev_k, dev_v)]
    sgl_kernel.transfer_kv_all_layer_lf_pf(
        tables[0], host[0], tables[1], host[1], dev_idx, host_idx, item_size=item_size,
        dst_layout_dim=item_size * LAYERS, num_layers=LAYERS,
    )  # fmt: skip
    torch.cuda.synchronize()
    for layer in range(LAYERS):
        assert torch.equal(host[0][host_idx.cpu(), layer], dev_k[layer][dev_idx].cpu())
        assert torch.equal(host[1][host_idx.cpu(), layer], dev_v[layer][dev_idx].cpu())


@pytest.mark.gpu
def test_negative_indices_are_skipped_as_upstream():
    """sgl-kernel's lf/pf kernel skips an item whose src or dst index is negative (sglang's padding)."""
    src = torch.randn(64, 8, dtype=torch.bfloat16).pin_memory()
    dst = torch.zeros(64, 8, dtype=torch.bfloat16, device="cuda")
    si = torch.tensor([1, -1, 3, 4], device="cuda")
    di = torch.tensor([10, 11, -1, 13], device="cuda")
    sgl_kernel.transfer_kv_per_layer_mla(src, dst, si, di, 16)
    torch.cuda.synchronize()
    want = torch.zeros(64, 8, dtype=torch.bfloat16)
    want[10], want[13] = src[1], src[4]
    assert torch.equal(dst.cpu(), want)
