"""Tests of `transfer_kv_all_layer_mla` (sgl-kernel's kvcacheio op of that name).

Every layer's MLA latent items between layer tables.
Bit for bit against torch indexing, device <-> device and device <-> pinned host. CPU tests check the schema,
the fake and the binding's refusals through CPU tensors. The tests live in kv_transfer_cases
(KvTransferTests, LayerTableTests), shared with the other kernel-form transfers.
"""

from kv_transfer_cases import FORMS, KvTransferTests, LayerTableTests


class TestTransferKvAllLayerMla(KvTransferTests, LayerTableTests):
    form = FORMS["transfer_kv_all_layer_mla"]
