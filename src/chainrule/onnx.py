"""Floor 6: export a chainrule model to ONNX, ``cr.onnx.export(model, example_input, path)``.

The graph is built with the ``onnx`` package's helpers, one ONNX node (or a few) per layer,
walking the model the way its ``forward`` runs: ``Sequential`` in order, ``Residual`` as
``x + block(x)``. Layers that have an export:

=====================================  ==================================================
``Linear``                             ``Gemm`` (2-D input) or ``MatMul`` + ``Add``
``ReLU``, ``Sigmoid``, ``Tanh``         ``Relu``, ``Sigmoid``, ``Tanh``
``LeakyReLU``, ``ELU``                 ``LeakyRelu``, ``Elu`` (with their ``alpha``)
``GELU``                               ``x Φ(x)`` from ``Erf`` (or the tanh formula)
``Softplus``                           ``Softplus`` of ``beta x`` / ``beta``, and ``x`` past
                                       ``threshold``, as chainrule computes it
``Softmax``, ``LogSoftmax``            ``Softmax``, ``LogSoftmax`` on their ``dim``
``LayerNorm``                          ``LayerNormalization``
``BatchNorm1d`` (running statistics)   ``BatchNormalization`` (inference form)
``Flatten``, ``Unflatten``             ``Flatten`` or ``Reshape``
``Conv1d``, ``Conv2d``                 ``Conv`` (after a ``Pad`` for reflect / replicate /
                                       circular ``padding_mode``)
``ConvTranspose1d``, ``ConvTranspose2d`` ``ConvTranspose``
``MaxPool1d/2d``, ``AvgPool1d/2d``     ``MaxPool``, ``AveragePool``
``AdaptiveAvgPool/MaxPool1d/2d``       ``GlobalAveragePool`` / ``GlobalMaxPool`` (output 1),
                                       else a pool whose windows tile the input
``BatchNorm2d``                        ``BatchNormalization`` (inference form)
``InstanceNorm1d/2d``, ``GroupNorm``   ``InstanceNormalization`` (GroupNorm: over a reshape
                                       to (N, groups, -1), then its per-channel affine)
``Upsample``                           ``Resize`` (nearest: floor of asymmetric positions;
                                       bilinear: half_pixel or align_corners)
``Dropout``, ``Dropout1d/2d``,         nothing (the export is of the model in eval mode)
``Identity``
``Sequential``, ``Residual``           their layers, in order; ``Add`` for the skip
``RNN``, ``LSTM``, ``GRU``             ONNX's own ``RNN``, ``LSTM``, ``GRU``, one per layer
                                       (gates reordered: ONNX's LSTM is i, o, f, c where
                                       PyTorch's is i, f, g, o; its GRU z, r, h where
                                       PyTorch's is r, z, n, with ``linear_before_reset=1``);
                                       outputs ``output`` and ``h_n`` (and ``c_n``)
``MultiheadAttention``                 self-attention ``mha(x, x, x)``: ``MatMul``,
                                       ``Softmax``, ``Transpose``, ``Reshape``; outputs
                                       ``output`` and ``attn_weights``
``TransformerEncoderLayer``,           the same attention, ``LayerNormalization``, the
``TransformerEncoder``                 feed-forward ``MatMul``s and the residual ``Add``s
``PositionalEncoding``                 ``Add`` of the sinusoid rows the example uses
``SequenceModel`` (``train --model``)  ``Reshape``/``Transpose`` to steps, its encoder,
                                       ``Flatten``, its head
=====================================  ==================================================

Anything else raises :class:`~chainrule.errors.ExportError` naming the layer (its path in
the model and its class). Sequence layers are exported as their ``forward`` runs with the
input alone: zero initial states, no masks or padding (a Transformer's ``activation`` must be
``"relu"`` or ``"gelu"``); the graph keeps the example's sequence length, and the batch axis
(axis 1 of a layer without ``batch_first``) is dynamic. onnxruntime runs the recurrent ops in
float32 only (a float64 graph is valid ONNX, but it has no double kernels for them).

A float64 graph spells ``LeakyReLU``, ``ELU`` and ``Softplus`` out in elementary ops (their
ONNX attributes are float32, and onnxruntime has no double kernels for them); its ``GELU``
keeps ``Erf``, valid ONNX that onnxruntime's CPU provider runs in float32 only. The batch
dimension is dynamic (named ``"batch"``); the other dimensions are those of ``example_input``.
Initializers carry the ``state_dict`` names (``"0.weight"``, ...). The default opset, 17, is
the first with ``LayerNormalization`` and runs on any onnxruntime since 1.12.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from chainrule._atomic import atomic_write_bytes
from chainrule.autograd import Primitive, no_grad
from chainrule.errors import ExportError, ShapeError
from chainrule.nn import (
    GRU,
    LSTM,
    RNN,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    ConvTranspose2d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Flatten,
    GroupNorm,
    Identity,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
    Linear,
    LogSoftmax,
    MaxPool1d,
    MaxPool2d,
    Module,
    MultiheadAttention,
    PositionalEncoding,
    Residual,
    Sequential,
    Softmax,
    TransformerEncoder,
    TransformerEncoderLayer,
    Unflatten,
    Upsample,
    activations,
)
from chainrule.nn.recurrent import RNNBase
from chainrule.tensor import Tensor
from chainrule.train.models import SequenceModel

__all__ = ["DEFAULT_OPSET", "SUPPORTED_LAYERS", "export"]

DEFAULT_OPSET = 17
"""The opset ``export`` writes unless told otherwise (17 to 21 are all accepted)."""

_ACTIVATION_KINDS = tuple(a.module for a in activations.ACTIVATIONS.values())

SUPPORTED_LAYERS: tuple[type[Module], ...] = (
    Linear, *_ACTIVATION_KINDS, Softmax, LogSoftmax, Dropout, LayerNorm, BatchNorm1d, Flatten,
    Residual, Sequential,
    Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, MaxPool1d, MaxPool2d, AvgPool1d,
    AvgPool2d, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
    BatchNorm2d, InstanceNorm1d, InstanceNorm2d, GroupNorm, Unflatten, Upsample, Dropout1d,
    Dropout2d,
    RNN, LSTM, GRU, MultiheadAttention, TransformerEncoderLayer, TransformerEncoder,
    PositionalEncoding, SequenceModel,
)  # fmt: skip
"""The layer classes :func:`export` knows (subclasses are refused: their forward may differ)."""

_ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


def export(
    model: Module,
    example_input: Any,
    path: str | os.PathLike | None,
    *,
    input_name: str = "input",
    output_name: str = "output",
    opset_version: int = DEFAULT_OPSET,
    standardize: tuple[Any, Any] | None = None,
) -> onnx.ModelProto:
    """Write ``model`` as an ONNX file at ``path`` (``None``: only return it); returns the
    ``onnx.ModelProto``, checked with ``onnx.checker.check_model(full_check=True)``.

    ``example_input`` (a tensor or array, batch first, float32 or float64) fixes the
    non-batch dimensions and the element type; the batch dimension is dynamic. The model is
    run on it in eval mode (its mode is restored after), which also gives the exported
    graph's output shape. Weights are stored in the example's dtype. ``standardize``
    ``(mean, scale)``, each broadcasting against one input row, puts ``(x - mean) / scale``
    in front of the model, so that the graph takes raw features.

    Raises :class:`~chainrule.errors.ExportError` naming the first layer without an export
    (or with settings that have none: ``Softmax(dim=None)``, ``BatchNorm1d`` without running
    statistics), ``ValueError`` for an example that is not float32/float64 with a batch
    axis or an opset outside 17..21, and whatever the model raises on the example.

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
    >>> proto = export(net, cr.randn(2, 4), None)
    >>> [n.op_type for n in proto.graph.node]
    ['Gemm', 'Relu', 'Gemm']
    >>> proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    'batch'
    """
    x = example_input if isinstance(example_input, Tensor) else Tensor(np.asarray(example_input))
    dtype = np.dtype(x.dtype)
    if dtype not in _ONNX_TYPES:
        raise ValueError(f"export: the example input must be float32 or float64, got {dtype}")
    if x.ndim < 1:
        raise ValueError("export: the example input needs a batch axis (shape (N, ...))")
    if not 17 <= opset_version <= 21:
        raise ValueError(f"export: opset_version must be in 17..21, got {opset_version}")
    batch_axis = _batch_axis(model)
    if x.ndim < 3 and batch_axis == 1:
        raise ValueError(
            f"export: {type(model).__name__} without batch_first takes (L, N, ...) input; the "
            f"example's shape {tuple(x.shape)} has no batch axis"
        )
    graph = _Graph(dtype)
    graph.opset = opset_version
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            name, value = input_name, x
            if standardize is not None:
                name, value = graph.standardize(name, value, *standardize)
            first = value
            name, value = graph.emit(model, "", name, value)
            # the output axes that follow the batch: those that change with a doubled batch
            doubled = _call(model, Tensor(np.concatenate([first.data] * 2, axis=batch_axis)))
    finally:
        for m, mode in was_training:
            m.training = mode
    names = name if isinstance(name, tuple) else (name,)
    values = value if isinstance(value, tuple) else (value,)
    twice = _flat(doubled)
    out_names = [output_name, *_EXTRA_OUTPUTS.get(type(model), ())][: len(names)]
    elem = _ONNX_TYPES[dtype]
    outputs = []
    for name, want, v, v2 in zip(names, out_names, values, twice):
        if name == input_name:  # nothing but Identity / Dropout layers
            graph.nodes.append(helper.make_node("Identity", [name], [want], name="/output"))
        else:  # the node that computes the result writes the graph's output
            node = next(n for n in graph.nodes if name in n.output)
            node.output[list(node.output).index(name)] = want
        dims = ["batch" if a != b else a for a, b in zip(v.shape, v2.shape)]
        outputs.append(helper.make_tensor_value_info(want, elem, dims))
    in_dims = [d if i != batch_axis else "batch" for i, d in enumerate(x.shape)]
    inputs = [helper.make_tensor_value_info(input_name, elem, in_dims)]
    g = helper.make_graph(graph.nodes, "chainrule", inputs, outputs, graph.initializers)
    opset = [helper.make_opsetid("", opset_version)]
    proto = helper.make_model(
        g,
        opset_imports=opset,
        producer_name="chainrule",
        ir_version=helper.find_min_ir_version_for(opset),
    )
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        atomic_write_bytes(path, proto.SerializeToString())
    return proto


_EXTRA_OUTPUTS: dict[type, tuple[str, ...]] = {
    RNN: ("h_n",), GRU: ("h_n",), LSTM: ("h_n", "c_n"), MultiheadAttention: ("attn_weights",),
}  # fmt: skip
"""The names of a layer's outputs after the first, when the layer is the whole model."""


