"""Attention, as PyTorch names it: :func:`scaled_dot_product_attention` and
:class:`MultiheadAttention`.

softmax(Q Kᵀ / √d + M) V: each query's output is a weighted average of the values, weighted by
how well the query matches each key. Its gradient is the chain rule through three familiar
ops: ∇V = Aᵀ ∇O; ∇A = ∇O Vᵀ; through the softmax ∇S = A ⊙ (∇A − Σ_j ∇A ⊙ A) (each row's
softmax Jacobian); then ∇Q = ∇S K / √d and ∇K = ∇Sᵀ Q / √d.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import ShapeError
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.functional import (  # defined there, with the other functional forms
    _additive,
    _as_tensor,
    _check_some_key_open,
)
from chainrule.nn.layers import Linear
from chainrule.nn.module import Module, Parameter
from chainrule.ops.activation import softmax
from chainrule.ops.attention import self_attention
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.reduction import mean
from chainrule.ops.shape import getitem, reshape, swapaxes
from chainrule.tensor import Tensor


class MultiheadAttention(Module):
    """Multi-head attention (PyTorch's ``nn.MultiheadAttention``): the query, key and value
    are projected by ``in_proj_weight`` (3E, E) / ``in_proj_bias`` (3E,) — or by
    ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` when ``kdim``/``vdim`` differ from
    E —, split into ``num_heads`` heads of E / num_heads, attended per head, joined, and
    projected by ``out_proj`` (a Linear E -> E).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)``: query (L, N, E) ((N, L, E) with
    ``batch_first``; (L, E) unbatched), key and value (S, N, kdim / vdim). Masks as PyTorch's
    module takes them: a boolean ``attn_mask`` (L, S) or (N·num_heads, L, S) and
    ``key_padding_mask`` (N, S) are True where attention is NOT allowed; float masks are added.
    Returns (output like query, weights (N, L, S) averaged over heads — (N, num_heads, L, S)
    otherwise — or None without ``need_weights``).

    Raises ``ValueError`` when ``embed_dim`` is not divisible by ``num_heads``;
    :class:`~chainrule.errors.ShapeError` naming the layer for inputs or masks of the wrong
    shape.

    >>> import chainrule as cr
    >>> mha = cr.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> x = cr.randn(3, 5, 8)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    ((3, 5, 8), (3, 5, 5))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                f"({num_heads}), both positive"
            )
        if add_bias_kv or add_zero_attn:
            raise ValueError(
                "MultiheadAttention: add_bias_kv and add_zero_attn are not supported; "
                "leave them False"
            )
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        dtype = backend.get_default_dtype()
        xp = backend.xp
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(xp.empty((3 * embed_dim, embed_dim), dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(xp.empty((embed_dim, embed_dim), dtype))
            self.k_proj_weight = Parameter(xp.empty((embed_dim, self.kdim), dtype))
            self.v_proj_weight = Parameter(xp.empty((embed_dim, self.vdim), dtype))
        if bias:
            self.in_proj_bias = Parameter(xp.empty(3 * embed_dim, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's: Xavier-uniform projections, zero in-projection and output biases."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        q, k, v = (_as_tensor(t) for t in (query, key, value))
        unbatched = q.ndim == 2
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ShapeError(
                f"{self!r} expects query, key and value all (L, N, E) (batch first: (N, L, E)) "
                f"or all unbatched (L, E); got {tuple(q.shape)}, {tuple(k.shape)}, "
                f"{tuple(v.shape)}"
            )
        if unbatched:
            q, k, v = (reshape(t, (t.shape[0], 1, t.shape[1])) for t in (q, k, v))
        elif self.batch_first:
            q, k, v = (swapaxes(t, 0, 1) for t in (q, k, v))
        (length, batch, e), source = q.shape, k.shape[0]
        if e != self.embed_dim or k.shape[2] != self.kdim or v.shape[2] != self.vdim:
            raise ShapeError(
                f"{self!r} expects feature sizes (E, kdim, vdim) = "
                f"({self.embed_dim}, {self.kdim}, {self.vdim}); got query {tuple(q.shape)}, "
                f"key {tuple(k.shape)}, value {tuple(v.shape)} (sequence-first)"
            )
        if k.shape[:2] != v.shape[:2] or k.shape[1] != batch:
            raise ShapeError(
                f"{self!r}: key {tuple(k.shape)} and value {tuple(v.shape)} must share (S, N) "
                f"with N = {batch} from the query (sequence-first)"
            )
        if (
            query is key
            and key is value
            and self._qkv_same_embed_dim
            and not need_weights
            and not (self.dropout > 0.0 and self.training)
        ):
            return self._fused(q, attn_mask, key_padding_mask, is_causal, unbatched), None
        qp, kp, vp = self._project(q, k, v)
        h, d = self.num_heads, self.head_dim
        # (L, N, E) -> (N, h, L, d)
        qh, kh, vh = (swapaxes(reshape(t, (t.shape[0], batch * h, d)), 0, 1) for t in (qp, kp, vp))
        qh, kh, vh = (reshape(t, (batch, h, t.shape[1], d)) for t in (qh, kh, vh))
        scores = matmul(qh, swapaxes(kh, -2, -1)) * (1.0 / math.sqrt(d))
        mask = self._mask(
            attn_mask, key_padding_mask, is_causal, batch, length, source, scores.dtype
        )
        if mask is not None:
            scores = scores + mask
        weights = softmax(scores, axis=-1)
        if self.dropout > 0.0 and self.training:
            weights = F.dropout(weights, self.dropout, True)
        out = matmul(weights, vh)  # (N, h, L, d)
        out = reshape(swapaxes(reshape(out, (batch * h, length, d)), 0, 1), (length, batch, e))
        out = self.out_proj(out)
        if unbatched:
            out = reshape(out, (length, e))
        elif self.batch_first:
            out = swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = mean(weights, axis=1)
        if unbatched:
            weights = getitem(weights, 0)
        return out, weights

    def _fused(
        self, q: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool, unbatched: bool
    ) -> Tensor:
        """Self-attention without weights returned: one packed projection (``in_proj``) and
        one :func:`~chainrule.ops.attention.self_attention` node, batch-first inside; q is
        (L, N, E)."""
        length, batch, e = q.shape
        mask = self._mask(attn_mask, key_padding_mask, is_causal, batch, length, length,
                          q.dtype)  # fmt: skip
        qkv = linear(swapaxes(q, 0, 1), self.in_proj_weight, self.in_proj_bias)
        heads = self_attention(qkv, self.num_heads, mask=mask)
        out = self.out_proj(getitem(heads, (..., slice(0, e))))  # (N, L, E)
        if unbatched:
            return reshape(out, (length, e))
        return out if self.batch_first else swapaxes(out, 0, 1)

    def _project(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (
            getitem(b, slice(0, e)), getitem(b, slice(e, 2 * e)), getitem(b, slice(2 * e, None))
        )  # fmt: skip
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = (getitem(w, slice(i * e, (i + 1) * e)) for i in range(3))
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return linear(q, wq, bq), linear(k, wk, bk), linear(v, wv, bv)

    def _mask(
        self, attn_mask: Any, key_padding_mask: Any, is_causal: bool, batch: int, length: int,
        source: int, dtype: Any,
    ) -> Any:  # fmt: skip
        """One additive mask in ``dtype``, (N, h, L, S)-broadcastable, from attn_mask and
        key_padding_mask."""
        h = self.num_heads
        shape = (batch, h, length, source)
        total = None
        if attn_mask is None and is_causal:
            attn_mask = ~np.tril(np.ones((length, source), dtype=bool))
        if attn_mask is not None:
            m = _additive(repr(self), attn_mask, (length, source), shape, dtype, keep_true=False)
            if m.ndim == 3:
                if m.shape[0] != batch * h:
                    raise ShapeError(
                        f"{self!r}: a 3-D attn_mask must be (N·num_heads, L, S) = "
                        f"({batch * h}, {length}, {source}), got {tuple(m.shape)}"
                    )
                m = m.reshape(batch, h, length, source)
            elif m.ndim != 2:
                raise ShapeError(
                    f"{self!r}: attn_mask must be (L, S) = ({length}, {source}) or "
                    f"(N·num_heads, L, S), got {tuple(m.shape)}"
                )
            total = m
        if key_padding_mask is not None:
            kpm = (
                key_padding_mask.data
                if isinstance(key_padding_mask, Tensor)
                else backend.xp.asarray(key_padding_mask)
            )
            if kpm.ndim == 1 and batch == 1:
                kpm = kpm[None]
            if tuple(kpm.shape) != (batch, source):
                raise ShapeError(
                    f"{self!r}: key_padding_mask must be (N, S) = ({batch}, {source}), got "
                    f"{tuple(kpm.shape)}"
                )
            if kpm.dtype == bool:
                kpm = backend.xp.where(kpm, -np.inf, 0.0)
            kpm = kpm.astype(dtype)[:, None, None, :]
            total = kpm if total is None else total + kpm
        if total is not None:
            _check_some_key_open(repr(self), total)
        return total

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
