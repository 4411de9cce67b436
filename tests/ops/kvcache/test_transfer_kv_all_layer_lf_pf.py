"""Tests of `transfer_kv_all_layer_lf_pf` (sgl-kernel's kvcacheio op of that name).

Every layer's K and V items from layer tables to page-first buffers.
Bit for bit against torch indexing, device <-> device and device <-> pinned host. CPU tests check the schema,
the fake and the binding's refusals through CPU tensors. The tests live in kv_transfer_cases
(KvTransferTests, PageFirstTests, LayerTableTests, CompileTests), shared with the other kernel-form transfers.
"""

from kv_transfer_cases import FORMS, CompileTests, KvTransferTests, LayerTableTests, PageFirstTests


class TestTransferKvAllLayerLfPf(KvTransferTests, PageFirstTests, LayerTableTests, CompileTests):
    form = FORMS["transfer_kv_all_layer_lf_pf"]
