"""`moe_align_block_size`: group the (token, slot) entries of top-k routing by expert, each expert's run
padded to a multiple of the GEMM block size (sgl-kernel's API)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def moe_align_block_size(
    topk_ids: torch.Tensor,
    num_experts: int,
    block_size: int,
    sorted_token_ids: torch.Tensor,
    experts_ids: torch.Tensor,
    num_tokens_post_pad: torch.Tensor,
    cumsum_buffer: torch.Tensor,
    pad_sorted_token_ids: bool = False,
    ignore_invalid_expert: bool = False,
    enable_pdl: bool | None = None,
) -> None:
    """Same signature and contract as ``sgl_kernel.moe_align_block_size``; writes its four buffers.

    ``num_experts`` counts buckets, as sgl-kernel's kernel does: bucket ``b`` holds the entries whose id
    is ``b - 1``. sgl-kernel's callers pass ``E + 1`` for ``E`` experts, so id ``-1`` (a token routed to
    an expert another rank owns) has bucket 0, whose blocks get expert id ``-1``. With
    ``n = topk_ids.numel()`` and the entries taken in flat order ``i = t * k + j``:

    * ``sorted_token_ids``: bucket after bucket, each bucket's flat indices ``i`` in ascending order
      (sgl-kernel leaves the order inside a bucket to its atomics; here it is fixed), then padding up
      to a multiple of ``block_size``. Padding slots and everything after the padded total hold ``n``
      when ``pad_sorted_token_ids``; otherwise they are not written (sgl-kernel's callers then fill
      the buffer with ``n`` first).
    * ``experts_ids[blk] = bucket - 1`` for every block ``blk < num_tokens_post_pad / block_size``;
      later entries are not written.
    * ``num_tokens_post_pad[0]``: the padded total.
    * ``cumsum_buffer[b]``: bucket ``b``'s start in ``sorted_token_ids``, ``cumsum_buffer[num_experts]``
      the padded total (sgl-kernel uses this buffer as scratch; its contents afterwards differ there).
    * ``ignore_invalid_expert``: entries with a negative id are dropped (not counted, not placed).
      Ids that have no bucket (``< -1`` or ``>= num_experts - 1``) are always dropped, never written out
      of bounds (sgl-kernel does not check them: they corrupt memory there). Raising on them would need
      the ids on the host, a synchronization on every call, so they are not checked.

    Args:
        topk_ids: ``[T, k]`` (any shape; a strided view is copied to a contiguous one first) int32 or int64
            expert ids. Only read.
        num_experts: bucket count, 1..4097.
        block_size: the GEMM's block height (any positive value).
        sorted_token_ids: int32, contiguous, at least ``n + min(n, num_experts) * (block_size - 1)``
            elements (the most the padding can need; sgl-kernel's callers allocate
            ``n + num_experts * (block_size - 1)``, or ``n * block_size`` for small ``n``).
        experts_ids: int32, contiguous, at least that size // ``block_size`` elements.
        num_tokens_post_pad: int32, at least 1 element.
        cumsum_buffer: int32, contiguous, at least ``num_experts + 1`` elements.
        pad_sorted_token_ids: write ``n`` into every slot no entry takes.
        ignore_invalid_expert: drop negative ids instead of bucketing -1 into bucket 0.
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in
            sgl-kernel's signature.

    One launch for every size; T = 0 still writes ``num_tokens_post_pad = 0``, ``cumsum_buffer`` and
    the padding. The op checks its arguments and raises ``RuntimeError`` naming the one to fix.
    """
    # A column slice of a wider id tensor (e.g. `argsort(...)[:, :k]`, as sgl-kernel's own test routes) is read
    # by its logical order: the kernel reads ids as one flat run, so a strided view is made contiguous first.
    torch.ops.kernelkit.moe_align_block_size.default(
        topk_ids if topk_ids.is_contiguous() else topk_ids.contiguous(),
        num_experts,
        block_size,
        sorted_token_ids,
        experts_ids,
        num_tokens_post_pad,
        cumsum_buffer,
        pad_sorted_token_ids,
        ignore_invalid_expert,
        pdl_default(topk_ids, enable_pdl),
    )