def _batch_axis(model: Module) -> int:
    """Where the batch sits in the model's input: axis 1 for sequence layers without
    ``batch_first`` (the first layer's, for a Sequential), else axis 0."""
    while type(model) in (Sequential, TransformerEncoder):
        children = list(model.layers if type(model) is TransformerEncoder else model)
        if not children:
            return 0
        model = children[0]
    if isinstance(model, TransformerEncoderLayer):
        model = model.self_attn
    if isinstance(model, (RNNBase, MultiheadAttention, PositionalEncoding)):
        return 0 if model.batch_first else 1
    return 0


_ONNX_GATES = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}
"""Where ONNX's gate blocks come from in PyTorch's: LSTM i, o, f, c from i, f, g, o; GRU
z, r, h from r, z, n."""


def _gates(w: Any, order: Sequence[int]) -> np.ndarray:
    """The gate blocks of a stacked (G·H, ...) weight or (G·H,) bias in ``order``."""
    w = np.asarray(w)
    blocks = w.reshape(len(order) if len(order) > 1 else 1, -1, *w.shape[1:])
    return blocks[list(order)].reshape(w.shape)


def _call(model: Module, x: Tensor) -> Any:
    """``model(x)``; self-attention ``model(x, x, x)`` for a MultiheadAttention."""
    return model(x, x, x) if type(model) is MultiheadAttention else model(x)


