"""Transformer layers with PyTorch's names, arguments and state_dict keys:
``TransformerEncoderLayer``, ``TransformerEncoder``, ``TransformerDecoderLayer``,
``TransformerDecoder``, and a sinusoidal ``PositionalEncoding``.

Each sub-layer is wrapped in a residual arrow (the seeds' arrows that skip layers:
x + f(x), whose gradient is the sum of the skip path and the path through f) and a LayerNorm,
after it (``norm_first=False``, the original paper) or before it (``norm_first=True``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import ShapeError
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.container import ModuleList
from chainrule.nn.layers import Dropout, Linear
from chainrule.nn.module import Module
from chainrule.nn.normalization import LayerNorm
from chainrule.ops.activation import gelu, relu
from chainrule.ops.linalg import linear
from chainrule.ops.shape import getitem
from chainrule.tensor import Tensor

_ACTIVATIONS: dict[str, Callable] = {"relu": relu, "gelu": gelu}


def _activation(name: str | Callable) -> Callable:
    if callable(name):
        return name
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation should be 'relu' or 'gelu' (or a callable), not {name!r}")
    return _ACTIVATIONS[name]


def _is_relu(fn: Any) -> bool:
    """Whether ``fn`` is the relu primitive (or a deep copy of it, as TransformerEncoder's
    copies of a layer hold)."""
    return getattr(fn, "forward", None) is relu.forward


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: PyTorch's constructor, which builds
    self-attention (and, in a decoder, attention to the encoder's output, ``multihead_attn``),
    the feed-forward block and a LayerNorm and a dropout per sub-layer, in PyTorch's order
    (so state_dict keys and their order match); and the self-attention and feed-forward
    sub-layers."""

    _sublayers = 2  # self-attention, feed-forward; a decoder adds cross-attention

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        for name in ("self_attn", "multihead_attn")[: self._sublayers - 1]:
            attn = MultiheadAttention(
                d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first
            )
            setattr(self, name, attn)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        for i in range(1, self._sublayers + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        for i in range(1, self._sublayers + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation)

    def _sa(self, x: Tensor, mask: Any, padding: Any, is_causal: bool) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding,
                                need_weights=False, is_causal=is_causal)  # fmt: skip
        return self.dropout1(out)

    def _ff(self, x: Tensor) -> Tensor:  # the last sub-layer: its dropout is the last one
        last_dropout = getattr(self, f"dropout{self._sublayers}")
        first = self.linear1
        hooked = first._forward_hooks or first._forward_pre_hooks
        if _is_relu(self.activation) and type(first) is Linear and not hooked:
            hidden = linear(x, first.weight, first.bias, activation="relu")  # one fused node
        else:
            hidden = self.activation(first(x))
        return last_dropout(self.linear2(self.dropout(hidden)))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then a feed-forward block (``linear1`` d_model -> dim_feedforward,
    activation, ``linear2`` back), each with dropout, a residual arrow and a LayerNorm.
    Input (S, N, E) ((N, S, E) with ``batch_first``), output the same.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: masks as
    :class:`~chainrule.nn.MultiheadAttention` takes them.

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    >>> layer(cr.randn(3, 5, 8)).shape
    (3, 5, 8)
    """

    def forward(
        self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
        is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff(x))


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention over the target, attention to the encoder's output (``memory``), then a
    feed-forward block; each with dropout, a residual arrow and a LayerNorm (``norm1``,
    ``norm2``, ``norm3``). tgt (T, N, E), memory (S, N, E) (batch first if asked) -> like tgt.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.
    """

    _sublayers = 3

    def forward(
        self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
        tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
        tgt_is_causal: bool = False, memory_is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        x = tgt
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                              memory_is_causal)  # fmt: skip
            return x + self._ff(self.norm3(x))
        x = self.norm1(x + self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha(x, memory, memory_mask, memory_key_padding_mask,
                                     memory_is_causal))  # fmt: skip
        return self.norm3(x + self._ff(x))

    def _mha(self, x: Tensor, mem: Tensor, mask: Any, padding: Any, is_causal: bool) -> Tensor:
        out, _ = self.multihead_attn(x, mem, mem, attn_mask=mask, key_padding_mask=padding,
                                     need_weights=False, is_causal=is_causal)  # fmt: skip
        return self.dropout2(out)


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...), then an
    optional final ``norm``. ``forward(src, mask=None, src_key_padding_mask=None,
    is_causal=None)``."""

    def __init__(
        self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
        enable_nested_tensor: bool = True, mask_check: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:  # fmt: skip
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))  # fmt: skip
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer``, then an optional final ``norm``."""

    def __init__(self, decoder_layer: Module, num_layers: int,
                 norm: Module | None = None) -> None:  # fmt: skip
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None,
                memory_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:  # fmt: skip
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, bool(tgt_is_causal), memory_is_causal)  # fmt: skip
        return self.norm(x) if self.norm is not None else x


class PositionalEncoding(Module):
    """Adds the sinusoidal position code of "Attention Is All You Need" and applies dropout:
    PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).

    Input (S, N, d_model) ((N, S, d_model) with ``batch_first``), output the same; the code is
    a non-persistent buffer ``pe`` of (max_len, d_model).

    Raises :class:`~chainrule.errors.ShapeError` for a last axis other than ``d_model`` or a
    sequence longer than ``max_len``.
    """

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000,
                 batch_first: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.batch_first = batch_first
        self.dropout = Dropout(dropout)
        pos = np.arange(max_len)[:, None]
        freq = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(pos * freq)
        pe[:, 1::2] = np.cos(pos * freq[: d_model // 2])
        dtype = backend.get_default_dtype()
        self.register_buffer("pe", Tensor._make(backend.xp.asarray(pe, dtype=dtype)),
                             persistent=False)  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        axis = 1 if self.batch_first else 0
        if x.ndim != 3 or x.shape[-1] != self.d_model or x.shape[axis] > self.max_len:
            raise ShapeError(
                f"{self!r} expects ({'N, S' if self.batch_first else 'S, N'}, {self.d_model}) "
                f"with S <= {self.max_len}, got shape {tuple(x.shape)}"
            )
        pe = getitem(self.pe, slice(0, x.shape[axis]))
        pe = pe.reshape(1, *pe.shape) if self.batch_first else pe.reshape(pe.shape[0], 1, -1)
        return self.dropout(x + pe.astype(x.dtype))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"
