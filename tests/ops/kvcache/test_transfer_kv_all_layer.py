"""Tests of `transfer_kv_all_layer` (sgl-kernel's kvcacheio op of that name).

Every layer's K and V items between layer-first buffers named by layer tables.
Bit for bit against torch indexing, device <-> device and device <-> pinned host. CPU tests check the schema,
the fake and the binding's refusals through CPU tensors. The tests live in kv_transfer_cases
(KvTransferTests, LayerTableTests), shared with the other kernel-form transfers.
"""

from kv_transfer_cases import FORMS, KvTransferTests, LayerTableTests


class TestTransferKvAllLayer(KvTransferTests, LayerTableTests):
    form = FORMS["transfer_kv_all_layer"]
