"""The sequence layers' export: ONNX's own ``RNN``, ``LSTM`` and ``GRU``, self-attention,
the Transformer encoder and ``SequenceModel``, as methods of the export graph."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd import Primitive
from chainrule.errors import ExportError
from chainrule.nn import (
    LayerNorm,
    MultiheadAttention,
    TransformerEncoderLayer,
    activations,
)
from chainrule.nn.recurrent import RNNBase
from chainrule.tensor import Tensor
from chainrule.train.models import SequenceModel

_ONNX_GATES = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}
"""Where ONNX's gate blocks come from in PyTorch's: LSTM i, o, f, c from i, f, g, o; GRU
z, r, h from r, z, n."""


def _gates(w: Any, order: Sequence[int]) -> np.ndarray:
    """The gate blocks of a stacked (G·H, ...) weight or (G·H,) bias in ``order``."""
    w = np.asarray(w)
    blocks = w.reshape(len(order) if len(order) > 1 else 1, -1, *w.shape[1:])
    return blocks[list(order)].reshape(w.shape)


class _SequenceLayers:
    """The sequence layers' part of :class:`~chainrule.onnx.graph._Graph` (a mixin: ``node``,
    ``const``, ``emit`` and the other layers live there)."""

    def _recurrent(self, m: RNNBase, prefix: str, where: str, x: str) -> tuple[str, ...]:
        """ONNX's RNN / LSTM / GRU, one node per layer (both directions in it); returns the
        names of (output, h_n) or (output, h_n, c_n), laid out as chainrule's."""
        d, n = m._dirs, m.hidden_size
        op = {"LSTM": "LSTM", "GRU": "GRU"}.get(m.mode, "RNN")
        order = _ONNX_GATES.get(m.mode, [0])
        seq = self.node("Transpose", [x], where, perm=[1, 0, 2]) if m.batch_first else x
        hs: list[str] = []
        cs: list[str] = []
        for layer in range(m.num_layers):
            ws, rs, bs = [], [], []
            for suffix in m._suffixes():
                w_ih, w_hh, b_ih, b_hh = m._weights(layer, suffix)
                ws.append(_gates(w_ih.data, order))
                rs.append(_gates(w_hh.data, order))
                if b_ih is not None:
                    bs.append(np.concatenate([_gates(b_ih.data, order), _gates(b_hh.data, order)]))
            tag = f"{prefix}l{layer}"
            inputs = [
                seq,
                self.const(f"{tag}.W", np.stack(ws)),
                self.const(f"{tag}.R", np.stack(rs)),
            ]
            if bs:
                inputs.append(self.const(f"{tag}.B", np.stack(bs)))
            attrs: dict[str, Any] = {
                "hidden_size": n, "direction": "bidirectional" if d == 2 else "forward",
            }  # fmt: skip
            if op == "RNN":
                attrs["activations"] = ["Relu" if m.mode == "RNN_RELU" else "Tanh"] * d
            if op == "GRU":
                attrs["linear_before_reset"] = 1  # PyTorch's n = tanh(x_n + r ⊙ (h W_hnᵀ + b_hn))
            at = f"{where}/l{layer}"
            outs = self.multi(op, inputs, at, 3 if op == "LSTM" else 2, **attrs)
            y = self.node("Transpose", [outs[0]], at, perm=[0, 2, 1, 3])  # (L, N, D, H)
            shape = self.const(f"{tag}.shape", [0, 0, d * n], np.int64)
            seq = self.node("Reshape", [y, shape], at)  # (L, N, D·H), the next layer's input
            hs.append(outs[1])
            cs.extend(outs[2:])
        out = self.node("Transpose", [seq], where, perm=[1, 0, 2]) if m.batch_first else seq
        states = [hs] + ([cs] if cs else [])
        joined = [s[0] if len(s) == 1 else self.node("Concat", s, where, axis=0) for s in states]
        return (out, *joined)

    def _attention(
        self, m: MultiheadAttention, prefix: str, where: str, x: str, need_weights: bool
    ) -> tuple[str, ...]:
        """Self-attention m(x, x, x) without masks: the output's name (and the weights',
        averaged over the heads, with ``need_weights``)."""
        e, h, d = m.embed_dim, m.num_heads, m.head_dim
        if m.kdim != e or m.vdim != e:
            raise ExportError(
                f"cannot export {where[1:]!r}: self-attention needs kdim = vdim = embed_dim, "
                f"got {m.kdim}, {m.vdim} and {e}"
            )
        if not m.batch_first:
            x = self.node("Transpose", [x], where, perm=[1, 0, 2])  # (N, L, E)
        if m._qkv_same_embed_dim:
            ws = np.split(np.asarray(m.in_proj_weight.data), 3)
        else:
            ws = [np.asarray(w.data) for w in (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)]
        bs = [None] * 3 if m.in_proj_bias is None else np.split(np.asarray(m.in_proj_bias.data), 3)
        split = self.const(f"{prefix}heads_shape", [0, 0, h, d], np.int64)
        heads = []  # q, v (N, h, L, d) and kᵀ (N, h, d, S)
        for tag, w, b, perm in zip("qkv", ws, bs, ([0, 2, 1, 3], [0, 2, 3, 1], [0, 2, 1, 3])):
            t = self.node("MatMul", [x, self.const(f"{prefix}{tag}_proj_weight_t", w.T)], where)
            if b is not None:
                t = self.node("Add", [t, self.const(f"{prefix}{tag}_proj_bias", b)], where)
            t = self.node("Reshape", [t, split], where)
            heads.append(self.node("Transpose", [t], where, perm=perm))
        q, kt, v = heads
        scores = self.node("MatMul", [q, kt], where)
        scores = self.node("Mul", [scores, self.const(f"{prefix}scale", 1.0 / math.sqrt(d))], where)
        weights = self.node("Softmax", [scores], where, axis=-1)
        out = self.node("Transpose", [self.node("MatMul", [weights, v], where)], where,
                        perm=[0, 2, 1, 3])  # fmt: skip
        out = self.node("Reshape", [out, self.const(f"{prefix}join_shape", [0, 0, e], np.int64)],
                        where)  # fmt: skip
        out = self._linear(m.out_proj, prefix + "out_proj.", where + "/out_proj", out, 3)
        if not m.batch_first:
            out = self.node("Transpose", [out], where, perm=[1, 0, 2])
        if not need_weights:
            return (out,)
        axes = self.const(f"{prefix}head_axis", [1], np.int64)
        total = self.node("ReduceSum", [weights, axes], where, keepdims=0)
        return out, self.node("Mul", [total, self.const(f"{prefix}per_head", 1.0 / h)], where)

    def _sequence_model(
        self, m: SequenceModel, prefix: str, where: str, x: str, value: Tensor
    ) -> str:
        """Rows to (N, S, F) steps, the encoder (its first output), Flatten, the head."""
        shape = self.const(f"{prefix}input_shape", [0, *m.input_shape], np.int64)
        y = self.node("Reshape", [x, shape], where)
        if m.input_shape[0] > 1:  # channels last
            rank = len(m.input_shape) + 1
            y = self.node("Transpose", [y], where, perm=[0, *range(2, rank), 1])
        steps = self.const(f"{prefix}steps_shape", [0, m.steps, m.features], np.int64)
        y = self.node("Reshape", [y, steps], where)
        n = value.shape[0]
        inner = Tensor(np.zeros((n, m.steps, m.features), dtype=self.dtype))
        y, out = self.emit(m.encoder, prefix + "encoder", y, inner)
        if isinstance(y, tuple):
            y, out = y[0], out[0]
        y = self.node("Flatten", [y], where, axis=1)
        return self._linear(m.head, prefix + "head.", f"{where}/head", y, 2)

    def _encoder_layer(self, m: TransformerEncoderLayer, prefix: str, where: str, x: str) -> str:
        """Self-attention and the feed-forward block, each with its residual Add and
        LayerNormalization (before the block with ``norm_first``, after the Add otherwise)."""
        # by name: TransformerEncoder deep-copies its layer, and with it the primitive
        act = getattr(m.activation, "name", None) if isinstance(m.activation, Primitive) else None
        if act not in ("relu", "gelu"):
            raise ExportError(
                f"cannot export {where[1:]!r}: its activation {m.activation!r} has no export; "
                "use 'relu' or 'gelu'"
            )

        def norm(layer: LayerNorm, name: str, y: str) -> str:
            return self._layer(layer, LayerNorm, f"{prefix}{name}.", f"{where}/{name}", y, None)

        def attend(y: str) -> str:
            return self._attention(m.self_attn, f"{prefix}self_attn.", f"{where}/self_attn", y,
                                   need_weights=False)[0]  # fmt: skip

        def feed_forward(y: str) -> str:
            y = self._linear(m.linear1, f"{prefix}linear1.", f"{where}/linear1", y, 3)
            unit = activations.get(act)
            y = unit.onnx(self, unit.module(), y, f"{where}/activation")
            return self._linear(m.linear2, f"{prefix}linear2.", f"{where}/linear2", y, 3)

        if m.norm_first:
            x = self.node("Add", [x, attend(norm(m.norm1, "norm1", x))], where)
            return self.node("Add", [x, feed_forward(norm(m.norm2, "norm2", x))], where)
        x = norm(m.norm1, "norm1", self.node("Add", [x, attend(x)], where))
        return norm(m.norm2, "norm2", self.node("Add", [x, feed_forward(x)], where))
