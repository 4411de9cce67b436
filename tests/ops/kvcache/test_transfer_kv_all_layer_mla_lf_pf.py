"""Tests of `transfer_kv_all_layer_mla_lf_pf` (sgl-kernel's kvcacheio op of that name).

Every layer's MLA latent items from layer tables to page-first.
Bit for bit against torch indexing, device <-> device and device <-> pinned host. CPU tests check the schema,
the fake and the binding's refusals through CPU tensors. The tests live in kv_transfer_cases
(KvTransferTests, PageFirstTests, LayerTableTests, CompileTests), shared with the other kernel-form transfers.
"""

from kv_transfer_cases import FORMS, CompileTests, KvTransferTests, LayerTableTests, PageFirstTests


class TestTransferKvAllLayerMlaLfPf(KvTransferTests, PageFirstTests, LayerTableTests, CompileTests):
    form = FORMS["transfer_kv_all_layer_mla_lf_pf"]
