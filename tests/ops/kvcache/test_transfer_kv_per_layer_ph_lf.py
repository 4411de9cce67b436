"""Tests of `transfer_kv_per_layer_ph_lf` (sgl-kernel's kvcacheio op of that name).

One layer's K and V items from page-head to layer-first buffers, head by head.
Bit for bit against torch indexing, device <-> device and device <-> pinned host. CPU tests check the schema,
the fake and the binding's refusals through CPU tensors. The tests live in kv_transfer_cases
(KvTransferTests, CompileTests), shared with the other kernel-form transfers.
"""

from kv_transfer_cases import FORMS, CompileTests, KvTransferTests


class TestTransferKvPerLayerPhLf(KvTransferTests, CompileTests):
    form = FORMS["transfer_kv_per_layer_ph_lf"]
