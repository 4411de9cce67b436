"""Tests of `transfer_kv_per_layer_mla_pf_lf` (sgl-kernel's kvcacheio op of that name).

One layer's MLA latent items from page-first to layer-first.
Bit for bit against torch indexing, device <-> device and device <-> pinned host. CPU tests check the schema,
the fake and the binding's refusals through CPU tensors. The tests live in kv_transfer_cases
(KvTransferTests, PageFirstTests, CompileTests), shared with the other kernel-form transfers.
"""

from kv_transfer_cases import FORMS, CompileTests, KvTransferTests, PageFirstTests


class TestTransferKvPerLayerMlaPfLf(KvTransferTests, PageFirstTests, CompileTests):
    form = FORMS["transfer_kv_per_layer_mla_pf_lf"]
