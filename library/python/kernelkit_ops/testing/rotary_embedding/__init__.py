"""``sgl_kernel.testing.rotary_embedding``: the RoPE reference, the kernel-backed module and the KV pool that
sgl-kernel's RoPE tests and benchmarks import, with the same names and behaviour.

* ``RotaryEmbedding``: a torch module holding the float32 ``[cos | sin]`` cache (``cos_sin_cache``, one row
  per position, ``base ** (-2i / rotary_dim)`` frequencies); ``forward_native`` rotates in float32 and
  returns new ``(query, key)`` in the module's dtype.
* ``FlashInferRotaryEmbedding.forward_cuda``: the same through ``apply_rope_with_cos_sin_cache_inplace`` (in
  place; returns the inputs), passing ``fused_set_kv_buffer_arg`` on when one is given.
* ``SglKernelRotaryEmbedding.forward_cuda``: RoPE with the cache rounded to the query's dtype (sgl-kernel's
  vLLM-style op takes the cache in that dtype); no fused KV write.
* ``MHATokenToKVPool``: one layer of bf16 K and V caches ``[16384 + 1, heads, head_dim]`` of zeros, written by
  ``set_kv_buffer``; ``create_inputs``: random q/k/v rows, positions ``arange(seq_len)`` per sequence and
  distinct cache slots.

A package rather than a ``rotary_embedding.py``: kernelkit reads every ``kernelkit_ops/<folder>/<name>.py`` as
the wrapper of an op ``<name>``.
"""

from __future__ import annotations

import torch

from kernelkit_ops.rope.apply_rope_with_cos_sin_cache_inplace import apply_rope_with_cos_sin_cache_inplace

try:  # sgl-kernel's module re-exports the fused KV-write argument; it exists once the RoPE op takes it
    from kernelkit_ops import FusedSetKVBufferArg  # noqa: F401
except ImportError:
    pass


def _apply_rotary_emb(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, is_neox_style: bool) -> torch.Tensor:
    """x ``[tokens, heads, rotary_dim]`` rotated by cos, sin ``[tokens, rotary_dim / 2]`` (in x's dtype)."""
    cos = cos.unsqueeze(-2).to(x.dtype)
    sin = sin.unsqueeze(-2).to(x.dtype)
    if is_neox_style:  # pairs (i, i + rotary_dim / 2)
        x1, x2 = x.chunk(2, dim=-1)
    else:  # pairs (2i, 2i + 1)
        x1, x2 = x[..., 0::2], x[..., 1::2]
    first = x1 * cos - x2 * sin
    second = x2 * cos + x1 * sin
    if is_neox_style:
        return torch.cat((first, second), dim=-1)
    return torch.stack((first, second), dim=-1).flatten(-2)


