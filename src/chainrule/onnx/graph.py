"""The graph under construction: its nodes and initializers, and the walk that adds each
layer's nodes (activations from :mod:`chainrule.nn.activations`, the spatial layers from
:mod:`chainrule.onnx.spatial`, the sequence layers from :mod:`chainrule.onnx.sequence`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from chainrule.errors import ExportError, ShapeError
from chainrule.nn import (
    GRU,
    LSTM,
    RNN,
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    LogSoftmax,
    Module,
    MultiheadAttention,
    PositionalEncoding,
    Residual,
    Sequential,
    Softmax,
    TransformerEncoder,
    TransformerEncoderLayer,
    activations,
)
from chainrule.nn.recurrent import RNNBase
from chainrule.onnx.sequence import _SequenceLayers
from chainrule.onnx.spatial import _SPATIAL, _spatial
from chainrule.tensor import Tensor
from chainrule.train.models import SequenceModel

DEFAULT_OPSET = 17
"""The opset ``export`` writes unless told otherwise (17 to 21 are all accepted)."""

_ACTIVATION_KINDS = tuple(a.module for a in activations.ACTIVATIONS.values())

SUPPORTED_LAYERS: tuple[type[Module], ...] = (
    Linear, *_ACTIVATION_KINDS, Softmax, LogSoftmax, Dropout, LayerNorm, BatchNorm1d, Flatten,
    Residual, Sequential,
    *_SPATIAL, BatchNorm2d, Dropout1d, Dropout2d,
    RNN, LSTM, GRU, MultiheadAttention, TransformerEncoderLayer, TransformerEncoder,
    PositionalEncoding, SequenceModel,
)  # fmt: skip
"""The layer classes :func:`export` knows (subclasses are refused: their forward may differ)."""


def _call(model: Module, x: Tensor) -> Any:
    """``model(x)``; self-attention ``model(x, x, x)`` for a MultiheadAttention."""
    return model(x, x, x) if type(model) is MultiheadAttention else model(x)


def _flat(value: Any) -> tuple[Tensor, ...]:
    """A layer's result as a flat tuple of tensors (an LSTM's (out, (h, c)) -> (out, h, c))."""
    if isinstance(value, Tensor):
        return (value,)
    return tuple(t for v in value if v is not None for t in _flat(v))


class _Graph(_SequenceLayers):
    """The nodes and initializers of the graph under construction."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.opset = DEFAULT_OPSET
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: set[str] = set()

    # ------------------------------------------------------------------ building blocks
    def const(self, name: str, value: Any, dtype: Any = None) -> str:
        """Add an initializer (in the graph's dtype unless given); returns its name."""
        name = self._unique(name)
        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: Sequence[str], where: str, **attrs: Any) -> str:
        """Add a node with one output; returns the output's name."""
        name = self._unique(f"{where}/{op}")
        out = self._unique(f"{name}_output")
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=name, **attrs))
        return out

    def _unique(self, name: str) -> str:
        base, k = name, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def standardize(self, x: str, value: Tensor, mean: Any, scale: Any) -> tuple[str, Tensor]:
        """``(x - mean) / scale`` in front of the model."""
        m = np.asarray(mean, dtype=self.dtype)
        s = np.asarray(scale, dtype=self.dtype)
        out = self.node("Sub", [x, self.const("standardize.mean", m)], "/standardize")
        out = self.node("Div", [out, self.const("standardize.scale", s)], "/standardize")
        return out, Tensor((value.data - m) / s)

    # ------------------------------------------------------------------ layers
    def emit(self, m: Module, path: str, x: str, value: Tensor) -> tuple[str, Tensor]:
        """Add ``m`` applied to graph value ``x`` (whose chainrule value is ``value``);
        returns the output's name and chainrule value."""
        where = "/" + path.replace(".", "/") if path else "/model"
        prefix = f"{path}." if path else ""
        kind = type(m)
        if kind not in SUPPORTED_LAYERS:
            names = ", ".join(c.__name__ for c in SUPPORTED_LAYERS)
            raise ExportError(
                f"cannot export layer {path or '(the model)'!r} of type {kind.__name__}: "
                f"ONNX export supports {names}"
            )
        if kind is Sequential:
            for name, child in m._modules.items():
                x, value = self.emit(child, prefix + name, x, value)
            return x, value
        if kind is Residual:
            y, out = self.emit(m.module, prefix + "module", x, value)
            if tuple(out.shape) != tuple(value.shape):
                raise ShapeError(
                    f"cannot export {path or 'the model'}: the residual block maps shape "
                    f"{tuple(value.shape)} to {tuple(out.shape)}"
                )
            return self.node("Add", [x, y], where), value + out
        if kind in (Dropout, Dropout1d, Dropout2d, Identity):
            return x, m(value)
        if isinstance(m, RNNBase):
            return self._recurrent(m, prefix, where, x), _flat(m(value))
        if kind is MultiheadAttention:
            names = self._attention(m, prefix, where, x, need_weights=True)
            return names, _flat(_call(m, value))
        if kind is TransformerEncoderLayer:
            return self._encoder_layer(m, prefix, where, x), m(value)
        if kind is TransformerEncoder:
            y = x
            for i, layer in enumerate(m.layers):
                y = self._encoder_layer(layer, f"{prefix}layers.{i}.", f"{where}/layers/{i}", y)
            if m.norm is not None:
                y, _ = self.emit(m.norm, prefix + "norm", y, value)
            return y, m(value)
        if kind is SequenceModel:
            return self._sequence_model(m, prefix, where, x, value), m(value)
        if kind is PositionalEncoding:
            axis = 1 if m.batch_first else 0
            pe = np.asarray(m.pe.data[: value.shape[axis]])
            pe = pe[None] if m.batch_first else pe[:, None]
            return self.node("Add", [x, self.const(prefix + "pe", pe)], where), m(value)
        y = self._layer(m, kind, prefix, where, x, value)  # refuses settings with no export
        return y, m(value)

    def _linear(self, m: Linear, prefix: str, where: str, x: str, ndim: int) -> str:
        """``Gemm`` for (N, in) input, ``MatMul`` (+ ``Add``) for more axes."""
        bias = [] if m.bias is None else [self.const(prefix + "bias", m.bias.data)]
        if ndim == 2:
            w = self.const(prefix + "weight", m.weight.data)
            return self.node("Gemm", [x, w, *bias], where, transB=1)
        wt = self.const(prefix + "weight_t", m.weight.data.T)  # (in, out) for MatMul
        y = self.node("MatMul", [x, wt], where)
        return self.node("Add", [y, *bias], where) if bias else y

    def _layer(self, m: Any, kind: type, prefix: str, where: str, x: str, value: Tensor) -> str:
        if kind is Linear:
            return self._linear(m, prefix, where, x, value.ndim)
        if kind in _ACTIVATION_KINDS:
            return activations.of(kind).onnx(self, m, x, where)
        if kind in (Softmax, LogSoftmax):
            if m.dim is None:
                raise ExportError(
                    f"cannot export {where[1:]!r}: {kind.__name__}(dim=None) picks its axis "
                    "implicitly; give dim"
                )
            return self.node(kind.__name__, [x], where, axis=int(m.dim))
        if kind is LayerNorm:
            shape = m.normalized_shape
            scale = m.weight.data if m.weight is not None else np.ones(shape)
            inputs = [x, self.const(prefix + "weight", scale)]
            if m.bias is not None:
                inputs.append(self.const(prefix + "bias", m.bias.data))
            return self.node(
                "LayerNormalization", inputs, where, axis=-len(shape), epsilon=float(m.eps)
            )
        if kind in _SPATIAL:
            return _spatial(self, m, kind, prefix, where, x, value)
        if kind in (BatchNorm1d, BatchNorm2d):
            if m.running_mean is None or m.running_var is None:
                raise ExportError(
                    f"cannot export {where[1:]!r}: {kind.__name__}(track_running_stats=False) "
                    "normalises with each batch's statistics even in eval mode"
                )
            c = m.num_features
            scale = m.weight.data if m.weight is not None else np.ones(c)
            bias = m.bias.data if m.bias is not None else np.zeros(c)
            inputs = [
                x,
                self.const(prefix + "weight", scale),
                self.const(prefix + "bias", bias),
                self.const(prefix + "running_mean", m.running_mean.data),
                self.const(prefix + "running_var", m.running_var.data),
            ]
            return self.node("BatchNormalization", inputs, where, epsilon=float(m.eps))
        # Flatten: ONNX's Flatten when it merges everything after the batch axis; otherwise a
        # Reshape that copies the axes before start_dim (0), merges up to end_dim (-1) and
        # keeps the axes after it from the example
        n = value.ndim
        s, e = m.start_dim % n, m.end_dim % n
        if s == 1 and e == n - 1:
            return self.node("Flatten", [x], where, axis=1)
        shape = [0] * s + [-1] + list(value.shape[e + 1 :])
        return self.node("Reshape", [x, self.const(prefix + "shape", shape, np.int64)], where)

    def multi(self, op: str, inputs: Sequence[str], where: str, n: int, **attrs: Any) -> list[str]:
        """Add a node with ``n`` outputs; returns their names."""
        name = self._unique(f"{where}/{op}")
        outs = [self._unique(f"{name}_output_{i}") for i in range(n)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs
