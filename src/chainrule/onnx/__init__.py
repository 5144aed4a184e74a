"""Floor 6: export a chainrule model to ONNX, ``cr.onnx.export(model, example_input, path)``.

The graph is built with the ``onnx`` package's helpers, one ONNX node (or a few) per layer,
walking the model the way its ``forward`` runs: ``Sequential`` in order, ``Residual`` as
``x + block(x)`` (:mod:`chainrule.onnx.graph`; the spatial layers in
:mod:`chainrule.onnx.spatial`, the sequence layers in :mod:`chainrule.onnx.sequence`, each
activation's nodes in its record of :mod:`chainrule.nn.activations`). Layers that have an
export:

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

import os
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from chainrule._atomic import atomic_write_bytes
from chainrule.autograd import no_grad
from chainrule.nn import (
    GRU,
    LSTM,
    RNN,
    Module,
    MultiheadAttention,
    PositionalEncoding,
    Sequential,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from chainrule.nn.recurrent import RNNBase
from chainrule.onnx.graph import DEFAULT_OPSET, SUPPORTED_LAYERS, _call, _flat, _Graph
from chainrule.tensor import Tensor

__all__ = ["DEFAULT_OPSET", "SUPPORTED_LAYERS", "export"]

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