class RotaryEmbedding(torch.nn.Module):
    """Rotary position embedding with a precomputed float32 cos/sin cache, and its torch reference forward."""

    def __init__(
        self,
        head_size: int,
        rotary_dim: int,
        max_position_embeddings: int,
        base: int,
        is_neox_style: bool,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        self.head_size = head_size
        self.rotary_dim = rotary_dim
        self.max_position_embeddings = max_position_embeddings
        self.base = base
        self.is_neox_style = is_neox_style
        self.dtype = dtype
        self.cos_sin_cache: torch.Tensor
        self.register_buffer("cos_sin_cache", self._compute_cos_sin_cache(), persistent=False)

    def _compute_inv_freq(self, base: int | float) -> torch.Tensor:
        """``base ** (-2i / rotary_dim)`` for ``i < rotary_dim / 2``, float32."""
        exponents = torch.arange(0, self.rotary_dim, 2, dtype=torch.float) / self.rotary_dim
        return 1.0 / (base**exponents)

    def _compute_cos_sin_cache(self) -> torch.Tensor:
        """``[max_position_embeddings, rotary_dim]`` float32: cos of every position's angles, then their sin."""
        positions = torch.arange(self.max_position_embeddings, dtype=torch.float)
        angles = torch.outer(positions, self._compute_inv_freq(self.base))
        return torch.cat((angles.cos(), angles.sin()), dim=-1)

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, tokens: int) -> torch.Tensor:
        shape = x.shape
        heads = x.view(tokens, -1, self.head_size)
        rotated = _apply_rotary_emb(heads[..., : self.rotary_dim], cos, sin, self.is_neox_style)
        return torch.cat((rotated, heads[..., self.rotary_dim :]), dim=-1).reshape(shape)

    def forward_native(
        self,
        positions: torch.Tensor,
        query: torch.Tensor,
        key: torch.Tensor,
        offsets: torch.Tensor | None = None,
        fused_set_kv_buffer_arg=None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """New ``(query, key)`` rotated in float32 and cast to the module's dtype; the inputs are not modified.

        ``query [T, Hq * head_size]`` and ``key [T, Hk * head_size]`` (or any shape with T rows of whole heads),
        ``positions [T]`` (plus ``offsets``). ``fused_set_kv_buffer_arg`` is accepted and ignored, as in
        sgl-kernel: its tests write the reference pool themselves.
        """
        if offsets is not None:
            positions = positions + offsets
        positions = positions.flatten()
        tokens = positions.shape[0]
        cos, sin = self.cos_sin_cache.index_select(0, positions).chunk(2, dim=-1)
        # float32 throughout: rounding the rotation to bf16 would leave long-context angles far off
        query = self._rotate(query.to(torch.float32), cos, sin, tokens)
        key = self._rotate(key.to(torch.float32), cos, sin, tokens)
        return query.to(self.dtype), key.to(self.dtype)


class FlashInferRotaryEmbedding(RotaryEmbedding):
    """``forward_cuda`` runs ``apply_rope_with_cos_sin_cache_inplace`` (sgl-kernel's FlashInfer-derived RoPE)."""

    def forward_cuda(
        self,
        positions: torch.Tensor,
        query: torch.Tensor,
        key: torch.Tensor,
        offsets: torch.Tensor | None = None,
        fused_set_kv_buffer_arg=None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotates ``query`` and ``key`` in place (and writes k/v into the KV cache with a
        ``fused_set_kv_buffer_arg``); returns them. ``offsets`` are added to ``positions``."""
        if offsets is not None:
            positions = positions + offsets
        # The keyword only when given: a call without one works with every RoPE signature.
        fused = {} if fused_set_kv_buffer_arg is None else {"fused_set_kv_buffer_arg": fused_set_kv_buffer_arg}
        apply_rope_with_cos_sin_cache_inplace(
            positions=positions,
            query=query,
            key=key,
            head_size=self.head_size,
            cos_sin_cache=self.cos_sin_cache,
            is_neox=self.is_neox_style,
            **fused,
        )
        return query, key


class SglKernelRotaryEmbedding(RotaryEmbedding):
    """``forward_cuda`` rotates with the cache rounded to the query's dtype, as sgl-kernel's vLLM-style
    ``rotary_embedding`` op does (its cache is kept in that dtype), here through kernelkit's RoPE."""

    def forward_cuda(
        self,
        positions: torch.Tensor,
        query: torch.Tensor,
        key: torch.Tensor,
        offsets: torch.Tensor | None = None,
        fused_set_kv_buffer_arg=None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotates ``query`` and ``key`` in place and returns them; the module's cache becomes the query's dtype."""
        assert fused_set_kv_buffer_arg is None, "fused_set_kv_buffer_arg is not supported for sgl-kernel implementation"
        if offsets is not None:
            positions = positions + offsets
        if self.cos_sin_cache.dtype != query.dtype:
            self.cos_sin_cache = self.cos_sin_cache.to(query.dtype)
        apply_rope_with_cos_sin_cache_inplace(
            positions, query, key, self.head_size, self.cos_sin_cache.float(), self.is_neox_style
        )
        return query, key


class MHATokenToKVPool:
    """One layer of a paged (page size 1) bf16 KV cache on the GPU, as sglang's pool lays it out."""

    KV_POOL_SIZE = 16384

    def __init__(self, head_num: int, head_dim: int):
        self.head_num = head_num
        self.head_dim = head_dim
        self.size = MHATokenToKVPool.KV_POOL_SIZE
        self.page_size = 1
        self.store_dtype = torch.bfloat16
        self.device = "cuda"
        self.layer_num = 1
        self.start_layer = 0
        self._create_buffers()

    def _create_buffers(self) -> None:
        """Zeroed ``[size + page_size, head_num, head_dim]`` K and V buffers, one per layer."""
        shape = (self.size + self.page_size, self.head_num, self.head_dim)
        self.k_buffer = [torch.zeros(shape, dtype=self.store_dtype, device=self.device) for _ in range(self.layer_num)]
        self.v_buffer = [torch.zeros(shape, dtype=self.store_dtype, device=self.device) for _ in range(self.layer_num)]

    def set_kv_buffer(self, loc: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor) -> None:
        """Store ``cache_k`` / ``cache_v`` ``[T, head_num, head_dim]`` at slots ``loc`` of layer 0."""
        layer = 0 - self.start_layer
        self.k_buffer[layer][loc] = cache_k
        self.v_buffer[layer][loc] = cache_v


def create_inputs(
    head_size: int,
    batch_size: int,
    seq_len: int,
    device,
    dtype: torch.dtype,
    num_q_heads: int,
    num_kv_heads: int,
) -> dict[str, torch.Tensor]:
    """Random inputs of one RoPE + KV-store step: ``pos_ids`` (``arange(seq_len)`` for each of ``batch_size``
    sequences), ``query [T, num_q_heads * head_size]``, ``key`` and ``value [T, num_kv_heads * head_size]``
    (standard normal, ``dtype``) and ``out_cache_loc`` (T distinct int64 slots of the pool), T = batch * seq."""
    tokens = batch_size * seq_len
    pos_ids = torch.arange(seq_len, device=device).repeat(batch_size)
    query = torch.randn(tokens, num_q_heads * head_size, dtype=dtype, device=device)
    key = torch.randn(tokens, num_kv_heads * head_size, dtype=dtype, device=device)
    value = torch.randn(tokens, num_kv_heads * head_size, dtype=dtype, device=device)
    out_cache_loc = torch.randperm(MHATokenToKVPool.KV_POOL_SIZE, dtype=torch.int64, device=device)[:tokens].clone()
    return dict(pos_ids=pos_ids, query=query, key=key, value=value, out_cache_loc=out_cache_loc)