def _flat(value: Any) -> tuple[Tensor, ...]:
    """A layer's result as a flat tuple of tensors (an LSTM's (out, (h, c)) -> (out, h, c))."""
    if isinstance(value, Tensor):
        return (value,)
    return tuple(t for v in value if v is not None for t in _flat(v))


class _Graph:
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


# ---------------------------------------------------------------------------- spatial layers
_CONV = (Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d)
_POOL = (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d)
_ADAPTIVE = (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d)
_SPATIAL = (*_CONV, *_POOL, *_ADAPTIVE, InstanceNorm1d, InstanceNorm2d, GroupNorm, Unflatten,
            Upsample)  # fmt: skip
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _ints(v: Any, nd: int) -> list[int]:
    return [int(v)] * nd if isinstance(v, (int, np.integer)) else [int(i) for i in v]


def _spatial(g: _Graph, m: Any, kind: type, prefix: str, where: str, x: str, value: Tensor) -> str:
    """The ONNX nodes of a convolution, pooling, normalisation or resampling layer."""
    nd = value.ndim - 2
    if kind in _CONV:
        w = g.const(prefix + "weight", m.weight.data)
        inputs = [x, w] + ([] if m.bias is None else [g.const(prefix + "bias", m.bias.data)])
        attrs: dict[str, Any] = dict(kernel_shape=list(m.kernel_size), strides=list(m.stride),
                                     dilations=list(m.dilation), group=int(m.groups))  # fmt: skip
        if kind in (ConvTranspose1d, ConvTranspose2d):
            p = list(m.padding)
            return g.node("ConvTranspose", inputs, where, pads=p + p,
                          output_padding=list(m.output_padding), **attrs)  # fmt: skip
        if isinstance(m.padding, str):
            total = [0] * nd if m.padding == "valid" else [
                d * (k - 1) for k, d in zip(m.kernel_size, m.dilation)]  # fmt: skip
            lo, hi = [t // 2 for t in total], [t - t // 2 for t in total]
        else:
            lo = hi = list(m.padding)
        if m.padding_mode != "zeros":
            if m.padding_mode == "circular" and g.opset < 19:
                raise ExportError(f"cannot export {where[1:]!r}: circular padding needs opset 19")
            pads = g.const(prefix + "pads", [0, 0, *lo, 0, 0, *hi], np.int64)
            inputs[0] = g.node("Pad", [x, pads], where, mode=_PAD_MODES[m.padding_mode])
            lo = hi = [0] * nd
        return g.node("Conv", inputs, where, pads=lo + hi, **attrs)
    if kind in _POOL:
        k = _ints(m.kernel_size, nd)
        st = _ints(m.stride, nd)
        p = _ints(m.padding, nd)
        attrs = dict(kernel_shape=k, strides=st, pads=p + p, ceil_mode=int(m.ceil_mode))
        if kind in (MaxPool1d, MaxPool2d):
            if m.return_indices:
                raise ExportError(f"cannot export {where[1:]!r}: return_indices=True")
            return g.node("MaxPool", [x], where, dilations=_ints(m.dilation, nd), **attrs)
        if getattr(m, "divisor_override", None):
            raise ExportError(f"cannot export {where[1:]!r}: divisor_override has no ONNX form")
        return g.node("AveragePool", [x], where, count_include_pad=int(m.count_include_pad),
                      **attrs)  # fmt: skip
    if kind in _ADAPTIVE:
        is_max = kind in (AdaptiveMaxPool1d, AdaptiveMaxPool2d)
        size = _ints(m.output_size, nd) if m.output_size is not None else list(value.shape[2:])
        size = [n if s is None else s for s, n in zip(size, value.shape[2:])]
        if all(s == 1 for s in size):
            return g.node("GlobalMaxPool" if is_max else "GlobalAveragePool", [x], where)
        if any(n % s for n, s in zip(value.shape[2:], size)):
            raise ExportError(f"cannot export {where[1:]!r}: output size {size} does not tile "
                              f"the input {tuple(value.shape[2:])}")  # fmt: skip
        k = [n // s for n, s in zip(value.shape[2:], size)]
        return g.node("MaxPool" if is_max else "AveragePool", [x], where, kernel_shape=k,
                      strides=k)  # fmt: skip
    if kind in (InstanceNorm1d, InstanceNorm2d):
        if m.track_running_stats:
            raise ExportError(f"cannot export {where[1:]!r}: track_running_stats=True")
        c = m.num_features
        scale = m.weight.data if m.weight is not None else np.ones(c)
        bias = m.bias.data if m.bias is not None else np.zeros(c)
        return g.node("InstanceNormalization", [x, g.const(prefix + "weight", scale),
                      g.const(prefix + "bias", bias)], where, epsilon=float(m.eps))  # fmt: skip
    if kind is GroupNorm:
        grouped = g.node("Reshape", [x, g.const(prefix + "groups", [0, m.num_groups, -1],
                                                np.int64)], where)  # fmt: skip
        ones = g.const(prefix + "ones", np.ones(m.num_groups))
        zeros = g.const(prefix + "zeros", np.zeros(m.num_groups))
        normed = g.node("InstanceNormalization", [grouped, ones, zeros], where,
                        epsilon=float(m.eps))  # fmt: skip
        shape = g.node("Shape", [x], where)
        y = g.node("Reshape", [normed, shape], where)
        if m.weight is not None:
            bshape = (m.num_channels, *(1,) * nd)
            y = g.node("Mul", [y, g.const(prefix + "weight", m.weight.data.reshape(bshape))], where)
            y = g.node("Add", [y, g.const(prefix + "bias", m.bias.data.reshape(bshape))], where)
        return y
    if kind is Unflatten:
        d = m.dim % value.ndim
        shape = [0] * d + list(m.unflattened_size) + [0] * (value.ndim - d - 1)
        return g.node("Reshape", [x, g.const(prefix + "shape", shape, np.int64)], where)
    # Upsample: Resize to the sizes chainrule gives, the batch and channel axes kept
    out = m(value)
    lead = g.node("Slice", [g.node("Shape", [x], where), g.const(f"{where[1:]}.start", [0],
                  np.int64), g.const(f"{where[1:]}.stop", [2], np.int64)], where)  # fmt: skip
    sizes = g.node("Concat", [lead, g.const(f"{where[1:]}.sizes", list(out.shape[2:]), np.int64)],
                   where, axis=0)  # fmt: skip
    if m.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")  # fmt: skip
        if m.scale_factor is not None and not m.recompute_scale_factor:
            scales = [1.0, 1.0, *(_floats(m.scale_factor, nd))]
            return g.node("Resize", [x, "", g.const(f"{where[1:]}.scales", scales, np.float32)],
                          where, **attrs)  # fmt: skip
    else:
        if m.scale_factor is not None and not m.recompute_scale_factor and not m.align_corners:
            raise ExportError(f"cannot export {where[1:]!r}: a linear Upsample by scale_factor "
                              "without align_corners; give size")  # fmt: skip
        ctm = "align_corners" if m.align_corners else "pytorch_half_pixel"
        attrs = dict(mode="linear", coordinate_transformation_mode=ctm)
    return g.node("Resize", [x, "", "", sizes], where, **attrs)


def _floats(v: Any, nd: int) -> list[float]:
    return [float(v)] * nd if isinstance(v, (int, float)) else [float(i) for i in v]
